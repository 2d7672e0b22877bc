"""Not OpenStack: the lab's fault injection, for tests of what verify reports (admin only).

PUT /lab/faults/loadbalancers/{id} {"provisioning_status": "ERROR"} puts a load balancer where
Octavia leaves one whose amphora died with no failover: ERROR/ERROR, its amphora stopped.
PUT /lab/faults/types/{id}/extra_specs {"key": "value", ...} sets extra specs of a type even
while volumes use it (Cinder refuses that through its API): a type created with a mistyped spec,
as the article warns (`<is> true` is not multi-attach).
PUT /lab/faults/delays {"volume_delete": 5.0, ...} changes the profile's delays (seconds) from now
on: a Cinder that is slow to delete volumes, as on a busy Devstack.
"""
from __future__ import annotations

from lab.openstack.core.dispatch import Route
from lab.openstack.core.errors import cinder_error, octavia_error

CINDER_ROUTES = [
    Route("PUT", r"/lab/faults/delays", "set_delays"),
    Route("PUT", r"/lab/faults/types/([^/]+)/extra_specs", "set_type_specs"),
]
OCTAVIA_ROUTES = [Route("PUT", r"/lab/faults/loadbalancers/([^/]+)", "break_load_balancer")]


class LabFaults:
    def __init__(self, backends):
        self.backends = backends

    def break_load_balancer(self, req, lb_id):
        if not req.is_admin:
            raise octavia_error(403, "Policy does not allow this request to be performed.")
        status = (req.body or {}).get("provisioning_status")
        if status != "ERROR":
            raise octavia_error(400, f"only provisioning_status ERROR can be injected, not {status!r}")
        octavia = self.backends.load_balancer
        with octavia.lock:
            lb = octavia.load_balancers.get(lb_id)
            if lb is None:
                raise octavia_error(404, f"Load Balancer {lb_id} not found.")
            octavia.break_load_balancer(lb)
        return 200, {"loadbalancer": {"id": lb_id, "provisioning_status": "ERROR"}}

    def set_type_specs(self, req, type_id):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow volume_extension:type_update to be performed.")
        specs = req.body if isinstance(req.body, dict) else {}
        cinder = self.backends.block_storage
        with cinder.lock:
            volume_type = cinder.types.by_id.get(type_id)
            if volume_type is None:
                raise cinder_error(404, f"Volume type {type_id} could not be found.")
            volume_type["extra_specs"].update({key: str(value) for key, value in specs.items()})
            return 200, {"extra_specs": dict(volume_type["extra_specs"])}

    def set_delays(self, req):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow this request to be performed.")
        delays = self.backends.delays
        changes = req.body if isinstance(req.body, dict) else {}
        unknown = sorted(set(changes) - set(delays))
        if unknown:
            raise cinder_error(400, f"unknown delays {unknown}; known: {sorted(delays)}")
        with self.backends.lock:
            delays.update({key: float(value) for key, value in changes.items()})
        return 200, {"delays": dict(delays)}
