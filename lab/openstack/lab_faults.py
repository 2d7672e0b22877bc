"""Not OpenStack: the lab's fault injection, for tests of what verify reports (admin only).

PUT /lab/faults/loadbalancers/{id} {"provisioning_status": "ERROR"} puts a load balancer where
Octavia leaves one whose amphora died with no failover: ERROR/ERROR, its amphora stopped.
PUT /lab/faults/types/{id}/extra_specs {"key": "value", ...} sets extra specs of a type even
while volumes use it (Cinder refuses that through its API): a type created with a mistyped spec,
as the article warns (`<is> true` is not multi-attach).
PUT /lab/faults/delays {"volume_delete": 5.0, ...} changes the profile's delays (seconds) from now
on: a Cinder that is slow to delete volumes, as on a busy Devstack.
PUT /lab/faults/volume_create {"ends_in": "error", "user_message": "..."} makes every volume created
from now on end in `error` instead of `available`, with that user message (default: the
scheduler's "no valid backend" one, `openstack volume message list`); {"ends_in": "available"} heals.
PUT /lab/faults/volume_delete {"ends_in": "error_deleting"} makes every delete from now on end in
`error_deleting` (the volume stays); {"ends_in": "deleted"} heals.
PUT /lab/faults/cinder_errors {"count": N} makes the next N Cinder API requests answer 503 (a
cinder-api restarting); it answers how many of the previous burst were still to come.
"""
from __future__ import annotations

from lab.openstack.block_storage.volumes import NO_VALID_BACKEND_MESSAGE
from lab.openstack.core.dispatch import Route
from lab.openstack.core.errors import cinder_error, octavia_error

CINDER_ROUTES = [
    Route("PUT", r"/lab/faults/delays", "set_delays"),
    Route("PUT", r"/lab/faults/types/([^/]+)/extra_specs", "set_type_specs"),
    Route("PUT", r"/lab/faults/volume_create", "set_volume_create_outcome"),
    Route("PUT", r"/lab/faults/volume_delete", "set_volume_delete_outcome"),
    Route("PUT", r"/lab/faults/cinder_errors", "set_cinder_errors"),
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

    def set_volume_create_outcome(self, req):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow this request to be performed.")
        body = req.body if isinstance(req.body, dict) else {}
        outcome = body.get("ends_in")
        if outcome not in ("error", "available"):
            raise cinder_error(400, f"ends_in must be 'error' or 'available', not {outcome!r}")
        cinder = self.backends.block_storage
        with cinder.lock:
            cinder.create_fault = ({"user_message": str(body.get("user_message") or NO_VALID_BACKEND_MESSAGE)}
                                   if outcome == "error" else None)
        return 200, {"volume_create": {"ends_in": outcome}}

    def set_volume_delete_outcome(self, req):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow this request to be performed.")
        outcome = (req.body if isinstance(req.body, dict) else {}).get("ends_in")
        if outcome not in ("error_deleting", "deleted"):
            raise cinder_error(400, f"ends_in must be 'error_deleting' or 'deleted', not {outcome!r}")
        cinder = self.backends.block_storage
        with cinder.lock:
            cinder.delete_fails = outcome == "error_deleting"
        return 200, {"volume_delete": {"ends_in": outcome}}

    def set_cinder_errors(self, req):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow this request to be performed.")
        count = (req.body if isinstance(req.body, dict) else {}).get("count")
        if not isinstance(count, int) or count < 0:
            raise cinder_error(400, f"count must be an integer >= 0, not {count!r}")
        cinder = self.backends.block_storage
        with cinder.lock:
            still_to_come, cinder.failing_requests = cinder.failing_requests, count
        return 200, {"cinder_errors": {"count": count, "previous_still_to_come": still_to_come}}
