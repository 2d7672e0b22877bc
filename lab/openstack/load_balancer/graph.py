"""Octavia's fully populated create (octavia/api/v2/controllers/load_balancer.py `_graph_create`):
one POST with `listeners` -> `default_pool` -> `members` and `healthmonitor` (and named top-level
`pools` a listener may name). Everything is validated before anything exists; each pool must be
named; a `default_pool` with only a name refers to a top-level pool, with more it is a full pool."""
from __future__ import annotations

from lab.openstack.core.errors import octavia_error
from lab.openstack.core.ids import new_uuid, octavia_time
from lab.openstack.load_balancer import fields

PlannedListener = tuple[dict, str | None]  # the listener, the name of its default pool
_UNNAMED = "Validation failure: Pools must be named when creating a fully populated loadbalancer."


def new_object(body: dict, project_id: str, own_fields: dict) -> dict:
    """The fields every Octavia object shares, PENDING_CREATE/OFFLINE, plus its own."""
    return {"id": new_uuid(), "name": body.get("name") or "", "description": body.get("description") or "",
            "admin_state_up": body.get("admin_state_up", True), "project_id": project_id,
            "tenant_id": project_id, "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE",
            "created_at": octavia_time(), "updated_at": None, "tags": list(body.get("tags") or []), **own_fields}


def plan_pool(pool_body: dict, project_id: str) -> dict:
    """A pool with its members (under "_members") and health monitor (under "_monitor"), new."""
    if not pool_body.get("name"):
        raise octavia_error(400, _UNNAMED)
    pool = new_object(pool_body, project_id, fields.pool_fields(pool_body))
    pool["_members"] = [new_object(member_body, project_id, fields.member_fields(member_body))
                        for member_body in pool_body.get("members") or []]
    monitor_body = pool_body.get("healthmonitor")
    pool["_monitor"] = new_object(monitor_body, project_id, fields.monitor_fields(monitor_body)) \
        if monitor_body else None
    return pool


def plan_tree(body: dict, project_id: str) -> tuple[list[PlannedListener], list[dict]]:
    """The listeners and pools of a load balancer create body, validated and new."""
    pools = [plan_pool(pool_body, project_id) for pool_body in body.get("pools") or []]
    listeners: list[PlannedListener] = []
    ports_seen: set[tuple[int, bool]] = set()
    for listener_body in body.get("listeners") or []:
        listener = new_object(listener_body, project_id, fields.listener_fields(listener_body))
        key = (listener["protocol_port"], listener["protocol"] == "UDP")
        if key in ports_seen:
            raise octavia_error(409, f"Another Listener on this Load Balancer is already using protocol_port "
                                     f"{listener['protocol_port']}")
        ports_seen.add(key)
        default_pool = listener_body.get("default_pool")
        pool_name = None
        if default_pool:
            pool_name = default_pool.get("name")
            if not pool_name:
                raise octavia_error(400, _UNNAMED)
            if set(default_pool) - {"name"}:  # a full specification, not a reference
                pools.append(plan_pool(default_pool, project_id))
            elif not any(planned["name"] == pool_name for planned in pools):
                raise octavia_error(400, f"Validation failure: Pool {pool_name} was not found.")
        listeners.append((listener, pool_name))
    return listeners, pools
