"""Keeps the haproxy fleet (amphora.py) in step with Octavia's state, and Octavia's operating
statuses in step with haproxy's health checks, as the amphora's health heartbeats report them."""
from __future__ import annotations

import time
import traceback

from lab.openstack.load_balancer.amphora import AmphoraFleet, render_config
from lab.openstack.load_balancer.models import LoadBalancerBackend

SWEEP_INTERVAL = 1.0  # seconds between health sweeps (and reaping of drained haproxies)
_NO_AMPHORA = ("PENDING_CREATE", "PENDING_DELETE", "DELETED", "ERROR")


def member_status(raw: str) -> str | None:
    """haproxy's check status -> Octavia's member operating status (None: unchanged)."""
    if raw.startswith(("UP", "NOLB")):
        return "ONLINE"
    if raw.startswith("DOWN"):
        return "ERROR"
    if raw.startswith("MAINT"):
        return "OFFLINE"
    return None


def rolled_up(statuses: list[str]) -> str:
    """A pool's (and its listener's) status from its members': all ERROR, some, or none."""
    errors = statuses.count("ERROR")
    return "ERROR" if statuses and errors == len(statuses) else "DEGRADED" if errors else "ONLINE"


class AmphoraSync:
    def __init__(self, octavia: LoadBalancerBackend, fleet: AmphoraFleet):
        self.octavia, self.fleet = octavia, fleet
        self._last_sweep = 0.0

    def desired_configs(self) -> dict[str, str | None]:
        """{lb id: haproxy.cfg text, or None for no haproxy}; a PENDING_UPDATE LB keeps its config."""
        octavia = self.octavia
        desired: dict[str, str | None] = {}
        for lb in octavia.load_balancers.values():
            status = lb["provisioning_status"]
            if status in _NO_AMPHORA:
                desired[lb["id"]] = None
            elif status != "ACTIVE":
                running = self.fleet.amphorae.get(lb["id"])
                desired[lb["id"]] = running.text if running else None
            else:
                listeners = [octavia.listeners[listener_id] for listener_id in lb["_listeners"]
                             if listener_id in octavia.listeners]
                pools = {pool_id: octavia.pools[pool_id] for pool_id in lb["_pools"] if pool_id in octavia.pools}
                members = {pool_id: [octavia.members[member_id] for member_id in pool["_members"]
                                     if member_id in octavia.members]
                           for pool_id, pool in pools.items()}
                monitors = {pool_id: octavia.monitors[pool["healthmonitor_id"]] for pool_id, pool in pools.items()
                            if pool.get("healthmonitor_id") in octavia.monitors}
                desired[lb["id"]] = render_config(lb, listeners, pools, members, monitors,
                                                  octavia.network.fips_of_port(lb["vip_port_id"]),
                                                  self.fleet.stats_socket(lb["id"]))
        return desired

    def health_sweep(self) -> None:
        """Member ONLINE/ERROR/OFFLINE, pool and listener ONLINE/DEGRADED/ERROR, LB ONLINE/DEGRADED
        from haproxy's checks; only pools with a health monitor are checked (else NO_MONITOR)."""
        octavia = self.octavia
        with octavia.lock:
            targets = [lb_id for lb_id, lb in octavia.load_balancers.items() if lb["provisioning_status"] == "ACTIVE"
                       and any(octavia.pools[pool_id].get("healthmonitor_id") for pool_id in lb["_pools"]
                               if pool_id in octavia.pools)]
        states = {lb_id: self.fleet.server_states(lb_id) for lb_id in targets}  # socket reads: not under the lock
        with octavia.lock:
            for lb_id, servers in states.items():
                lb = octavia.load_balancers.get(lb_id)
                if servers is None or lb is None or lb["provisioning_status"] != "ACTIVE":
                    continue
                listener_statuses = []
                for listener_id in lb["_listeners"]:
                    listener = octavia.listeners.get(listener_id)
                    pool = octavia.pools.get((listener or {}).get("default_pool_id") or "")
                    if listener is None or pool is None or not pool.get("healthmonitor_id"):
                        continue
                    seen = []
                    for member_id in pool["_members"]:
                        member, raw = octavia.members.get(member_id), servers.get(member_id)
                        if member is None or raw is None or not member["admin_state_up"]:
                            continue
                        member["operating_status"] = member_status(raw) or member["operating_status"]
                        seen.append(member["operating_status"])
                    pool["operating_status"] = rolled_up(seen)
                    if listener["admin_state_up"]:
                        listener["operating_status"] = pool["operating_status"]
                        listener_statuses.append(pool["operating_status"])
                all_online = all(status == "ONLINE" for status in listener_statuses)
                lb["operating_status"] = "ONLINE" if all_online else "DEGRADED"

    def tick(self) -> None:
        """One pass of the ticker thread: now and then a health sweep, then converge the fleet."""
        dirty = self.octavia.amphorae_dirty
        if time.monotonic() - self._last_sweep > SWEEP_INTERVAL:  # reap drained haproxies, restart a crashed one
            self._last_sweep = time.monotonic()
            dirty.set()
            try:
                self.health_sweep()
            except Exception:
                traceback.print_exc()
        with self.octavia.lock:
            desired = self.desired_configs() if dirty.is_set() else None
            dirty.clear()
        if desired is None:
            return
        try:
            if not self.fleet.apply(desired):
                dirty.set()
        except Exception:
            traceback.print_exc()
            dirty.set()
