"""Octavia's state and its provisioning lifecycle.

Every change to a child object (listener, pool, member, health monitor) follows ONE lifecycle,
written once in `begin_change`/`_settle`: the load balancer must be ACTIVE (else 409 "immutable"),
goes PENDING_UPDATE, the child PENDING_CREATE/UPDATE/DELETE; after the profile's `lb_update` the
load balancer and its children are ACTIVE (deleted children gone). A new load balancer is
PENDING_CREATE for `amphora_boot` (with its whole tree when it is created fully populated, see
graph.py), then settles the same way.
Objects are dicts in Octavia's API shape; keys starting with "_" are the double's links.
"""
from __future__ import annotations

import threading

from lab.openstack.core.errors import octavia_error
from lab.openstack.core.ids import octavia_time
from lab.openstack.core.ticker import Ticker
from lab.openstack.load_balancer import fields
from lab.openstack.load_balancer.graph import PlannedListener, new_object, plan_tree
from lab.openstack.network.models import NetworkBackend

PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def stamp(obj: dict) -> None:
    obj["updated_at"] = octavia_time()


class LoadBalancerBackend:
    def __init__(self, network: NetworkBackend, lock: threading.RLock, ticker: Ticker,
                 delays: dict[str, float], amphorae_dirty: threading.Event):
        self.network, self.lock, self.ticker, self.delays = network, lock, ticker, delays
        self.amphorae_dirty = amphorae_dirty
        self.load_balancers: dict[str, dict] = {}
        self.listeners: dict[str, dict] = {}
        self.pools: dict[str, dict] = {}
        self.members: dict[str, dict] = {}
        self.monitors: dict[str, dict] = {}

    # ---- lookups
    @staticmethod
    def visible(obj: dict, project_id: str | None, is_admin: bool) -> bool:
        return is_admin or obj["project_id"] == project_id

    @staticmethod
    def _found(store: dict[str, dict], obj_id: str, label: str, project_id, is_admin) -> dict:
        obj = store.get(obj_id)
        if obj is None or not LoadBalancerBackend.visible(obj, project_id, is_admin):
            raise octavia_error(404, f"{label} {obj_id} not found.")
        return obj

    def load_balancer(self, lb_id, project_id, is_admin) -> dict:
        return self._found(self.load_balancers, lb_id, "Load Balancer", project_id, is_admin)

    def listener(self, listener_id, project_id, is_admin) -> dict:
        return self._found(self.listeners, listener_id, "Listener", project_id, is_admin)

    def pool(self, pool_id, project_id, is_admin) -> dict:
        return self._found(self.pools, pool_id, "Pool", project_id, is_admin)

    def monitor(self, monitor_id, project_id, is_admin) -> dict:
        return self._found(self.monitors, monitor_id, "Health Monitor", project_id, is_admin)

    def member_of(self, pool: dict, member_id: str) -> dict:
        if member_id not in pool["_members"]:
            raise octavia_error(404, f"Member {member_id} not found.")
        return self.members[member_id]

    def parent_of(self, child: dict) -> dict:
        """The load balancer a listener, pool, member or monitor belongs to."""
        if "_lb" in child:
            return self.load_balancers[child["_lb"]]
        return self.load_balancers[self.pools[child["_pool"]]["_lb"]]

    # ---- the lifecycle
    @staticmethod
    def check_mutable(lb: dict) -> None:
        if lb["provisioning_status"] != "ACTIVE":
            raise octavia_error(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.")

    def begin_change(self, lb: dict, child: dict | None = None, child_status: str | None = None) -> None:
        """A change of `lb` (or of its `child`, now `child_status`) starts; ACTIVE after lb_update."""
        if child is not None and child_status is not None:
            child["provisioning_status"] = child_status
            if child_status == "PENDING_UPDATE":
                stamp(child)
        lb["provisioning_status"] = "PENDING_UPDATE"
        stamp(lb)
        self.ticker.later(self.delays["lb_update"], lambda: self._settle(lb["id"]))

    def _settle(self, lb_id: str) -> None:
        """The amphora applied the change: the LB and its children ACTIVE, deleted children gone."""
        lb = self.load_balancers.get(lb_id)
        if lb is None or lb["provisioning_status"] != "PENDING_UPDATE":
            return
        for listener_id in list(lb["_listeners"]):
            self._settle_child(self.listeners[listener_id], self._remove_listener)
        for pool_id in list(lb["_pools"]):
            self._settle_child(self.pools[pool_id], self._remove_pool)
        for pool_id in list(lb["_pools"]):
            pool = self.pools[pool_id]
            monitored = bool(pool.get("healthmonitor_id"))
            for member_id in list(pool["_members"]):
                self._settle_child(self.members[member_id], self._remove_member,
                                   online="ONLINE" if monitored else "NO_MONITOR")
            monitor = self.monitors.get(pool.get("healthmonitor_id") or "")
            if monitor is not None:
                self._settle_child(monitor, self._remove_monitor, offline="ONLINE")
        lb["provisioning_status"], lb["operating_status"] = "ACTIVE", "ONLINE"
        stamp(lb)
        self.amphorae_dirty.set()
        print(f"octavia: load balancer {lb_id} ACTIVE", flush=True)

    @staticmethod
    def _settle_child(child: dict, remove, online: str = "ONLINE", offline: str = "OFFLINE") -> None:
        if child["provisioning_status"] == "PENDING_DELETE":
            remove(child["id"])
            return
        child["provisioning_status"] = "ACTIVE"
        child["operating_status"] = online if child["admin_state_up"] else offline

    # ---- removal (after PENDING_DELETE settles)
    def _remove_listener(self, listener_id: str) -> None:
        listener = self.listeners.pop(listener_id, None)
        if listener is None:
            return
        lb = self.load_balancers.get(listener["_lb"])
        if lb:
            lb["_listeners"].remove(listener_id)
        pool = self.pools.get(listener.get("default_pool_id") or "")
        if pool:
            pool["_listeners"] = [other_id for other_id in pool["_listeners"] if other_id != listener_id]

    def _remove_pool(self, pool_id: str) -> None:
        pool = self.pools.pop(pool_id, None)
        if pool is None:
            return
        lb = self.load_balancers.get(pool["_lb"])
        if lb:
            lb["_pools"].remove(pool_id)
        for listener in self.listeners.values():
            if listener.get("default_pool_id") == pool_id:
                listener["default_pool_id"] = None
        for member_id in pool["_members"]:
            self.members.pop(member_id, None)
        if pool.get("healthmonitor_id"):
            self.monitors.pop(pool["healthmonitor_id"], None)

    def _remove_member(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        pool = self.pools.get(member["_pool"]) if member else None
        if pool:
            pool["_members"].remove(member_id)

    def _remove_monitor(self, monitor_id: str) -> None:
        monitor = self.monitors.pop(monitor_id, None)
        pool = self.pools.get(monitor["_pool"]) if monitor else None
        if pool:
            pool["healthmonitor_id"] = None

    # ---- load balancers
    def _vip(self, body: dict, lb_id: str, project_id: str) -> dict:
        """The VIP port: the one given, or a new one on the subnet (or network) asked for."""
        neutron = self.network
        subnet_id, network_id = body.get("vip_subnet_id"), body.get("vip_network_id")
        if body.get("vip_port_id"):
            port = neutron.ports.get(body["vip_port_id"])
            if port is None:
                raise octavia_error(400, f"Validation failure: Port {body['vip_port_id']} not found.")
            return port
        if not subnet_id and not network_id:
            raise octavia_error(400, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, "
                                     "vip_subnet_id.")
        if subnet_id:
            if subnet_id not in neutron.subnets:
                raise octavia_error(400, f"Validation failure: Subnet {subnet_id} not found.")
            network_id = neutron.subnets[subnet_id]["network_id"]
        else:
            if network_id not in neutron.networks:
                raise octavia_error(400, f"Validation failure: Network {network_id} not found.")
            subnet_id = neutron.networks[network_id]["subnets"][0]
        address = neutron.allocate_ip(subnet_id, body.get("vip_address"))
        return neutron.new_port(network_id, subnet_id, address, f"octavia-lb-{lb_id}", "Octavia",
                                f"lb-{lb_id}", project_id)

    def create_load_balancer(self, body: dict, project_id: str) -> dict:
        """One call, optionally fully populated (`listeners` with `default_pool` -> `members`,
        `healthmonitor`; named top-level `pools`): the whole tree PENDING_CREATE, ACTIVE together
        after the amphora boot."""
        if body.get("provider") not in fields.PROVIDERS:
            raise octavia_error(400, f"Provider '{body['provider']}' is not enabled.")
        tree = plan_tree(body, project_id)  # validates everything before anything exists
        lb = new_object(body, project_id, {
            "vip_address": None, "vip_port_id": None, "vip_subnet_id": None, "vip_network_id": None,
            "vip_qos_policy_id": None, "provider": "amphora", "flavor_id": body.get("flavor_id"),
            "availability_zone": body.get("availability_zone"), "additional_vips": [], "vip_vnic_type": "normal",
            "vip_sg_ids": None, "_listeners": [], "_pools": []})
        port = self._vip(body, lb["id"], project_id)
        lb.update(vip_port_id=port["id"], vip_address=port["fixed_ips"][0]["ip_address"],
                  vip_subnet_id=port["fixed_ips"][0]["subnet_id"], vip_network_id=port["network_id"])
        self.load_balancers[lb["id"]] = lb
        self._add_tree(lb, *tree)
        print(f"octavia: load balancer {lb['id']} ({lb['name']}) PENDING_CREATE, VIP {lb['vip_address']}"
              f"{f', {len(tree[0])} listeners, {len(tree[1])} pools' if tree[0] or tree[1] else ''}", flush=True)
        self.ticker.later(self.delays["amphora_boot"], lambda: self._booted(lb["id"]))
        return lb

    def _booted(self, lb_id: str) -> None:
        lb = self.load_balancers.get(lb_id)
        if lb and lb["provisioning_status"] == "PENDING_CREATE":
            lb["provisioning_status"] = "PENDING_UPDATE"
            self._settle(lb_id)

    def _add_tree(self, lb: dict, listeners: list[PlannedListener], pools: list[dict]) -> None:
        by_name = {}
        for pool in pools:
            members, monitor = pool.pop("_members"), pool.pop("_monitor")
            self._add_pool(lb, pool, None)
            for member in members:
                self._add_member(pool, member)
            if monitor is not None:
                self._add_monitor(pool, monitor)
            by_name[pool["name"]] = pool
        for listener, pool_name in listeners:
            self._add_listener(lb, listener, by_name.get(pool_name) if pool_name else None)

    # ---- adding children (the caller starts the change)
    def _add_listener(self, lb: dict, listener: dict, pool: dict | None) -> None:
        listener["_lb"] = lb["id"]
        self.listeners[listener["id"]] = listener
        lb["_listeners"].append(listener["id"])
        if pool is not None:
            listener["default_pool_id"] = pool["id"]
            pool["_listeners"].append(listener["id"])

    def _add_pool(self, lb: dict, pool: dict, listener: dict | None) -> None:
        pool.update(_lb=lb["id"], _listeners=[], _members=[])
        self.pools[pool["id"]] = pool
        lb["_pools"].append(pool["id"])
        if listener is not None:
            listener["default_pool_id"] = pool["id"]
            pool["_listeners"].append(listener["id"])

    def _add_member(self, pool: dict, member: dict) -> None:
        member["_pool"] = pool["id"]
        self.members[member["id"]] = member
        pool["_members"].append(member["id"])

    def _add_monitor(self, pool: dict, monitor: dict) -> None:
        monitor["_pool"] = pool["id"]
        self.monitors[monitor["id"]] = monitor
        pool["healthmonitor_id"] = monitor["id"]

    def create_listener(self, lb: dict, body: dict, project_id: str, default_pool: dict | None) -> dict:
        own = fields.listener_fields(body)
        self.check_mutable(lb)
        for other in (self.listeners[listener_id] for listener_id in lb["_listeners"]):
            if other["protocol_port"] == own["protocol_port"] and \
                    (other["protocol"] == "UDP") == (own["protocol"] == "UDP"):
                raise octavia_error(409, f"Another Listener on this Load Balancer is already using protocol_port "
                                         f"{own['protocol_port']}")
        listener = new_object(body, project_id, own)
        self._add_listener(lb, listener, default_pool)
        self.begin_change(lb)
        print(f"octavia: listener {listener['id']} {own['protocol']}:{own['protocol_port']} on {lb['id']}",
              flush=True)
        return listener

    def create_pool(self, lb: dict, listener: dict | None, body: dict, project_id: str) -> dict:
        own = fields.pool_fields(body)
        self.check_mutable(lb)
        if listener is not None and listener.get("default_pool_id"):
            raise octavia_error(409, f"Listener {listener['id']} is already using default pool "
                                     f"{listener['default_pool_id']}.")
        pool = new_object(body, project_id, own)
        self._add_pool(lb, pool, listener)
        self.begin_change(lb)
        return pool

    def create_member(self, pool: dict, body: dict, project_id: str) -> dict:
        lb = self.parent_of(pool)
        member = new_object(body, project_id, fields.member_fields(body))
        self.check_mutable(lb)
        for other in (self.members[member_id] for member_id in pool["_members"]):
            if (other["address"], other["protocol_port"]) == (member["address"], member["protocol_port"]):
                raise octavia_error(409, f"Another member on this pool is already using ip address "
                                         f"{member['address']} on protocol_port {member['protocol_port']}")
        self._add_member(pool, member)
        self.begin_change(lb)
        return member

    def replace_members(self, pool: dict, wanted: list[dict], project_id: str) -> list[tuple[str, int]]:
        """PUT .../members: the pool's members become `wanted` (matched on address and port)."""
        lb = self.parent_of(pool)
        new = [new_object(member_body, project_id, fields.member_fields(member_body)) for member_body in wanted]
        keys = [(member["address"], member["protocol_port"]) for member in new]
        if len(set(keys)) != len(keys):
            raise octavia_error(400, "Validation failure: Duplicate members in the request.")
        self.check_mutable(lb)
        existing = {(self.members[member_id]["address"], self.members[member_id]["protocol_port"]): member_id
                    for member_id in pool["_members"]}
        for member, member_body in zip(new, wanted, strict=True):
            key = (member["address"], member["protocol_port"])
            if key in existing:
                old = self.members[existing.pop(key)]
                old.update({key: member_body[key] for key in fields.BATCH_MEMBER_UPDATABLE if key in member_body})
                old["provisioning_status"] = "PENDING_UPDATE"
            else:
                self._add_member(pool, member)
        for member_id in existing.values():
            self.members[member_id]["provisioning_status"] = "PENDING_DELETE"
        self.begin_change(lb)
        return keys

    def create_monitor(self, pool: dict, body: dict, project_id: str) -> dict:
        lb = self.parent_of(pool)
        own = fields.monitor_fields(body)
        self.check_mutable(lb)
        if pool.get("healthmonitor_id"):
            raise octavia_error(409, "This pool already has a health monitor")
        monitor = new_object(body, project_id, own)
        self._add_monitor(pool, monitor)
        self.begin_change(lb)
        return monitor

    def update_child(self, child: dict, body: dict, updatable: tuple[str, ...]) -> None:
        lb = self.parent_of(child)
        self.check_mutable(lb)
        child.update({key: body[key] for key in updatable if key in body})
        self.begin_change(lb, child, "PENDING_UPDATE")

    def delete_child(self, child: dict) -> None:
        lb = self.parent_of(child)
        self.check_mutable(lb)
        self.begin_change(lb, child, "PENDING_DELETE")

    def update_load_balancer(self, lb: dict, body: dict) -> None:
        self.check_mutable(lb)
        lb.update({key: body[key] for key in fields.LB_UPDATABLE if key in body})
        self.begin_change(lb)

    def delete_load_balancer(self, lb: dict, cascade: bool) -> None:
        if lb["provisioning_status"] in PENDING:
            raise octavia_error(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {lb['id']}")
        if (lb["_listeners"] or lb["_pools"]) and not cascade:
            raise octavia_error(400, f"Cannot delete Load Balancer {lb['id']} - it has children")
        lb["provisioning_status"] = "PENDING_DELETE"
        for child_id in lb["_listeners"]:
            self.listeners[child_id]["provisioning_status"] = "PENDING_DELETE"
        for child_id in lb["_pools"]:
            self.pools[child_id]["provisioning_status"] = "PENDING_DELETE"
        stamp(lb)
        self.amphorae_dirty.set()
        print(f"octavia: load balancer {lb['id']} PENDING_DELETE", flush=True)
        self.ticker.later(self.delays["lb_delete"], lambda: self._deleted(lb["id"]))

    def _deleted(self, lb_id: str) -> None:
        lb = self.load_balancers.get(lb_id)
        if lb is None:
            return
        for pool_id in list(lb["_pools"]):
            self._remove_pool(pool_id)
        for listener_id in list(lb["_listeners"]):
            self._remove_listener(listener_id)
        del self.load_balancers[lb_id]
        vip_port = self.network.ports.get(lb["vip_port_id"])
        if vip_port is not None and vip_port["device_owner"] == "Octavia":
            self.network.remove_port(lb["vip_port_id"])
        self.amphorae_dirty.set()
        print(f"octavia: load balancer {lb_id} deleted", flush=True)

    def break_load_balancer(self, lb: dict) -> None:
        """The lab's fault: where Octavia leaves an LB whose amphora died with no failover."""
        lb["provisioning_status"] = lb["operating_status"] = "ERROR"
        self.amphorae_dirty.set()
