"""Octavia v2 handlers."""
from __future__ import annotations

import copy

from lab.openstack.core.errors import octavia_error
from lab.openstack.core.ids import stable_uuid
from lab.openstack.core.paging import filter_by_query, paginate
from lab.openstack.core.request import json_body
from lab.openstack.load_balancer import fields

VERSION = {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-08T00:00:00Z"}


def public(obj: dict) -> dict:
    """The object as the API shows it: without the double's "_" links."""
    return {key: copy.deepcopy(value) for key, value in obj.items() if not key.startswith("_")}


class LoadBalancerResponses:
    def __init__(self, backends, base_url: str):
        self.octavia = backends.load_balancer
        self.base = base_url

    # ---- views
    @staticmethod
    def lb_view(lb: dict) -> dict:
        return public(lb) | {"listeners": [{"id": child_id} for child_id in lb["_listeners"]],
                             "pools": [{"id": child_id} for child_id in lb["_pools"]]}

    @staticmethod
    def listener_view(listener: dict) -> dict:
        return public(listener) | {"loadbalancers": [{"id": listener["_lb"]}]}

    @staticmethod
    def pool_view(pool: dict) -> dict:
        return public(pool) | {"members": [{"id": child_id} for child_id in pool["_members"]],
                               "listeners": [{"id": child_id} for child_id in pool["_listeners"]],
                               "loadbalancers": [{"id": pool["_lb"]}]}

    @staticmethod
    def member_view(member: dict) -> dict:
        return public(member)

    @staticmethod
    def monitor_view(monitor: dict) -> dict:
        return public(monitor) | {"pools": [{"id": monitor["_pool"]}]}

    def full_lb_view(self, lb: dict) -> dict:
        """A create's answer (LoadBalancerFullResponse): listeners and pools in full, each pool
        with its members and health monitor."""
        octavia = self.octavia
        pools = []
        for pool_id in lb["_pools"]:
            pool = octavia.pools[pool_id]
            monitor = octavia.monitors.get(pool.get("healthmonitor_id") or "")
            pools.append(self.pool_view(pool) | {
                "members": [self.member_view(octavia.members[member_id]) for member_id in pool["_members"]],
                "healthmonitor": self.monitor_view(monitor) if monitor else None})
        return self.lb_view(lb) | {"listeners": [self.listener_view(octavia.listeners[listener_id])
                                                 for listener_id in lb["_listeners"]],
                                   "pools": pools}

    def _listing(self, req, collection: str, items: list[dict], view):
        octavia = self.octavia
        items = [item for item in items if octavia.visible(item, req.project_id, req.is_admin)]
        shown = filter_by_query([public(item) | {"_obj": item} for item in items], req)
        page, more = paginate(shown, req, octavia_error)
        body = {collection: [view(item["_obj"]) for item in page], f"{collection}_links": []}
        if more:
            body[f"{collection}_links"] = [{"rel": "next", "href": f"{self.base}/load-balancer/v2/lbaas/"
                                            f"{collection}?limit={req.query_value('limit')}&marker={page[-1]['id']}"}]
        return 200, body

    @staticmethod
    def _of_lb(req, items: list[dict]) -> list[dict]:
        lb_id = req.query_value("loadbalancer_id")
        return [item for item in items if item["_lb"] == lb_id] if lb_id else items

    def _caller(self, req) -> tuple:
        return req.project_id, req.is_admin

    # ---- discovery
    def root(self, req):
        return 200, {"versions": [
            {"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z",
             "links": [{"href": f"{self.base}/load-balancer/v2.0", "rel": "self"}]},
            VERSION | {"links": [{"href": f"{self.base}/load-balancer/v2", "rel": "self"}]}]}

    def v2(self, req):
        return 200, {"version": VERSION | {"links": [{"href": f"{self.base}/load-balancer/v2", "rel": "self"}]}}

    # ---- load balancers
    def list_lbs(self, req):
        with self.octavia.lock:
            return self._listing(req, "loadbalancers", list(self.octavia.load_balancers.values()), self.lb_view)

    def create_lb(self, req):
        body = json_body(req, "loadbalancer", octavia_error)
        with self.octavia.lock:
            lb = self.octavia.create_load_balancer(body, req.project_id)
            return 201, {"loadbalancer": self.full_lb_view(lb)}

    def show_lb(self, req, lb_id):
        with self.octavia.lock:
            return 200, {"loadbalancer": self.lb_view(self.octavia.load_balancer(lb_id, *self._caller(req)))}

    def update_lb(self, req, lb_id):
        body = json_body(req, "loadbalancer", octavia_error)
        with self.octavia.lock:
            lb = self.octavia.load_balancer(lb_id, *self._caller(req))
            self.octavia.update_load_balancer(lb, body)
            return 200, {"loadbalancer": self.lb_view(lb)}

    def delete_lb(self, req, lb_id):
        with self.octavia.lock:
            self.octavia.delete_load_balancer(self.octavia.load_balancer(lb_id, *self._caller(req)),
                                              cascade=req.flag("cascade"))
            return 204, None

    def lb_status(self, req, lb_id):
        octavia = self.octavia
        with octavia.lock:
            lb = octavia.load_balancer(lb_id, *self._caller(req))
            listeners = []
            for listener_id in lb["_listeners"]:
                listener = octavia.listeners[listener_id]
                pools = []
                pool = octavia.pools.get(listener.get("default_pool_id") or "")
                if pool is not None:
                    entry = {"id": pool["id"], "name": pool["name"],
                             "provisioning_status": pool["provisioning_status"],
                             "operating_status": pool["operating_status"],
                             "members": [{key: member[key] for key in ("id", "name", "address", "protocol_port",
                                                                       "provisioning_status", "operating_status")}
                                         for member in (octavia.members[member_id] for member_id in pool["_members"])]}
                    monitor = octavia.monitors.get(pool.get("healthmonitor_id") or "")
                    if monitor:
                        entry["health_monitor"] = {key: monitor[key] for key in (
                            "id", "name", "type", "provisioning_status", "operating_status")}
                    pools.append(entry)
                listeners.append({"id": listener_id, "name": listener["name"],
                                  "provisioning_status": listener["provisioning_status"],
                                  "operating_status": listener["operating_status"], "pools": pools})
            return 200, {"statuses": {"loadbalancer": {
                "id": lb["id"], "name": lb["name"], "provisioning_status": lb["provisioning_status"],
                "operating_status": lb["operating_status"], "listeners": listeners}}}

    def lb_stats(self, req, lb_id):
        with self.octavia.lock:
            self.octavia.load_balancer(lb_id, *self._caller(req))
        return 200, {"stats": {"bytes_in": 0, "bytes_out": 0, "active_connections": 0,
                               "total_connections": 0, "request_errors": 0}}

    # ---- listeners
    def list_listeners(self, req):
        with self.octavia.lock:
            items = self._of_lb(req, list(self.octavia.listeners.values()))
            return self._listing(req, "listeners", items, self.listener_view)

    def create_listener(self, req):
        body = json_body(req, "listener", octavia_error)
        octavia = self.octavia
        with octavia.lock:
            lb = octavia.load_balancer(body.get("loadbalancer_id") or "", *self._caller(req))
            pool = octavia.pool(body["default_pool_id"], *self._caller(req)) if body.get("default_pool_id") else None
            return 201, {"listener": self.listener_view(octavia.create_listener(lb, body, req.project_id, pool))}

    def show_listener(self, req, listener_id):
        with self.octavia.lock:
            return 200, {"listener": self.listener_view(self.octavia.listener(listener_id, *self._caller(req)))}

    def update_listener(self, req, listener_id):
        body = json_body(req, "listener", octavia_error)
        octavia = self.octavia
        with octavia.lock:
            listener = octavia.listener(listener_id, *self._caller(req))
            octavia.check_mutable(octavia.parent_of(listener))
            if "default_pool_id" in body:
                new_pool = octavia.pool(body["default_pool_id"], *self._caller(req)) \
                    if body["default_pool_id"] else None
                old_pool = octavia.pools.get(listener.get("default_pool_id") or "")
                if old_pool:
                    old_pool["_listeners"] = [other_id for other_id in old_pool["_listeners"]
                                              if other_id != listener_id]
                listener["default_pool_id"] = new_pool["id"] if new_pool else None
                if new_pool:
                    new_pool["_listeners"].append(listener_id)
            octavia.update_child(listener, body, fields.LISTENER_UPDATABLE)
            return 200, {"listener": self.listener_view(listener)}

    def delete_listener(self, req, listener_id):
        with self.octavia.lock:
            self.octavia.delete_child(self.octavia.listener(listener_id, *self._caller(req)))
            return 204, None

    # ---- pools
    def list_pools(self, req):
        with self.octavia.lock:
            return self._listing(req, "pools", self._of_lb(req, list(self.octavia.pools.values())), self.pool_view)

    def create_pool(self, req):
        body = json_body(req, "pool", octavia_error)
        octavia = self.octavia
        with octavia.lock:
            listener = None
            if body.get("listener_id"):
                listener = octavia.listener(body["listener_id"], *self._caller(req))
                lb = octavia.parent_of(listener)
            elif body.get("loadbalancer_id"):
                lb = octavia.load_balancer(body["loadbalancer_id"], *self._caller(req))
            else:
                raise octavia_error(400, "Validation failure: Either listener_id or loadbalancer_id must be "
                                         "specified.")
            return 201, {"pool": self.pool_view(octavia.create_pool(lb, listener, body, req.project_id))}

    def show_pool(self, req, pool_id):
        with self.octavia.lock:
            return 200, {"pool": self.pool_view(self.octavia.pool(pool_id, *self._caller(req)))}

    def update_pool(self, req, pool_id):
        body = json_body(req, "pool", octavia_error)
        with self.octavia.lock:
            pool = self.octavia.pool(pool_id, *self._caller(req))
            self.octavia.update_child(pool, body, fields.POOL_UPDATABLE)
            return 200, {"pool": self.pool_view(pool)}

    def delete_pool(self, req, pool_id):
        with self.octavia.lock:
            self.octavia.delete_child(self.octavia.pool(pool_id, *self._caller(req)))
            return 204, None

    # ---- members
    def list_members(self, req, pool_id):
        octavia = self.octavia
        with octavia.lock:
            pool = octavia.pool(pool_id, *self._caller(req))
            return self._listing(req, "members", [octavia.members[member_id] for member_id in pool["_members"]],
                                 self.member_view)

    def create_member(self, req, pool_id):
        body = json_body(req, "member", octavia_error)
        with self.octavia.lock:
            pool = self.octavia.pool(pool_id, *self._caller(req))
            return 201, {"member": self.member_view(self.octavia.create_member(pool, body, req.project_id))}

    def replace_members(self, req, pool_id):
        wanted = json_body(req, None, octavia_error).get("members")
        if not isinstance(wanted, list):
            raise octavia_error(400, "Invalid input for field/attribute members.")
        with self.octavia.lock:
            pool = self.octavia.pool(pool_id, *self._caller(req))
            keys = self.octavia.replace_members(pool, wanted, req.project_id)
            print(f"octavia: pool {pool_id} members now {sorted(keys)}", flush=True)
            return 202, None

    def show_member(self, req, pool_id, member_id):
        with self.octavia.lock:
            pool = self.octavia.pool(pool_id, *self._caller(req))
            return 200, {"member": self.member_view(self.octavia.member_of(pool, member_id))}

    def update_member(self, req, pool_id, member_id):
        body = json_body(req, "member", octavia_error)
        with self.octavia.lock:
            member = self.octavia.member_of(self.octavia.pool(pool_id, *self._caller(req)), member_id)
            self.octavia.update_child(member, body, fields.MEMBER_UPDATABLE)
            return 200, {"member": self.member_view(member)}

    def delete_member(self, req, pool_id, member_id):
        with self.octavia.lock:
            member = self.octavia.member_of(self.octavia.pool(pool_id, *self._caller(req)), member_id)
            self.octavia.delete_child(member)
            return 204, None

    # ---- health monitors
    def list_monitors(self, req):
        with self.octavia.lock:
            return self._listing(req, "healthmonitors", list(self.octavia.monitors.values()), self.monitor_view)

    def create_monitor(self, req):
        body = json_body(req, "healthmonitor", octavia_error)
        with self.octavia.lock:
            pool = self.octavia.pool(body.get("pool_id") or "", *self._caller(req))
            return 201, {"healthmonitor": self.monitor_view(self.octavia.create_monitor(pool, body, req.project_id))}

    def show_monitor(self, req, monitor_id):
        with self.octavia.lock:
            return 200, {"healthmonitor": self.monitor_view(self.octavia.monitor(monitor_id, *self._caller(req)))}

    def update_monitor(self, req, monitor_id):
        body = json_body(req, "healthmonitor", octavia_error)
        with self.octavia.lock:
            monitor = self.octavia.monitor(monitor_id, *self._caller(req))
            self.octavia.update_child(monitor, body, fields.MONITOR_UPDATABLE)
            return 200, {"healthmonitor": self.monitor_view(monitor)}

    def delete_monitor(self, req, monitor_id):
        with self.octavia.lock:
            self.octavia.delete_child(self.octavia.monitor(monitor_id, *self._caller(req)))
            return 204, None

    # ---- providers, amphorae
    def providers(self, req):
        return 200, {"providers": [
            {"name": "amphora", "description": "The Octavia Amphora driver."},
            {"name": "octavia", "description": "Deprecated alias of the Octavia Amphora driver."}]}

    def amphorae(self, req):
        if not req.is_admin:
            raise octavia_error(403, "Policy does not allow this request to be performed.")
        with self.octavia.lock:
            items = [{"id": stable_uuid("amphora:" + lb["id"]), "loadbalancer_id": lb["id"], "compute_id": None,
                      "status": "BOOTING" if lb["provisioning_status"] == "PENDING_CREATE" else "ALLOCATED",
                      "role": "STANDALONE", "lb_network_ip": None, "vrrp_ip": None, "ha_ip": lb["vip_address"],
                      "vrrp_port_id": None, "ha_port_id": lb["vip_port_id"], "created_at": lb["created_at"]}
                     for lb in self.octavia.load_balancers.values()]
        lb_id = req.query_value("loadbalancer_id")
        return 200, {"amphorae": [amphora for amphora in items if not lb_id or amphora["loadbalancer_id"] == lb_id],
                     "amphorae_links": []}
