"""The OpenStack API double: Keystone, Cinder, Nova, Neutron and Octavia on one loopback port.

A double, documented as such. It stands for the Devstack cloud's public APIs as the project
and its tools use them: openstacksdk, the `openstack` CLI (python-openstackclient and
python-octaviaclient) and the pulumi-openstack provider (terraform-provider-openstack over
gophercloud). State lives in memory; one HTTP server on 127.0.0.1:<port>; service base URLs:

    identity        /identity            (v3 under /identity/v3; version discovery at /identity)
    volumev3,
    block-storage   /volume/v3/<project_id>
    compute         /compute/v2.1
    network         /networking          (API under /v2.0)
    load-balancer   /load-balancer       (API under /v2 or /v2.0)

What it does, like the real services (JSON shapes, status codes, error bodies, microversion
headers):
- Keystone v3: version discovery, password (and token) authentication, project-scoped tokens
  with the catalog above, token validation; users `admin` (role admin, project admin) and
  `demo` (role member, project demo), domain Default; 401 without a valid X-Auth-Token.
- Cinder v3 (microversions up to 3.70): volume types (extra specs, is_public and
  os-volume-type-access, admin-only management with Cinder's policy messages, "in use"
  refusals), the default type `lvmdriver-1`; volumes (create by type name or id, literal
  `multiattach="<is> True"` matching, creating -> available and deleting -> gone after the
  profile's delays, all_tenants for admins, detail, show, update, delete refusals, extend,
  reset-status/force-delete), attachments as Nova's attach leaves them.
- Nova v2.1 (microversions up to 2.96): the three lab nodes as ACTIVE servers (ids from
  lab.cluster.ClusterShape.nodes), volume attach/detach/list with Nova's multiattach and 2.60 rules.
- Neutron v2.0: networks `public` (external) and `private`, their subnets, a router, ports
  (the Octavia VIP ports), floating IPs from <block>.31.0/24 (lab.cluster.ClusterShape.floating_prefix) (create, associate, list filters,
  delete).
- Octavia v2: load balancers, listeners, pools, members (incl. batch update), health
  monitors, status tree, PENDING_* -> ACTIVE after the profile's delays, 409 on mutations of
  a PENDING_* load balancer; a real haproxy per ACTIVE load balancer (lab/amphora.py).

What it does not do: other services and resources (images, flavors, snapshots, backups,
security groups, quotas, QoS, L7 policies, TLS, amphora failover), real block devices or VMs,
policy beyond "admin or not", persistence across restarts.

    python -m lab.openstack --port P --state-dir D [--profile fast|devstack] [--delay-scale F]

Passwords: read from <state-dir>/passwords.json ({"admin": ..., "demo": ...}) when it exists,
else Devstack's conventional `secret` for both (written there). The double also writes
<state-dir>/clouds.yaml (entries devstack and devstack-admin) once it listens.
"""
from __future__ import annotations

import argparse
import copy
import heapq
import ipaddress
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from lab import profiles
from lab.amphora import AmphoraFleet, render_config
from lab.cluster import ClusterShape, shape_from_environment

# --------------------------------------------------------------------------- constants
_NS = uuid.UUID("0b5f3a52-7d7e-4d0c-a3c4-5f7e3c1d2b90")


def _hex_id(name: str) -> str:
    return uuid.uuid5(_NS, name).hex


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


DOMAIN = {"id": "default", "name": "Default"}
ADMIN_PROJECT_ID = _hex_id("project:admin")
DEMO_PROJECT_ID = _hex_id("project:demo")
PROJECTS = {ADMIN_PROJECT_ID: "admin", DEMO_PROJECT_ID: "demo"}
ROLES = {"admin": _hex_id("role:admin"), "member": _hex_id("role:member"),
         "reader": _hex_id("role:reader")}
USERS = {
    "admin": {"id": _hex_id("user:admin"), "project_id": ADMIN_PROJECT_ID, "roles": ["admin", "member", "reader"]},
    "demo": {"id": _hex_id("user:demo"), "project_id": DEMO_PROJECT_ID, "roles": ["member", "reader"]},
}
DEFAULT_PASSWORDS = {"admin": "secret", "demo": "secret"}
REGION = "RegionOne"
DEFAULT_VOLUME_TYPE = "lvmdriver-1"
MULTIATTACH_SPEC = "<is> True"
COMPUTE_HOST = "devstack"

PUBLIC_NET_ID = _uuid("network:public")
PUBLIC_SUBNET_ID = _uuid("subnet:public")
PRIVATE_NET_ID = _uuid("network:private")
PRIVATE_SUBNET_ID = _uuid("subnet:private")
ROUTER_ID = _uuid("router:router1")

CINDER_MAX = (3, 70)
NOVA_MAX = (2, 96)



def _now() -> datetime:
    return datetime.now(UTC)


def _ts_cinder(t: datetime | None = None) -> str:
    return (t or _now()).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _ts_z(t: datetime | None = None) -> str:
    return (t or _now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts_octavia(t: datetime | None = None) -> str:
    return (t or _now()).strftime("%Y-%m-%dT%H:%M:%S")


def load_passwords(state_dir: str | Path) -> dict[str, str]:
    """The users' passwords the double in `state_dir` accepts."""
    path = Path(state_dir) / "passwords.json"
    if path.exists():
        return {**DEFAULT_PASSWORDS, **json.loads(path.read_text())}
    return dict(DEFAULT_PASSWORDS)


def write_clouds_yaml(path: str | Path, base_url: str,
                      passwords: dict[str, str] | str | None = None) -> Path:
    """Write a clouds.yaml like Devstack's /etc/openstack/clouds.yaml for the double at
    `base_url` (e.g. "http://127.0.0.1:PORT"): entries `devstack` (demo user, project demo)
    and `devstack-admin` (admin, project admin). passwords: {"admin": .., "demo": ..}, or one
    string for both, or None for the double's defaults. Returns the path."""
    import yaml

    if passwords is None:
        passwords = dict(DEFAULT_PASSWORDS)
    elif isinstance(passwords, str):
        passwords = {"admin": passwords, "demo": passwords}
    base_url = base_url.rstrip("/")

    def entry(user: str, project: str) -> dict:
        return {
            "auth": {"auth_url": f"{base_url}/identity", "username": user,
                     "password": passwords[user], "project_name": project,
                     "user_domain_id": "default", "project_domain_id": "default"},
            "region_name": REGION,
            "identity_api_version": "3",
            "volume_api_version": "3",
        }

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"clouds": {"devstack": entry("demo", "demo"),
                                               "devstack-admin": entry("admin", "admin")}},
                                   default_flow_style=False))
    os.chmod(path, 0o600)
    return path


# --------------------------------------------------------------------------- errors
class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


_NOVA_KEYS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 409: "conflictingRequest",
              413: "overLimit", 500: "computeFault", 501: "notImplemented"}
_NEUTRON_TYPES = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


def cinder_error(status: int, message: str) -> ApiError:  # Cinder and Nova share the fault shape
    return ApiError(status, {_NOVA_KEYS.get(status, "computeFault"): {"code": status, "message": message}})


nova_error = cinder_error


def neutron_error(status: int, message: str, kind: str | None = None) -> ApiError:
    return ApiError(status, {"NeutronError": {"type": kind or _NEUTRON_TYPES.get(status, "NeutronError"),
                                              "message": message, "detail": ""}})


def octavia_error(status: int, message: str) -> ApiError:
    return ApiError(status, {"faultcode": "Client" if status < 500 else "Server",
                             "faultstring": message, "debuginfo": None})


def keystone_error(status: int, message: str, title: str) -> ApiError:
    return ApiError(status, {"error": {"code": status, "message": message, "title": title}})


# --------------------------------------------------------------------------- request context
class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers, body):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body
        self.user: dict | None = None
        self.project_id: str | None = None
        self.roles: list[str] = []
        self.response_headers: dict[str, str] = {}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def q(self, key: str, default=None):
        values = self.query.get(key)
        return values[-1] if values else default

    def flag(self, key: str) -> bool:
        return str(self.q(key, "")).lower() in ("1", "true", "yes", "on")

    def microversion(self, service: str, legacy_header: str | None, default: tuple[int, int],
                     maximum: tuple[int, int]) -> tuple[int, int]:
        raw = None
        header = self.headers.get("OpenStack-API-Version")
        if header:
            for part in header.split(","):
                name, _, value = part.strip().partition(" ")
                if name.lower() == service:
                    raw = value.strip()
        if raw is None and legacy_header:
            raw = self.headers.get(legacy_header)
        if not raw:
            return default
        if raw.lower() == "latest":
            return maximum
        match = re.fullmatch(r"(\d+)\.(\d+)", raw.strip())
        if not match:
            raise ApiError(400, {"badRequest": {"code": 400, "message": f"Invalid API version request {raw!r}"}})
        version = (int(match.group(1)), int(match.group(2)))
        if version > maximum or version < default:
            raise ApiError(406, {"computeFault": {"code": 406, "message":
                                 f"Version {raw} is not supported by the API. Minimum is "
                                 f"{default[0]}.{default[1]} and maximum is {maximum[0]}.{maximum[1]}."}})
        return version


def _json_body(req: Request, key: str | None, error=cinder_error) -> dict:
    if not isinstance(req.body, dict):
        raise error(400, "Malformed request body")
    if key is None:
        return req.body
    value = req.body.get(key)
    if not isinstance(value, dict):
        raise error(400, f"Missing required element '{key}' in request body.")
    return value


def _paginate(items: list[dict], req: Request, error=cinder_error) -> tuple[list[dict], bool]:
    """marker/limit paging; returns the page and whether more items follow."""
    marker = req.q("marker")
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise error(400, f"marker [{marker}] not found")
        items = items[ids.index(marker) + 1:]
    limit = req.q("limit")
    if limit not in (None, ""):
        try:
            n = int(limit)
        except ValueError:
            raise error(400, "limit must be an integer")
        if n >= 0 and len(items) > n:
            return items[:n], True
    return items, False


def _match_value(actual, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if actual is None:
        return wanted in ("", "None", "null")
    return str(actual) == wanted


_PAGING_KEYS = {"limit", "marker", "sort_key", "sort_dir", "page_reverse", "fields", "sort",
                "all_tenants", "all_projects", "tags", "tags-any", "not-tags", "not-tags-any"}


def _filter_generic(items: list[dict], req: Request, skip: set[str] = frozenset()) -> list[dict]:
    """Neutron/Octavia style filters: ?field=value (repeat a key for OR) and tags."""
    out = []
    for item in items:
        ok = True
        for key, values in req.query.items():
            if key in _PAGING_KEYS or key in skip or key not in item:
                continue
            if not any(_match_value(item[key], v) for v in values):
                ok = False
                break
        if ok:
            tags = set(item.get("tags") or [])
            for key, test in (("tags", lambda want: want <= tags), ("tags-any", lambda want: bool(want & tags)),
                              ("not-tags", lambda want: not want <= tags),
                              ("not-tags-any", lambda want: not (want & tags))):
                for value in req.query.get(key, []):
                    if not test(set(filter(None, value.split(",")))):
                        ok = False
        if ok:
            out.append(item)
    return out


# --------------------------------------------------------------------------- the cloud
class Cloud:
    """All state, one lock; timed transitions run on the ticker thread."""

    def __init__(self, base_url: str, state_dir: Path, delays: dict[str, float],
                 passwords: dict[str, str], cluster: ClusterShape):
        self.base = base_url.rstrip("/")
        self.state_dir = Path(state_dir)
        self.delays = delays
        self.passwords = passwords
        self.lock = threading.RLock()
        self.tokens: dict[str, dict] = {}
        self._timers: list = []
        self._seq = itertools.count()
        self.amphorae_dirty = threading.Event()
        self.fleet = AmphoraFleet(self.state_dir)
        self._stopping = threading.Event()
        created = _now()

        # Cinder
        self.types: dict[str, dict] = {}
        default_type = {"id": _uuid("volume-type:lvmdriver-1"), "name": DEFAULT_VOLUME_TYPE,
                        "description": "Default Volume Type", "is_public": True,
                        "extra_specs": {"volume_backend_name": "lvmdriver-1"}, "qos_specs_id": None,
                        "access": set(), "created_at": created}
        self.types[default_type["id"]] = default_type
        self.volumes: dict[str, dict] = {}

        # Nova
        self.servers: dict[str, dict] = {}
        for node in cluster.nodes:
            self.servers[node.server_id] = {
                "id": node.server_id, "name": node.name, "ip": node.ip, "project_id": ADMIN_PROJECT_ID,
                "user_id": USERS["admin"]["id"], "created": created, "attachments": [],
                "mac": "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.UUID(node.server_id).bytes[:3])}

        # Neutron
        self.networks: dict[str, dict] = {}
        self.subnets: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.routers: dict[str, dict] = {}
        floating, vip = cluster.floating_prefix, cluster.vip_prefix
        self._add_network(PUBLIC_NET_ID, "public", external=True, subnet_id=PUBLIC_SUBNET_ID,
                          subnet_name="public-subnet", cidr=f"{floating}.0/24", gateway=f"{floating}.1",
                          pools=[{"start": f"{floating}.2", "end": f"{floating}.254"}])
        self._add_network(PRIVATE_NET_ID, "private", external=False, subnet_id=PRIVATE_SUBNET_ID,
                          subnet_name="private-subnet", cidr=cluster.private_cidr, gateway=f"{vip}.1",
                          pools=[{"start": f"{vip}.2", "end": f"{vip}.254"}])
        self.routers[ROUTER_ID] = {
            "id": ROUTER_ID, "name": "router1", "status": "ACTIVE", "admin_state_up": True,
            "tenant_id": ADMIN_PROJECT_ID, "project_id": ADMIN_PROJECT_ID, "description": "",
            "external_gateway_info": {"network_id": PUBLIC_NET_ID, "enable_snat": True,
                                      "external_fixed_ips": [{"subnet_id": PUBLIC_SUBNET_ID,
                                                              "ip_address": f"{floating}.1"}]},
            "routes": [], "tags": [], "distributed": False, "ha": False, "availability_zones": ["nova"],
            "created_at": _ts_z(created), "updated_at": _ts_z(created), "revision_number": 1}
        for server in self.servers.values():
            self._new_port(PRIVATE_NET_ID, PRIVATE_SUBNET_ID, server["ip"], name="",
                           device_owner="compute:nova", device_id=server["id"],
                           project_id=server["project_id"], mac=server["mac"],
                           port_id=_uuid("port:" + server["name"]))

        # Octavia
        self.lbs: dict[str, dict] = {}
        self.listeners: dict[str, dict] = {}
        self.pools: dict[str, dict] = {}
        self.members: dict[str, dict] = {}
        self.monitors: dict[str, dict] = {}

    # ----------------------------------------------------------------- timers
    def later(self, delay: float, fn) -> None:
        with self.lock:
            heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay), next(self._seq), fn))

    def run_ticker(self) -> None:
        """The one long-lived thread: due transitions, then the amphorae."""
        last_sweep = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now - last_sweep > 1.0:  # reap drained haproxies, restart a crashed one, health
                last_sweep = now
                self.amphorae_dirty.set()
                try:
                    self._health_sweep()
                except Exception:
                    traceback.print_exc()
            with self.lock:
                while self._timers and self._timers[0][0] <= now:
                    _, _, fn = heapq.heappop(self._timers)
                    try:
                        fn()
                    except Exception:
                        traceback.print_exc()
                desired = self._desired_amphorae() if self.amphorae_dirty.is_set() else None
                self.amphorae_dirty.clear()
            if desired is not None:
                try:
                    if not self.fleet.apply(desired):
                        self.amphorae_dirty.set()
                except Exception:
                    traceback.print_exc()
                    self.amphorae_dirty.set()
            self._stopping.wait(0.05)
        self.fleet.stop_all()

    def stop(self) -> None:
        self._stopping.set()

    # ----------------------------------------------------------------- amphora health
    def _health_sweep(self) -> None:
        """Operating statuses from haproxy's health checks, as the amphora's health heartbeats
        report them: member ONLINE/ERROR, pool and listener ONLINE/DEGRADED/ERROR, LB
        ONLINE/DEGRADED. Only pools with a health monitor are checked (else NO_MONITOR)."""
        with self.lock:
            targets = [lb_id for lb_id, lb in self.lbs.items() if lb["provisioning_status"] == "ACTIVE"
                       and any(self.pools[p].get("healthmonitor_id") for p in lb["_pools"] if p in self.pools)]
        states = {lb_id: self.fleet.server_states(lb_id) for lb_id in targets}
        with self.lock:
            for lb_id, servers in states.items():
                lb = self.lbs.get(lb_id)
                if servers is None or lb is None or lb["provisioning_status"] != "ACTIVE":
                    continue
                listener_states = []
                for lid in lb["_listeners"]:
                    listener = self.listeners.get(lid)
                    pool = self.pools.get((listener or {}).get("default_pool_id") or "")
                    if listener is None or pool is None or not pool.get("healthmonitor_id"):
                        continue
                    seen = []
                    for mid in pool["_members"]:
                        member, raw = self.members.get(mid), servers.get(mid)
                        if member is None or raw is None or not member["admin_state_up"]:
                            continue
                        if raw.startswith(("UP", "NOLB")):
                            member["operating_status"] = "ONLINE"
                        elif raw.startswith("DOWN"):
                            member["operating_status"] = "ERROR"
                        elif raw.startswith("MAINT"):
                            member["operating_status"] = "OFFLINE"
                        seen.append(member["operating_status"])
                    errors = seen.count("ERROR")
                    status = "ERROR" if seen and errors == len(seen) else "DEGRADED" if errors else "ONLINE"
                    pool["operating_status"] = status
                    if listener["admin_state_up"]:
                        listener["operating_status"] = status
                        listener_states.append(status)
                lb["operating_status"] = "ONLINE" if all(s == "ONLINE" for s in listener_states) else "DEGRADED"

    # ----------------------------------------------------------------- keystone
    def issue_token(self, user_name: str, project_id: str | None) -> tuple[str, dict]:
        user = USERS[user_name]
        token = uuid.uuid4().hex + uuid.uuid4().hex
        issued = _now()
        info = {"user": user_name, "user_id": user["id"], "project_id": project_id,
                "roles": list(user["roles"]) if project_id else [],
                "issued_at": issued, "expires_at": issued + timedelta(hours=12),
                "audit_id": uuid.uuid4().hex[:22]}
        with self.lock:
            self.tokens[token] = info
        return token, info

    def token_info(self, token: str | None) -> dict | None:
        if not token:
            return None
        with self.lock:
            info = self.tokens.get(token)
        if info is None or info["expires_at"] < _now():
            return None
        return info

    def catalog(self, project_id: str) -> list[dict]:
        def service(kind: str, name: str, url: str) -> dict:
            sid = _hex_id("service:" + kind)
            return {"id": sid, "type": kind, "name": name, "endpoints": [
                {"id": _hex_id("endpoint:" + kind), "interface": "public", "region": REGION,
                 "region_id": REGION, "url": url}]}

        return [
            service("identity", "keystone", f"{self.base}/identity"),
            service("volumev3", "cinderv3", f"{self.base}/volume/v3/{project_id}"),
            service("block-storage", "cinder", f"{self.base}/volume/v3/{project_id}"),
            service("compute", "nova", f"{self.base}/compute/v2.1"),
            service("network", "neutron", f"{self.base}/networking"),
            service("load-balancer", "octavia", f"{self.base}/load-balancer"),
        ]

    def token_body(self, info: dict, methods: list[str]) -> dict:
        token = {
            "methods": methods,
            "user": {"id": info["user_id"], "name": info["user"], "domain": dict(DOMAIN),
                     "password_expires_at": None},
            "audit_ids": [info["audit_id"]],
            "expires_at": info["expires_at"].strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "issued_at": info["issued_at"].strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        }
        if info["project_id"]:
            token["project"] = {"id": info["project_id"], "name": PROJECTS[info["project_id"]],
                                "domain": dict(DOMAIN)}
            token["is_domain"] = False
            token["roles"] = [{"id": ROLES[r], "name": r} for r in info["roles"]]
            token["catalog"] = self.catalog(info["project_id"])
        return {"token": token}

    # ----------------------------------------------------------------- neutron helpers
    def _add_network(self, net_id, name, external, subnet_id, subnet_name, cidr, gateway, pools):
        stamp = _ts_z()
        self.networks[net_id] = {
            "id": net_id, "name": name, "status": "ACTIVE", "admin_state_up": True, "shared": False,
            "router:external": external, "subnets": [subnet_id], "tenant_id": ADMIN_PROJECT_ID,
            "project_id": ADMIN_PROJECT_ID, "mtu": 1442 if not external else 1500, "description": "",
            "port_security_enabled": True, "provider:network_type": "flat" if external else "geneve",
            "provider:physical_network": "public" if external else None,
            "provider:segmentation_id": None if external else 1, "availability_zones": ["nova"],
            "availability_zone_hints": [], "ipv4_address_scope": None, "ipv6_address_scope": None,
            "is_default": external, "tags": [], "created_at": stamp, "updated_at": stamp,
            "revision_number": 1, "qos_policy_id": None, "dns_domain": ""}
        self.subnets[subnet_id] = {
            "id": subnet_id, "name": subnet_name, "network_id": net_id, "ip_version": 4, "cidr": cidr,
            "gateway_ip": gateway, "allocation_pools": pools, "enable_dhcp": not external,
            "dns_nameservers": [], "host_routes": [], "tenant_id": ADMIN_PROJECT_ID,
            "project_id": ADMIN_PROJECT_ID, "description": "", "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "subnetpool_id": None, "service_types": [], "tags": [],
            "created_at": stamp, "updated_at": stamp, "revision_number": 0, "segment_id": None}

    def _used_ips(self, subnet_id: str) -> set[str]:
        used = {self.subnets[subnet_id]["gateway_ip"]}
        for port in self.ports.values():
            for fixed in port["fixed_ips"]:
                if fixed["subnet_id"] == subnet_id:
                    used.add(fixed["ip_address"])
        for fip in self.floatingips.values():
            used.add(fip["floating_ip_address"])
        return used

    def _allocate_ip(self, subnet_id: str, wanted: str | None = None) -> str:
        subnet = self.subnets[subnet_id]
        used = self._used_ips(subnet_id)
        if wanted:
            if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
                raise neutron_error(400, f"IP address {wanted} is not a valid IP for the specified subnet.",
                                    "InvalidIpForSubnet")
            if wanted in used:
                raise neutron_error(409, f"IP address {wanted} already allocated in subnet {subnet_id}",
                                    "IpAddressAlreadyAllocated")
            return wanted
        for pool in subnet["allocation_pools"]:
            start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
            address = start
            while address <= end:
                if str(address) not in used:
                    return str(address)
                address += 1
        raise neutron_error(409, f"No more IP addresses available on network {subnet['network_id']}.",
                            "IpAddressGenerationFailure")

    def _new_port(self, network_id, subnet_id, ip, name, device_owner, device_id, project_id,
                  mac=None, port_id=None, description="") -> dict:
        port_id = port_id or str(uuid.uuid4())
        stamp = _ts_z()
        mac = mac or "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.UUID(port_id).bytes[:3])
        port = {
            "id": port_id, "name": name, "network_id": network_id, "tenant_id": project_id,
            "project_id": project_id, "mac_address": mac, "admin_state_up": True, "status": "ACTIVE",
            "device_id": device_id, "device_owner": device_owner,
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}] if subnet_id else [],
            "allowed_address_pairs": [], "extra_dhcp_opts": [], "security_groups": [],
            "description": description, "binding:vnic_type": "normal", "binding:host_id": COMPUTE_HOST,
            "binding:vif_type": "ovs", "binding:vif_details": {}, "binding:profile": {},
            "port_security_enabled": True, "tags": [], "created_at": stamp, "updated_at": stamp,
            "revision_number": 1, "dns_name": "", "dns_assignment": [], "qos_policy_id": None,
            "propagate_uplink_status": False}
        self.ports[port_id] = port
        return port

    def fips_of_port(self, port_id: str) -> list[str]:
        return [f["floating_ip_address"] for f in self.floatingips.values() if f["port_id"] == port_id]

    # ----------------------------------------------------------------- octavia helpers
    def _desired_amphorae(self) -> dict[str, str | None]:
        desired: dict[str, str | None] = {}
        for lb in self.lbs.values():
            if lb["provisioning_status"] in ("PENDING_CREATE", "PENDING_DELETE", "DELETED", "ERROR"):
                desired[lb["id"]] = None
                continue
            if lb["provisioning_status"] != "ACTIVE":
                desired[lb["id"]] = self.fleet.amphorae[lb["id"]].text if lb["id"] in self.fleet.amphorae else None
                continue
            listeners = [self.listeners[i] for i in lb["_listeners"] if i in self.listeners]
            pools = {i: self.pools[i] for i in lb["_pools"] if i in self.pools}
            members = {pid: [self.members[m] for m in pool["_members"] if m in self.members]
                       for pid, pool in pools.items()}
            monitors = {pid: self.monitors[pool["healthmonitor_id"]] for pid, pool in pools.items()
                        if pool.get("healthmonitor_id") in self.monitors}
            desired[lb["id"]] = render_config(lb, listeners, pools, members, monitors,
                                              self.fips_of_port(lb["vip_port_id"]),
                                              self.fleet.stats_socket(lb["id"]))
        return desired


# =========================================================================== routing
Route = tuple[str, re.Pattern, object]


class Api:
    """Request dispatch: (method, path regex) -> handler(req, *groups) -> (status, body)."""

    def __init__(self, cloud: Cloud):
        self.cloud = cloud
        self.routes: list[Route] = []
        _keystone_routes(self)
        _cinder_routes(self)
        _nova_routes(self)
        _neutron_routes(self)
        _octavia_routes(self)
        _lab_fault_routes(self)

    def add(self, method: str, pattern: str, handler, auth: bool = True, error=cinder_error) -> None:
        self.routes.append((method, re.compile(pattern + r"$"), (handler, auth, error)))

    def dispatch(self, req: Request) -> tuple[int, object]:
        path = req.path
        if len(path) > 1:
            path = path.rstrip("/")
        path_known = False
        for method, pattern, (handler, auth, error) in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            path_known = True
            if method != req.method:
                continue
            if auth:
                info = self.cloud.token_info(req.headers.get("X-Auth-Token"))
                if info is None:
                    raise ApiError(401, {"error": {"code": 401, "title": "Unauthorized",
                                                   "message": "The request you have made requires authentication."}},
                                   {"WWW-Authenticate": f'Keystone uri="{self.cloud.base}/identity"'})
                req.user, req.project_id, req.roles = info, info["project_id"], info["roles"]
            return handler(req, *match.groups())
        if path_known:
            raise ApiError(405, {"error": {"code": 405, "message": "The method is not allowed for the requested URL."}})
        raise ApiError(404, {"error": {"code": 404, "title": "Not Found",
                                       "message": f"The resource could not be found: {req.method} {req.path}"}})


# =========================================================================== lab faults
def _lab_fault_routes(api: Api) -> None:
    """Not OpenStack: the lab's fault injection, for tests of what verify reports.

    PUT /lab/faults/loadbalancers/{id} {"provisioning_status": "ERROR"} (admin only) puts a load
    balancer where Octavia leaves one whose amphora died with no failover: ERROR/ERROR, its
    amphora stopped.
    PUT /lab/faults/types/{id}/extra_specs {"key": "value", ...} (admin only) sets extra specs of
    a type even while volumes use it (Cinder refuses that through its API): a type created with
    a mistyped spec, as the article warns (`<is> true` is not multi-attach).
    PUT /lab/faults/delays {"volume_delete": 5.0, ...} (admin only) changes the profile's delays
    (seconds) from now on: a Cinder that is slow to delete volumes, as on a busy Devstack.
    """
    cloud = api.cloud

    def break_load_balancer(req, lb_id):
        if not req.is_admin:
            raise octavia_error(403, "Policy does not allow this request to be performed.")
        status = (req.body or {}).get("provisioning_status")
        if status != "ERROR":
            raise octavia_error(400, f"only provisioning_status ERROR can be injected, not {status!r}")
        with cloud.lock:
            lb = cloud.lbs.get(lb_id)
            if lb is None:
                raise octavia_error(404, f"Load Balancer {lb_id} not found.")
            lb["provisioning_status"] = lb["operating_status"] = "ERROR"
            cloud.amphorae_dirty.set()
        return 200, {"loadbalancer": {"id": lb_id, "provisioning_status": "ERROR"}}

    def set_type_specs(req, type_id):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow volume_extension:types_manage to be performed.")
        specs = req.body if isinstance(req.body, dict) else {}
        with cloud.lock:
            volume_type = cloud.types.get(type_id)
            if volume_type is None:
                raise cinder_error(404, f"Volume type {type_id} could not be found.")
            volume_type["extra_specs"].update({k: str(v) for k, v in specs.items()})
        return 200, {"extra_specs": dict(volume_type["extra_specs"])}

    def set_delays(req):
        if not req.is_admin:
            raise cinder_error(403, "Policy doesn't allow this request to be performed.")
        changes = req.body if isinstance(req.body, dict) else {}
        unknown = sorted(set(changes) - set(cloud.delays))
        if unknown:
            raise cinder_error(400, f"unknown delays {unknown}; known: {sorted(cloud.delays)}")
        with cloud.lock:
            cloud.delays.update({key: float(value) for key, value in changes.items()})
        return 200, {"delays": dict(cloud.delays)}

    api.add("PUT", r"/lab/faults/delays", set_delays)
    api.add("PUT", r"/lab/faults/loadbalancers/([^/]+)", break_load_balancer, error=octavia_error)
    api.add("PUT", r"/lab/faults/types/([^/]+)/extra_specs", set_type_specs)


# =========================================================================== keystone
def _keystone_routes(api: Api) -> None:
    cloud = api.cloud

    def version(status="stable"):
        return {"id": "v3.14", "status": status, "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{cloud.base}/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def root(req):
        return 300, {"versions": {"values": [version()]}}

    def v3(req):
        return 200, {"version": version()}

    def auth_tokens(req):
        auth = (req.body or {}).get("auth") if isinstance(req.body, dict) else None
        if not isinstance(auth, dict):
            raise keystone_error(400, "Expecting to find auth in request body.", "Bad Request")
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        user_name = None
        if "password" in methods:
            user = (identity.get("password") or {}).get("user") or {}
            name = user.get("name")
            if not name and user.get("id"):
                name = next((n for n, u in USERS.items() if u["id"] == user["id"]), None)
            domain = user.get("domain") or {}
            domain_ok = (user.get("id") is not None or domain.get("id") == "default"
                         or (domain.get("name") or "").lower() == "default")
            if name in USERS and domain_ok and user.get("password") == cloud.passwords.get(name):
                user_name = name
        elif "token" in methods:
            old = cloud.token_info((identity.get("token") or {}).get("id"))
            if old:
                user_name = old["user"]
        if user_name is None:
            raise keystone_error(401, "The request you have made requires authentication.", "Unauthorized")
        project_id = None
        scope = auth.get("scope")
        if isinstance(scope, dict) and "project" in scope:
            project = scope["project"]
            pid = project.get("id")
            if not pid:
                domain = project.get("domain") or {}
                if domain.get("id") not in (None, "default") and (domain.get("name") or "").lower() != "default":
                    raise keystone_error(401, "The request you have made requires authentication.", "Unauthorized")
                pid = next((i for i, n in PROJECTS.items() if n == project.get("name")), None)
            if pid is None or pid != USERS[user_name]["project_id"]:
                raise keystone_error(401, "The request you have made requires authentication.", "Unauthorized")
            project_id = pid
        elif isinstance(scope, dict) and scope:
            raise keystone_error(401, "The request you have made requires authentication.", "Unauthorized")
        elif scope == "unscoped":
            project_id = None
        elif scope is None:  # Keystone scopes to the user's default project when none is asked
            project_id = USERS[user_name]["project_id"]
        token, info = cloud.issue_token(user_name, project_id)
        req.response_headers["X-Subject-Token"] = token
        return 201, cloud.token_body(info, methods)

    def validate(req):
        info = cloud.token_info(req.headers.get("X-Subject-Token"))
        if info is None:
            raise keystone_error(404, "Could not find token.", "Not Found")
        return 200, cloud.token_body(info, ["password"])

    def revoke(req):
        with cloud.lock:
            cloud.tokens.pop(req.headers.get("X-Subject-Token") or "", None)
        return 204, None

    def project_view(pid):
        return {"id": pid, "name": PROJECTS[pid], "domain_id": "default", "description": "",
                "enabled": True, "is_domain": False, "parent_id": "default", "tags": [], "options": {},
                "links": {"self": f"{cloud.base}/identity/v3/projects/{pid}"}}

    def user_view(name):
        u = USERS[name]
        return {"id": u["id"], "name": name, "domain_id": "default", "enabled": True,
                "default_project_id": u["project_id"], "password_expires_at": None, "options": {},
                "links": {"self": f"{cloud.base}/identity/v3/users/{u['id']}"}}

    def projects(req):
        items = [project_view(p) for p in PROJECTS if req.is_admin or p == req.project_id]
        name = req.q("name")
        items = [p for p in items if not name or p["name"] == name]
        return 200, {"projects": items, "links": {"self": None, "previous": None, "next": None}}

    def auth_projects(req):
        pid = USERS[req.user["user"]]["project_id"]
        return 200, {"projects": [project_view(pid)], "links": {"self": None, "previous": None, "next": None}}

    def project(req, pid):
        found = pid if pid in PROJECTS else next((i for i, n in PROJECTS.items() if n == pid), None)
        if found is None or (not req.is_admin and found != req.project_id):
            raise keystone_error(404, f"Could not find project: {pid}.", "Not Found")
        return 200, {"project": project_view(found)}

    def users(req):
        items = [user_view(n) for n in USERS if req.is_admin or n == req.user["user"]]
        name = req.q("name")
        items = [u for u in items if not name or u["name"] == name]
        return 200, {"users": items, "links": {"self": None, "previous": None, "next": None}}

    def user(req, uid):
        name = next((n for n, u in USERS.items() if uid in (u["id"], n)), None)
        if name is None or (not req.is_admin and name != req.user["user"]):
            raise keystone_error(404, f"Could not find user: {uid}.", "Not Found")
        return 200, {"user": user_view(name)}

    def domains(req):
        return 200, {"domains": [{"id": "default", "name": "Default", "enabled": True, "description": "",
                                  "tags": [], "options": {}, "links": {}}],
                     "links": {"self": None, "previous": None, "next": None}}

    def roles(req):
        return 200, {"roles": [{"id": i, "name": n, "domain_id": None, "description": None, "options": {}}
                               for n, i in ROLES.items()],
                     "links": {"self": None, "previous": None, "next": None}}

    def services(req):
        return 200, {"services": [{"id": s["id"], "type": s["type"], "name": s["name"], "enabled": True}
                                  for s in cloud.catalog(req.project_id or ADMIN_PROJECT_ID)]}

    def endpoints(req):
        out = []
        for s in cloud.catalog(req.project_id or ADMIN_PROJECT_ID):
            for e in s["endpoints"]:
                out.append({**e, "service_id": s["id"], "enabled": True})
        return 200, {"endpoints": out}

    def catalog(req):
        return 200, {"catalog": cloud.catalog(req.project_id or ADMIN_PROJECT_ID)}

    api.add("GET", r"/identity", root, auth=False)
    api.add("GET", r"/identity/v3", v3, auth=False)
    api.add("POST", r"/identity/v3/auth/tokens", auth_tokens, auth=False)
    api.add("GET", r"/identity/v3/auth/tokens", validate)
    api.add("HEAD", r"/identity/v3/auth/tokens", validate)
    api.add("DELETE", r"/identity/v3/auth/tokens", revoke)
    api.add("GET", r"/identity/v3/auth/projects", auth_projects)
    api.add("GET", r"/identity/v3/auth/catalog", catalog)
    api.add("GET", r"/identity/v3/projects", projects)
    api.add("GET", r"/identity/v3/projects/([^/]+)", project)
    api.add("GET", r"/identity/v3/users", users)
    api.add("GET", r"/identity/v3/users/([^/]+)", user)
    api.add("GET", r"/identity/v3/domains", domains)
    api.add("GET", r"/identity/v3/roles", roles)
    api.add("GET", r"/identity/v3/services", services)
    api.add("GET", r"/identity/v3/endpoints", endpoints)


# =========================================================================== cinder
def _cinder_routes(api: Api) -> None:
    cloud = api.cloud
    V = r"/volume/v3/([0-9a-fA-F]+)"

    def mv(req) -> tuple[int, int]:
        version = req.microversion("volume", None, (3, 0), CINDER_MAX)
        req.response_headers["OpenStack-API-Version"] = f"volume {version[0]}.{version[1]}"
        req.response_headers["Vary"] = "OpenStack-API-Version"
        return version

    def version_doc():
        return {"id": "v3.0", "status": "CURRENT", "version": f"{CINDER_MAX[0]}.{CINDER_MAX[1]}",
                "min_version": "3.0", "updated": "2023-08-31T00:00:00Z",
                "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                          {"rel": "self", "href": f"{cloud.base}/volume/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    def root(req):
        return 300, {"versions": [version_doc()]}

    def v3_root(req, *_):
        return 200, {"versions": [version_doc()]}

    # ---- types
    def visible_type(req, t) -> bool:
        return req.is_admin or t["is_public"] or req.project_id in t["access"]

    def find_type(req, ref: str) -> dict:
        t = cloud.types.get(ref)
        if t is None:
            t = next((x for x in cloud.types.values() if x["name"] == ref), None)
        if t is None or not visible_type(req, t):
            raise cinder_error(404, f"Volume type {ref} could not be found.")
        return t

    def type_view(req, t) -> dict:
        view = {"id": t["id"], "name": t["name"], "description": t["description"],
                "is_public": t["is_public"], "os-volume-type-access:is_public": t["is_public"],
                "qos_specs_id": t["qos_specs_id"] if req.is_admin else None,
                "extra_specs": dict(t["extra_specs"])}
        if not req.is_admin:  # Cinder hides the backend-ish specs from non-admins
            view["extra_specs"] = {k: v for k, v in t["extra_specs"].items()
                                   if k in ("multiattach", "RESKEY:availability_zones", "replication_enabled")}
        return view

    def need_admin(req, action: str) -> None:
        if not req.is_admin:
            raise cinder_error(403, f"Policy doesn't allow {action} to be performed.")

    def type_in_use(t) -> bool:
        return any(v["volume_type_id"] == t["id"] for v in cloud.volumes.values())

    def list_types(req, pid):
        mv(req)
        with cloud.lock:
            # Cinder: is_public defaults to True (public types plus those shared with the
            # caller's project); only an admin may ask for is_public=false or none (all)
            raw_public = req.q("is_public") if req.is_admin else None
            if raw_public is not None and raw_public.lower() == "none":
                items = list(cloud.types.values())
            elif raw_public is not None and raw_public.lower() in ("false", "0", "no", "off"):
                items = [t for t in cloud.types.values() if not t["is_public"]]
            else:
                items = [t for t in cloud.types.values() if t["is_public"] or req.project_id in t["access"]]
            items = sorted(items, key=lambda t: t["created_at"], reverse=True)
            page, _ = _paginate(items, req)
            return 200, {"volume_types": [type_view(req, t) for t in page]}

    def create_type(req, pid):
        mv(req)
        need_admin(req, "volume_extension:types_manage")
        body = _json_body(req, "volume_type")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise cinder_error(400, "Invalid input received: The type name must be a non-empty string.")
        is_public = body.get("os-volume-type-access:is_public", body.get("is_public", True))
        if isinstance(is_public, str):
            if is_public.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise cinder_error(400, f"Invalid value '{is_public}' for is_public. Accepted values: True or False.")
            is_public = is_public.lower() in ("true", "1", "yes", "on")
        specs = body.get("extra_specs") or {}
        if not isinstance(specs, dict) or not all(isinstance(k, str) for k in specs):
            raise cinder_error(400, "Invalid input received: extra_specs must be a dictionary.")
        with cloud.lock:
            if any(t["name"] == name for t in cloud.types.values()):
                raise cinder_error(409, f"Volume Type {name} already exists.")
            t = {"id": str(uuid.uuid4()), "name": name, "description": body.get("description"),
                 "is_public": bool(is_public), "extra_specs": {k: str(v) for k, v in specs.items()},
                 "qos_specs_id": None, "access": set(), "created_at": _now()}
            cloud.types[t["id"]] = t
            print(f"cinder: volume type {name} ({t['id']}) created, extra_specs {t['extra_specs']}", flush=True)
            return 200, {"volume_type": type_view(req, t)}

    def show_type(req, pid, ref):
        mv(req)
        with cloud.lock:
            if ref == "default":
                t = next(x for x in cloud.types.values() if x["name"] == DEFAULT_VOLUME_TYPE)
            else:
                t = find_type(req, ref)
            return 200, {"volume_type": type_view(req, t)}

    def update_type(req, pid, ref):
        mv(req)
        need_admin(req, "volume_extension:types_manage")
        body = _json_body(req, "volume_type")
        with cloud.lock:
            t = find_type(req, ref)
            if "name" in body and body["name"] is not None:
                if not str(body["name"]).strip():
                    raise cinder_error(400, "Invalid input received: The type name must be a non-empty string.")
                if any(x["name"] == body["name"] and x["id"] != t["id"] for x in cloud.types.values()):
                    raise cinder_error(409, f"Volume Type {body['name']} already exists.")
                t["name"] = body["name"]
            if "description" in body:
                t["description"] = body["description"]
            for key in ("is_public", "os-volume-type-access:is_public"):
                if key in body and body[key] is not None:
                    value = body[key]
                    t["is_public"] = value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
            return 200, {"volume_type": type_view(req, t)}

    def delete_type(req, pid, ref):
        mv(req)
        need_admin(req, "volume_extension:types_manage")
        with cloud.lock:
            t = find_type(req, ref)
            if t["name"] == DEFAULT_VOLUME_TYPE:
                raise cinder_error(400, "Target volume type is still in use. The default volume type "
                                        "cannot be deleted.")
            if type_in_use(t):
                print(f"cinder: refused to delete volume type {t['name']}: still in use", flush=True)
                raise cinder_error(400, "Target volume type is still in use.")
            del cloud.types[t["id"]]
            print(f"cinder: volume type {t['name']} ({t['id']}) deleted", flush=True)
            return 202, None

    def check_specs_update(t):
        if type_in_use(t):
            raise cinder_error(400, "Volume Type is currently in use.")

    def list_specs(req, pid, ref):
        mv(req)
        with cloud.lock:
            t = find_type(req, ref)
            return 200, {"extra_specs": type_view(req, t)["extra_specs"]}

    def create_specs(req, pid, ref):
        mv(req)
        need_admin(req, "volume_extension:types_extra_specs:create")
        body = _json_body(req, "extra_specs")
        with cloud.lock:
            t = find_type(req, ref)
            check_specs_update(t)
            for k, v in body.items():
                if not isinstance(k, str) or not k or len(k) > 255:
                    raise cinder_error(400, "Invalid input received: Invalid extra spec key.")
            t["extra_specs"].update({k: str(v) for k, v in body.items()})
            return 200, {"extra_specs": {k: str(v) for k, v in body.items()}}

    def show_spec(req, pid, ref, key):
        mv(req)
        with cloud.lock:
            t = find_type(req, ref)
            specs = type_view(req, t)["extra_specs"]
            if key not in specs:
                raise cinder_error(404, f"Volume Type {t['id']} has no extra specs with key {key}.")
            return 200, {key: specs[key]}

    def update_spec(req, pid, ref, key):
        mv(req)
        need_admin(req, "volume_extension:types_extra_specs:update")
        body = _json_body(req, None)
        if key not in body or len(body) != 1:
            raise cinder_error(400, "Request body and URI mismatch")
        with cloud.lock:
            t = find_type(req, ref)
            check_specs_update(t)
            t["extra_specs"][key] = str(body[key])
            return 200, {key: str(body[key])}

    def delete_spec(req, pid, ref, key):
        mv(req)
        need_admin(req, "volume_extension:types_extra_specs:delete")
        with cloud.lock:
            t = find_type(req, ref)
            check_specs_update(t)
            if key not in t["extra_specs"]:
                raise cinder_error(404, f"Volume Type {t['id']} has no extra specs with key {key}.")
            del t["extra_specs"][key]
            return 202, None

    def type_access(req, pid, ref):
        mv(req)
        need_admin(req, "volume_extension:volume_type_access")
        with cloud.lock:
            t = find_type(req, ref)
            if t["is_public"]:
                raise cinder_error(404, "Access list not available for public volume types.")
            return 200, {"volume_type_access": [{"volume_type_id": t["id"], "project_id": p}
                                                for p in sorted(t["access"])]}

    def type_action(req, pid, ref):
        mv(req)
        body = _json_body(req, None)
        with cloud.lock:
            t = find_type(req, ref)
            if "addProjectAccess" in body:
                need_admin(req, "volume_extension:volume_type_access:addProjectAccess")
                if t["is_public"]:
                    raise cinder_error(400, "Invalid volume type: Type access modification is not applicable "
                                            "to public volume type.")
                project = (body["addProjectAccess"] or {}).get("project")
                if project in t["access"]:
                    raise cinder_error(409, f"Volume type access for {t['id']} / {project} combination "
                                            "already exists.")
                t["access"].add(project)
                return 202, None
            if "removeProjectAccess" in body:
                need_admin(req, "volume_extension:volume_type_access:removeProjectAccess")
                project = (body["removeProjectAccess"] or {}).get("project")
                if project not in t["access"]:
                    raise cinder_error(404, f"Volume type access not found for {t['id']} / {project} combination.")
                t["access"].discard(project)
                return 202, None
        raise cinder_error(400, "There is no such action")

    # ---- volumes
    def volume_view(req, v, version) -> dict:
        t = cloud.types.get(v["volume_type_id"])
        view = {
            "id": v["id"], "name": v["name"], "status": v["status"], "size": v["size"],
            "availability_zone": v["availability_zone"], "created_at": _ts_cinder(v["created_at"]),
            "updated_at": _ts_cinder(v["updated_at"]) if v["updated_at"] else None,
            "attachments": [dict(a) for a in v["attachments"]], "description": v["description"],
            "volume_type": t["name"] if t else v["volume_type_name"], "snapshot_id": None,
            "source_volid": None, "metadata": dict(v["metadata"]), "user_id": v["user_id"],
            "bootable": "false", "encrypted": False, "replication_status": None,
            "consistencygroup_id": None, "multiattach": v["multiattach"],
            "links": [{"rel": "self", "href": f"{cloud.base}/volume/v3/{v['project_id']}/volumes/{v['id']}"},
                      {"rel": "bookmark", "href": f"{cloud.base}/volume/volumes/{v['id']}"}],
            "os-vol-tenant-attr:tenant_id": v["project_id"],
        }
        if req.is_admin:
            view.update({"os-vol-host-attr:host": "devstack@lvmdriver-1#lvmdriver-1",
                         "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None,
                         "migration_status": None})
        if version >= (3, 13):
            view["group_id"] = None
        if version >= (3, 21):
            view["provider_id"] = None
        if version >= (3, 48):
            view["shared_targets"] = False
            view["service_uuid"] = _uuid("cinder-volume-service")
        if version >= (3, 61) and req.is_admin:
            view["cluster_name"] = None
        if version >= (3, 63):
            view["volume_type_id"] = v["volume_type_id"]
        if version >= (3, 65):
            view["consumes_quota"] = True
        return view

    def visible_volume(req, v) -> bool:
        return req.is_admin or v["project_id"] == req.project_id

    def find_volume(req, vid) -> dict:
        v = cloud.volumes.get(vid)
        if v is None or not visible_volume(req, v):
            raise cinder_error(404, f"Volume {vid} could not be found.")
        return v

    def list_volumes(req, pid, detail):
        version = mv(req)
        with cloud.lock:
            items = list(cloud.volumes.values())
            all_tenants = req.is_admin and (req.flag("all_tenants") or req.flag("all_projects"))
            project = req.q("project_id")
            if not all_tenants:
                items = [v for v in items if v["project_id"] == req.project_id]
            elif project:
                items = [v for v in items if v["project_id"] == project]
            for key in ("name", "status", "availability_zone", "bootable"):
                value = req.q(key)
                if value is not None:
                    items = [v for v in items if str(v.get(key, "false")) == value]
            value = req.q("volume_type") or req.q("volume_type_id")
            if value:
                items = [v for v in items if value in (v["volume_type_id"], cloud.types.get(v["volume_type_id"], {}).get("name"))]
            items = sorted(items, key=lambda v: v["created_at"], reverse=True)
            page, more = _paginate(items, req)
            if detail:
                body = {"volumes": [volume_view(req, v, version) for v in page]}
            else:
                body = {"volumes": [{"id": v["id"], "name": v["name"], "links": volume_view(req, v, version)["links"]}
                                    for v in page]}
            if more:
                body["volumes_links"] = [{"rel": "next", "href":
                                          f"{cloud.base}/volume/v3/{pid}/volumes{'/detail' if detail else ''}"
                                          f"?limit={req.q('limit')}&marker={page[-1]['id']}"}]
            if version >= (3, 45) and req.flag("with_count"):
                body["count"] = len(items)
            return 200, body

    def create_volume(req, pid):
        version = mv(req)
        body = _json_body(req, "volume")
        size = body.get("size")
        if body.get("source_volid") or body.get("snapshot_id") or body.get("imageRef") or body.get("backup_id"):
            raise cinder_error(400, "Invalid input received: the lab's Cinder double creates only blank volumes.")
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise cinder_error(400, f"Invalid input received: Volume size '{size}' must be an integer "
                                    "and greater than 0.")
        if size < 1:
            raise cinder_error(400, f"Invalid input received: Volume size '{size}' must be an integer "
                                    "and greater than 0.")
        with cloud.lock:
            ref = body.get("volume_type")
            if ref:
                t = cloud.types.get(ref) or next((x for x in cloud.types.values() if x["name"] == ref), None)
                if t is None or not visible_type(req, t):
                    raise cinder_error(404, f"Volume type with name {ref} could not be found.")
            else:
                t = next(x for x in cloud.types.values() if x["name"] == DEFAULT_VOLUME_TYPE)
            multiattach = t["extra_specs"].get("multiattach") == MULTIATTACH_SPEC
            now = _now()
            v = {"id": str(uuid.uuid4()), "name": body.get("name"), "description": body.get("description"),
                 "size": size, "status": "creating", "volume_type_id": t["id"], "volume_type_name": t["name"],
                 "multiattach": multiattach, "availability_zone": body.get("availability_zone") or "nova",
                 "metadata": {str(k): str(x) for k, x in (body.get("metadata") or {}).items()},
                 "project_id": req.project_id, "user_id": req.user["user_id"], "created_at": now,
                 "updated_at": None, "attachments": []}
            cloud.volumes[v["id"]] = v
            print(f"cinder: volume {v['id']} ({v['name']}) creating, type {t['name']}, "
                  f"multiattach {multiattach}", flush=True)

            def done(vid=v["id"]):
                vol = cloud.volumes.get(vid)
                if vol and vol["status"] == "creating":
                    vol["status"], vol["updated_at"] = "available", _now()
                    print(f"cinder: volume {vid} available", flush=True)

            cloud.later(cloud.delays["volume_create"], done)
            return 202, {"volume": volume_view(req, v, version)}

    def show_volume(req, pid, vid):
        version = mv(req)
        with cloud.lock:
            return 200, {"volume": volume_view(req, find_volume(req, vid), version)}

    def update_volume(req, pid, vid):
        version = mv(req)
        body = _json_body(req, "volume")
        with cloud.lock:
            v = find_volume(req, vid)
            for key in ("name", "description"):
                if key in body:
                    v[key] = body[key]
            if "display_name" in body:
                v["name"] = body["display_name"]
            if isinstance(body.get("metadata"), dict):
                v["metadata"] = {str(k): str(x) for k, x in body["metadata"].items()}
            v["updated_at"] = _now()
            return 200, {"volume": volume_view(req, v, version)}

    def start_delete(v, force=False):
        v["status"], v["updated_at"] = "deleting", _now()
        print(f"cinder: volume {v['id']} deleting", flush=True)

        def gone(vid=v["id"]):
            if vid in cloud.volumes and cloud.volumes[vid]["status"] == "deleting":
                del cloud.volumes[vid]
                print(f"cinder: volume {vid} deleted", flush=True)

        cloud.later(cloud.delays["volume_delete"], gone)

    def delete_volume(req, pid, vid):
        mv(req)
        with cloud.lock:
            v = find_volume(req, vid)
            if req.flag("force"):
                need_admin(req, "volume_extension:volume_admin_actions:force_delete")
            elif v["attachments"] or v["status"] not in ("available", "error", "error_restoring",
                                                          "error_extending", "error_managing"):
                raise cinder_error(400, "Invalid volume: Volume status must be available or error or "
                                        "error_restoring or error_extending or error_managing and must not be "
                                        "migrating, attached, belong to a group, have snapshots, awaiting a "
                                        "transfer, or be disassociated from snapshots after volume transfer.")
            if v["status"] == "deleting":
                return 202, None
            if v["attachments"]:
                raise cinder_error(400, "Invalid volume: Volume must not be attached.")
            start_delete(v)
            return 202, None

    def volume_action(req, pid, vid):
        mv(req)
        body = _json_body(req, None)
        with cloud.lock:
            v = find_volume(req, vid)
            if "os-extend" in body:
                new = int((body["os-extend"] or {}).get("new_size", 0))
                if v["status"] != "available":
                    raise cinder_error(400, f"Invalid volume: Volume {vid} status must be 'available' to extend, "
                                            f"but the current status is: {v['status']}.")
                if new <= v["size"]:
                    raise cinder_error(400, f"Invalid input received: New size for extend must be greater than "
                                            f"current size. (current: {v['size']}, extended: {new}).")
                v["size"], v["updated_at"] = new, _now()
                return 202, None
            if "os-reset_status" in body:
                need_admin(req, "volume_extension:volume_admin_actions:reset_status")
                status = (body["os-reset_status"] or {}).get("status")
                if status:
                    v["status"] = status
                if (body["os-reset_status"] or {}).get("attach_status") == "detached":
                    v["attachments"] = []
                    for server in cloud.servers.values():
                        server["attachments"] = [a for a in server["attachments"] if a["volume_id"] != vid]
                return 202, None
            if "os-force_delete" in body:
                need_admin(req, "volume_extension:volume_admin_actions:force_delete")
                if v["attachments"]:
                    raise cinder_error(400, "Invalid volume: Volume must not be attached.")
                start_delete(v, force=True)
                return 202, None
            if "os-set_bootable" in body or "os-update_readonly_flag" in body:
                return 200, None
        raise cinder_error(400, "There is no such action: " + ",".join(body))

    def limits(req, pid):
        mv(req)
        with cloud.lock:
            mine = [v for v in cloud.volumes.values() if v["project_id"] == req.project_id]
        return 200, {"limits": {"rate": [], "absolute": {
            "totalSnapshotsUsed": 0, "maxTotalBackups": 10, "maxTotalVolumeGigabytes": 1000,
            "maxTotalSnapshots": 10, "maxTotalBackupGigabytes": 1000, "totalBackupGigabytesUsed": 0,
            "maxTotalVolumes": 10, "totalVolumesUsed": len(mine), "totalBackupsUsed": 0,
            "totalGigabytesUsed": sum(v["size"] for v in mine)}}}

    def availability_zones(req, pid):
        mv(req)
        return 200, {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}

    api.add("GET", r"/volume", root, auth=False)
    api.add("GET", r"/volume/v3", v3_root, auth=False)
    api.add("GET", V, v3_root, auth=False)
    api.add("GET", V + r"/types", list_types)
    api.add("POST", V + r"/types", create_type)
    api.add("GET", V + r"/types/([^/]+)", show_type)
    api.add("PUT", V + r"/types/([^/]+)", update_type)
    api.add("DELETE", V + r"/types/([^/]+)", delete_type)
    api.add("GET", V + r"/types/([^/]+)/extra_specs", list_specs)
    api.add("POST", V + r"/types/([^/]+)/extra_specs", create_specs)
    api.add("GET", V + r"/types/([^/]+)/extra_specs/([^/]+)", show_spec)
    api.add("PUT", V + r"/types/([^/]+)/extra_specs/([^/]+)", update_spec)
    api.add("DELETE", V + r"/types/([^/]+)/extra_specs/([^/]+)", delete_spec)
    api.add("GET", V + r"/types/([^/]+)/os-volume-type-access", type_access)
    api.add("POST", V + r"/types/([^/]+)/action", type_action)
    api.add("GET", V + r"/volumes", lambda req, pid: list_volumes(req, pid, False))
    api.add("GET", V + r"/volumes/detail", lambda req, pid: list_volumes(req, pid, True))
    api.add("POST", V + r"/volumes", create_volume)
    api.add("GET", V + r"/volumes/([^/]+)", show_volume)
    api.add("PUT", V + r"/volumes/([^/]+)", update_volume)
    api.add("DELETE", V + r"/volumes/([^/]+)", delete_volume)
    api.add("POST", V + r"/volumes/([^/]+)/action", volume_action)
    api.add("GET", V + r"/limits", limits)
    api.add("GET", V + r"/os-availability-zone", availability_zones)


# =========================================================================== nova
def _nova_routes(api: Api) -> None:
    cloud = api.cloud
    C = r"/compute/v2\.1"

    def mv(req) -> tuple[int, int]:
        version = req.microversion("compute", "X-OpenStack-Nova-API-Version", (2, 1), NOVA_MAX)
        text = f"{version[0]}.{version[1]}"
        req.response_headers["OpenStack-API-Version"] = f"compute {text}"
        req.response_headers["X-OpenStack-Nova-API-Version"] = text
        req.response_headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return version

    def versions():
        return [{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                 "updated": "2011-01-21T11:33:21Z",
                 "links": [{"rel": "self", "href": f"{cloud.base}/compute/v2/"}]},
                {"id": "v2.1", "status": "CURRENT", "version": f"{NOVA_MAX[0]}.{NOVA_MAX[1]}",
                 "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
                 "links": [{"rel": "self", "href": f"{cloud.base}/compute/v2.1/"}]}]

    def root(req):
        return 200, {"versions": versions()}

    def v21(req):
        doc = dict(versions()[1])
        doc["media-types"] = [{"base": "application/json",
                               "type": "application/vnd.openstack.compute+json;version=2.1"}]
        return 200, {"version": doc}

    def visible(req, s) -> bool:
        return req.is_admin or s["project_id"] == req.project_id

    def find_server(req, sid) -> dict:
        s = cloud.servers.get(sid)
        if s is None or not visible(req, s):
            raise nova_error(404, f"Instance {sid} could not be found.")
        return s

    def server_view(req, s, version, detail=True) -> dict:
        links = [{"rel": "self", "href": f"{cloud.base}/compute/v2.1/servers/{s['id']}"},
                 {"rel": "bookmark", "href": f"{cloud.base}/compute/servers/{s['id']}"}]
        if not detail:
            return {"id": s["id"], "name": s["name"], "links": links}
        flavor = ({"vcpus": 2, "ram": 4096, "disk": 20, "ephemeral": 0, "swap": 0,
                   "original_name": "m1.medium", "extra_specs": {}} if version >= (2, 47)
                  else {"id": "3", "links": [{"rel": "bookmark", "href": f"{cloud.base}/compute/flavors/3"}]})
        view = {
            "id": s["id"], "name": s["name"], "status": "ACTIVE", "tenant_id": s["project_id"],
            "user_id": s["user_id"], "metadata": {}, "hostId": _hex_id("host:" + COMPUTE_HOST)[:28] * 2,
            "image": {"id": _uuid("image:ubuntu"), "links": []}, "flavor": flavor,
            "created": _ts_z(s["created"]), "updated": _ts_z(s["created"]),
            "addresses": {"private": [{"version": 4, "addr": s["ip"], "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": s["mac"]}]},
            "accessIPv4": "", "accessIPv6": "", "links": links, "OS-DCF:diskConfig": "MANUAL",
            "progress": 0, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "",
            "key_name": None, "OS-SRV-USG:launched_at": _ts_cinder(s["created"]),
            "OS-SRV-USG:terminated_at": None, "security_groups": [{"name": "default"}],
            "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
            "os-extended-volumes:volumes_attached": [
                {"id": a["volume_id"], **({"delete_on_termination": False} if version >= (2, 3) else {})}
                for a in s["attachments"]],
        }
        if req.is_admin:
            view.update({"OS-EXT-SRV-ATTR:host": COMPUTE_HOST, "OS-EXT-SRV-ATTR:instance_name":
                         "instance-%08x" % (list(cloud.servers).index(s["id"]) + 1),
                         "OS-EXT-SRV-ATTR:hypervisor_hostname": COMPUTE_HOST})
            if version >= (2, 3):
                view.update({"OS-EXT-SRV-ATTR:hostname": s["name"], "OS-EXT-SRV-ATTR:reservation_id": "r-lab",
                             "OS-EXT-SRV-ATTR:launch_index": 0, "OS-EXT-SRV-ATTR:kernel_id": "",
                             "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                             "OS-EXT-SRV-ATTR:user_data": None})
        if version >= (2, 9):
            view["locked"] = False
        if version >= (2, 19):
            view["description"] = None
        if version >= (2, 26):
            view["tags"] = []
        if version >= (2, 73):
            view["locked_reason"] = None
        if version >= (2, 96):
            view["pinned_availability_zone"] = None
        return view

    def list_servers(req, detail):
        version = mv(req)
        with cloud.lock:
            items = list(cloud.servers.values())
            if not (req.is_admin and (req.flag("all_tenants") or req.flag("all_projects"))):
                items = [s for s in items if s["project_id"] == req.project_id]
            name = req.q("name")
            if name:
                try:
                    pattern = re.compile(name)
                except re.error:
                    raise nova_error(400, f"Invalid regular expression {name}")
                items = [s for s in items if pattern.search(s["name"])]
            status = req.q("status")
            if status and status.upper() != "ACTIVE":
                items = []
            ip = req.q("ip")
            if ip:
                items = [s for s in items if re.search(ip, s["ip"])]
            page, more = _paginate(items, req, nova_error)
            body = {"servers": [server_view(req, s, version, detail) for s in page]}
            if more:
                body["servers_links"] = [{"rel": "next", "href": f"{cloud.base}/compute/v2.1/servers"
                                          f"{'/detail' if detail else ''}?limit={req.q('limit')}"
                                          f"&marker={page[-1]['id']}"}]
            return 200, body

    def show_server(req, sid):
        version = mv(req)
        with cloud.lock:
            return 200, {"server": server_view(req, find_server(req, sid), version)}

    def attachment_view(a, sid, version) -> dict:
        view = {"device": a["device"], "serverId": sid, "volumeId": a["volume_id"]}
        if version < (2, 89):
            view["id"] = a["volume_id"]
        if version >= (2, 70):
            view["tag"] = a.get("tag")
        if version >= (2, 79):
            view["delete_on_termination"] = a.get("delete_on_termination", False)
        if version >= (2, 89):
            view["attachment_id"] = a["attachment_id"]
            view["bdm_uuid"] = a["bdm_uuid"]
        return view

    def attach(req, sid):
        version = mv(req)
        body = _json_body(req, "volumeAttachment", nova_error)
        vid = body.get("volumeId")
        if not isinstance(vid, str) or not vid:
            raise nova_error(400, "Invalid input for field/attribute volumeId. Value: None. "
                                  "None is not of type 'string'")
        with cloud.lock:
            server = find_server(req, sid)
            v = cloud.volumes.get(vid)
            if v is None or not (req.is_admin or v["project_id"] == req.project_id):
                raise nova_error(404, f"Volume {vid} could not be found.")
            if any(a["volume_id"] == vid for a in server["attachments"]):
                raise nova_error(400, f"Invalid volume: volume {vid} already attached")
            if v["multiattach"] and version < (2, 60):
                print(f"nova: refused multiattach volume {vid} to {server['name']}: microversion "
                      f"{version[0]}.{version[1]} < 2.60", flush=True)
                raise nova_error(400, "Multiattach volumes are only supported starting with compute API "
                                      "version 2.60.")
            if v["status"] == "in-use" and not v["multiattach"]:
                print(f"nova: refused volume {vid} to {server['name']}: in-use and not multiattach", flush=True)
                raise nova_error(400, f"Invalid volume: volume {vid} is already attached to another instance "
                                      f"(Volume {vid} status must be available or downloading to reserve, "
                                      f"but the current status is in-use.)")
            if v["status"] not in ("available", "in-use"):
                raise nova_error(400, f"Invalid volume: Volume {vid} status must be available or downloading "
                                      f"to reserve, but the current status is {v['status']}.")
            used = {a["device"] for a in server["attachments"]} | {"/dev/vda"}
            wanted = body.get("device")
            device = wanted if wanted and wanted not in used else next(
                f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in used)
            attachment_id = str(uuid.uuid4())
            record = {"volume_id": vid, "device": device, "attachment_id": attachment_id,
                      "bdm_uuid": str(uuid.uuid4()), "tag": body.get("tag"),
                      "delete_on_termination": bool(body.get("delete_on_termination", False))}
            server["attachments"].append(record)
            v["attachments"].append({"id": vid, "attachment_id": attachment_id, "volume_id": vid,
                                     "server_id": sid, "host_name": COMPUTE_HOST, "device": device,
                                     "attached_at": _ts_cinder()})
            v["status"], v["updated_at"] = "in-use", _now()
            print(f"nova: volume {vid} attached to {server['name']} on {device}", flush=True)
            return 200, {"volumeAttachment": attachment_view(record, sid, version)}

    def list_attachments(req, sid):
        version = mv(req)
        with cloud.lock:
            server = find_server(req, sid)
            items, _ = _paginate([dict(a, id=a["volume_id"]) for a in server["attachments"]], req, nova_error)
            return 200, {"volumeAttachments": [attachment_view(a, sid, version) for a in items]}

    def show_attachment(req, sid, vid):
        version = mv(req)
        with cloud.lock:
            server = find_server(req, sid)
            a = next((a for a in server["attachments"] if a["volume_id"] == vid), None)
            if a is None:
                raise nova_error(404, f"Volume {vid} is not attached to {sid}")
            return 200, {"volumeAttachment": attachment_view(a, sid, version)}

    def detach(req, sid, vid):
        mv(req)
        with cloud.lock:
            server = find_server(req, sid)
            a = next((a for a in server["attachments"] if a["volume_id"] == vid), None)
            if a is None:
                raise nova_error(404, f"Volume {vid} is not attached to {sid}")
            server["attachments"].remove(a)
            v = cloud.volumes.get(vid)
            if v is not None:
                v["attachments"] = [x for x in v["attachments"] if x["attachment_id"] != a["attachment_id"]]
                if not v["attachments"] and v["status"] == "in-use":
                    v["status"] = "available"
                v["updated_at"] = _now()
            print(f"nova: volume {vid} detached from {server['name']}", flush=True)
            return 202, None

    def flavors(req, detail):
        mv(req)
        flavor = {"id": "3", "name": "m1.medium", "links": []}
        if detail:
            flavor.update({"vcpus": 2, "ram": 4096, "disk": 20, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0,
                           "os-flavor-access:is_public": True, "rxtx_factor": 1.0})
        return 200, {"flavors": [flavor]}

    api.add("GET", r"/compute", root, auth=False)
    api.add("GET", C, v21, auth=False)
    api.add("GET", C + r"/servers", lambda req: list_servers(req, False))
    api.add("GET", C + r"/servers/detail", lambda req: list_servers(req, True))
    api.add("GET", C + r"/servers/([^/]+)", show_server)
    api.add("GET", C + r"/servers/([^/]+)/os-volume_attachments", list_attachments)
    api.add("POST", C + r"/servers/([^/]+)/os-volume_attachments", attach)
    api.add("GET", C + r"/servers/([^/]+)/os-volume_attachments/([^/]+)", show_attachment)
    api.add("DELETE", C + r"/servers/([^/]+)/os-volume_attachments/([^/]+)", detach)
    api.add("GET", C + r"/flavors", lambda req: flavors(req, False))
    api.add("GET", C + r"/flavors/detail", lambda req: flavors(req, True))


# =========================================================================== neutron
def _neutron_routes(api: Api) -> None:
    cloud = api.cloud
    N = r"/networking/v2\.0"
    err = neutron_error

    def root(req):
        return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                   "links": [{"rel": "self", "href": f"{cloud.base}/networking/v2.0/"}]}]}

    def v20(req):
        names = ["network", "subnet", "port", "floatingip", "router", "extension"]
        return 200, {"resources": [{"name": n, "collection": n + "s",
                                    "links": [{"rel": "self", "href": f"{cloud.base}/networking/v2.0/{n}s"}]}
                                   for n in names]}

    def extensions(req):
        aliases = ["external-net", "router", "ext-gw-mode", "extraroute", "standard-attr-tag", "tag-ext",
                   "binding", "security-group", "port-security", "dns-integration", "allowed-address-pairs",
                   "standard-attr-description", "standard-attr-timestamp", "standard-attr-revisions",
                   "fip-port-details", "project-id", "pagination", "sorting", "subnet_allocation",
                   "network_availability_zone", "router_availability_zone", "availability_zone", "quotas"]
        return 200, {"extensions": [{"alias": a, "name": a, "description": a, "links": [],
                                     "updated": "2013-01-01T10:00:00-00:00"} for a in aliases]}

    def visible(req, item, shared_ok=False) -> bool:
        return (req.is_admin or item.get("project_id") == req.project_id
                or (shared_ok and (item.get("shared") or item.get("router:external"))))

    def listing(req, collection: str, items: list[dict], shared_ok=False, skip=frozenset()):
        items = [i for i in items if visible(req, i, shared_ok)]
        items = _filter_generic(items, req, skip)
        page, more = _paginate(items, req, err)
        body = {collection: [copy.deepcopy(i) for i in page]}
        if more:
            body[collection + "_links"] = [{"rel": "next", "href": f"{cloud.base}/networking/v2.0/{collection}"
                                            f"?limit={req.q('limit')}&marker={page[-1]['id']}"}]
        return 200, body

    def getter(store: dict, kind: str, shared_ok=False):
        def get(req, item_id):
            with cloud.lock:
                item = getattr(cloud, store).get(item_id)
                if item is None or not visible(req, item, shared_ok):
                    raise err(404, f"{kind.capitalize()} {item_id} could not be found.", f"{kind.capitalize()}NotFound")
                return 200, {kind: copy.deepcopy(item)}
        return get

    def list_networks(req):
        with cloud.lock:
            return listing(req, "networks", list(cloud.networks.values()), shared_ok=True)

    def list_subnets(req):
        with cloud.lock:
            subnets = [dict(s, shared=cloud.networks[s["network_id"]]["router:external"])
                       for s in cloud.subnets.values()]
            status, body = listing(req, "subnets", subnets, shared_ok=True)
            for s in body["subnets"]:
                s.pop("shared", None)
            return status, body

    def list_routers(req):
        with cloud.lock:
            return listing(req, "routers", list(cloud.routers.values()))

    def list_ports(req):
        with cloud.lock:
            items = list(cloud.ports.values())
            for value in req.query.get("fixed_ips", []):
                wanted = dict(part.split("=", 1) for part in value.split("&") if "=" in part)
                items = [p for p in items if any(all(f.get(k) == x for k, x in wanted.items())
                                                 for f in p["fixed_ips"])]
            return listing(req, "ports", items, skip={"fixed_ips"})

    def create_port(req):
        body = _json_body(req, "port", err)
        with cloud.lock:
            net = cloud.networks.get(body.get("network_id"))
            if net is None:
                raise err(404, f"Network {body.get('network_id')} could not be found.", "NetworkNotFound")
            fixed = (body.get("fixed_ips") or [{}])[0]
            subnet_id = fixed.get("subnet_id") or net["subnets"][0]
            ip = cloud._allocate_ip(subnet_id, fixed.get("ip_address"))
            port = cloud._new_port(net["id"], subnet_id, ip, body.get("name", ""), body.get("device_owner", ""),
                                   body.get("device_id", ""), req.project_id, description=body.get("description", ""))
            return 201, {"port": copy.deepcopy(port)}

    def update_port(req, port_id):
        body = _json_body(req, "port", err)
        with cloud.lock:
            port = cloud.ports.get(port_id)
            if port is None or not visible(req, port):
                raise err(404, f"Port {port_id} could not be found.", "PortNotFound")
            for key in ("name", "description", "device_id", "device_owner", "admin_state_up",
                        "allowed_address_pairs", "security_groups"):
                if key in body:
                    port[key] = body[key]
            port["revision_number"] += 1
            port["updated_at"] = _ts_z()
            return 200, {"port": copy.deepcopy(port)}

    def delete_port(req, port_id):
        with cloud.lock:
            port = cloud.ports.get(port_id)
            if port is None or not visible(req, port):
                raise err(404, f"Port {port_id} could not be found.", "PortNotFound")
            _remove_port(port_id)
            return 204, None

    def _remove_port(port_id):
        cloud.ports.pop(port_id, None)
        for fip in cloud.floatingips.values():
            if fip["port_id"] == port_id:
                fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None,
                           port_details=None)
        cloud.amphorae_dirty.set()

    cloud.remove_port = _remove_port

    def fip_bind(fip, port_id, fixed_ip=None):
        if port_id is None:
            fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None, port_details=None)
            return
        port = cloud.ports.get(port_id)
        if port is None:
            raise err(404, f"Port {port_id} could not be found.", "PortNotFound")
        if not port["fixed_ips"]:
            raise err(400, f"Bad floatingip request: Port {port_id} does not have any IP addresses.")
        other = next((f for f in cloud.floatingips.values() if f["port_id"] == port_id and f["id"] != fip["id"]), None)
        if other is not None:
            raise err(409, f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with port "
                           f"{port_id} using fixed IP {port['fixed_ips'][0]['ip_address']}, as that fixed IP "
                           f"already has a floating IP on external network {PUBLIC_NET_ID}.",
                      "FloatingIPPortAlreadyAssociated")
        fip.update(port_id=port_id, fixed_ip_address=fixed_ip or port["fixed_ips"][0]["ip_address"],
                   status="ACTIVE", router_id=ROUTER_ID,
                   port_details={"name": port["name"], "network_id": port["network_id"],
                                 "mac_address": port["mac_address"], "admin_state_up": True,
                                 "status": "ACTIVE", "device_id": port["device_id"],
                                 "device_owner": port["device_owner"]})

    def list_fips(req):
        with cloud.lock:
            return listing(req, "floatingips", list(cloud.floatingips.values()))

    def create_fip(req):
        body = _json_body(req, "floatingip", err)
        with cloud.lock:
            net = cloud.networks.get(body.get("floating_network_id"))
            if net is None:
                raise err(404, f"Network {body.get('floating_network_id')} could not be found.", "NetworkNotFound")
            if not net["router:external"]:
                raise err(400, f"Bad floatingip request: Network {net['id']} is not a valid external network.")
            subnet_id = body.get("subnet_id") or net["subnets"][0]
            address = cloud._allocate_ip(subnet_id, body.get("floating_ip_address"))
            stamp = _ts_z()
            fip = {"id": str(uuid.uuid4()), "floating_ip_address": address, "floating_network_id": net["id"],
                   "fixed_ip_address": None, "port_id": None, "router_id": None, "status": "DOWN",
                   "project_id": req.project_id, "tenant_id": req.project_id,
                   "description": body.get("description", ""), "tags": [], "port_details": None,
                   "dns_domain": "", "dns_name": "", "qos_policy_id": None, "port_forwardings": [],
                   "created_at": stamp, "updated_at": stamp, "revision_number": 0}
            if body.get("port_id"):
                fip_bind(fip, body["port_id"], body.get("fixed_ip_address"))
            cloud.floatingips[fip["id"]] = fip
            cloud.amphorae_dirty.set()
            print(f"neutron: floating IP {address} created (port {fip['port_id']})", flush=True)
            return 201, {"floatingip": copy.deepcopy(fip)}

    def update_fip(req, fid):
        body = _json_body(req, "floatingip", err)
        with cloud.lock:
            fip = cloud.floatingips.get(fid)
            if fip is None or not visible(req, fip):
                raise err(404, f"Floating IP {fid} could not be found", "FloatingIPNotFound")
            if "port_id" in body:
                fip_bind(fip, body["port_id"], body.get("fixed_ip_address"))
            if "description" in body:
                fip["description"] = body["description"]
            fip["revision_number"] += 1
            fip["updated_at"] = _ts_z()
            cloud.amphorae_dirty.set()
            return 200, {"floatingip": copy.deepcopy(fip)}

    def delete_fip(req, fid):
        with cloud.lock:
            fip = cloud.floatingips.get(fid)
            if fip is None or not visible(req, fip):
                raise err(404, f"Floating IP {fid} could not be found", "FloatingIPNotFound")
            del cloud.floatingips[fid]
            cloud.amphorae_dirty.set()
            print(f"neutron: floating IP {fip['floating_ip_address']} deleted", flush=True)
            return 204, None

    def tags(store):
        def put_tag(req, item_id, tag):
            with cloud.lock:
                item = getattr(cloud, store).get(item_id)
                if item is None or not visible(req, item):
                    raise err(404, f"{store} {item_id} could not be found.")
                if tag not in item["tags"]:
                    item["tags"].append(tag)
                return 201, None

        def put_tags(req, item_id):
            body = _json_body(req, None, err)
            with cloud.lock:
                item = getattr(cloud, store).get(item_id)
                if item is None or not visible(req, item):
                    raise err(404, f"{store} {item_id} could not be found.")
                item["tags"] = list(body.get("tags") or [])
                return 200, {"tags": item["tags"]}
        return put_tag, put_tags

    api.add("GET", r"/networking", root, auth=False)
    api.add("GET", N, v20, error=err)
    api.add("GET", N + r"/extensions", extensions, error=err)
    api.add("GET", N + r"/networks", list_networks, error=err)
    api.add("GET", N + r"/networks/([^/]+)", getter("networks", "network", True), error=err)
    api.add("GET", N + r"/subnets", list_subnets, error=err)
    api.add("GET", N + r"/subnets/([^/]+)", getter("subnets", "subnet", True), error=err)
    api.add("GET", N + r"/routers", list_routers, error=err)
    api.add("GET", N + r"/routers/([^/]+)", getter("routers", "router"), error=err)
    api.add("GET", N + r"/ports", list_ports, error=err)
    api.add("POST", N + r"/ports", create_port, error=err)
    api.add("GET", N + r"/ports/([^/]+)", getter("ports", "port"), error=err)
    api.add("PUT", N + r"/ports/([^/]+)", update_port, error=err)
    api.add("DELETE", N + r"/ports/([^/]+)", delete_port, error=err)
    api.add("GET", N + r"/floatingips", list_fips, error=err)
    api.add("POST", N + r"/floatingips", create_fip, error=err)
    api.add("GET", N + r"/floatingips/([^/]+)", getter("floatingips", "floatingip"), error=err)
    api.add("PUT", N + r"/floatingips/([^/]+)", update_fip, error=err)
    api.add("DELETE", N + r"/floatingips/([^/]+)", delete_fip, error=err)
    put_tag, put_tags = tags("floatingips")
    api.add("PUT", N + r"/floatingips/([^/]+)/tags/([^/]+)", put_tag, error=err)
    api.add("PUT", N + r"/floatingips/([^/]+)/tags", put_tags, error=err)


# =========================================================================== octavia
def _octavia_routes(api: Api) -> None:
    cloud = api.cloud
    O = r"/load-balancer/v2(?:\.\d+)?/lbaas"
    err = octavia_error

    def root(req):
        return 200, {"versions": [
            {"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z",
             "links": [{"href": f"{cloud.base}/load-balancer/v2.0", "rel": "self"}]},
            {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-08T00:00:00Z",
             "links": [{"href": f"{cloud.base}/load-balancer/v2", "rel": "self"}]}]}

    def v2(req):
        return 200, {"version": {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-08T00:00:00Z",
                                 "links": [{"href": f"{cloud.base}/load-balancer/v2", "rel": "self"}]}}

    def public(obj) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def lb_view(lb):
        view = public(lb)
        view["listeners"] = [{"id": i} for i in lb["_listeners"]]
        view["pools"] = [{"id": i} for i in lb["_pools"]]
        return view

    def pool_view(pool):
        view = public(pool)
        view["members"] = [{"id": i} for i in pool["_members"]]
        return view

    def visible(req, obj) -> bool:
        return req.is_admin or obj["project_id"] == req.project_id

    def get(store, oid, kind, req):
        obj = getattr(cloud, store).get(oid)
        if obj is None or not visible(req, obj):
            raise err(404, f"{kind} {oid} not found.")
        return obj

    def stamp(obj):
        obj["updated_at"] = _ts_octavia()

    def listing(req, collection, items, view):
        items = [i for i in items if visible(req, i)]
        items = _filter_generic([public(i) | {"_obj": i} for i in items], req)
        page, more = _paginate(items, req, err)
        body = {collection: [view(i["_obj"]) for i in page], f"{collection}_links": []}
        if more:
            body[f"{collection}_links"] = [{"rel": "next", "href": f"{cloud.base}/load-balancer/v2/lbaas/"
                                            f"{collection}?limit={req.q('limit')}&marker={page[-1]['id']}"}]
        return 200, body

    def common(req, body, extra: dict) -> dict:
        now = _ts_octavia()
        return {"id": str(uuid.uuid4()), "name": body.get("name") or "", "description": body.get("description") or "",
                "admin_state_up": body.get("admin_state_up", True), "project_id": req.project_id,
                "tenant_id": req.project_id, "provisioning_status": "PENDING_CREATE",
                "operating_status": "OFFLINE", "created_at": now, "updated_at": None,
                "tags": list(body.get("tags") or []), **extra}

    def check_mutable(lb):
        if lb["provisioning_status"] != "ACTIVE":
            raise err(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.")

    def settle(lb_id):
        """After an update: the LB and its children ACTIVE, deleted children gone."""
        lb = cloud.lbs.get(lb_id)
        if lb is None or lb["provisioning_status"] != "PENDING_UPDATE":
            return
        for store, ids in (("listeners", lb["_listeners"]), ("pools", lb["_pools"])):
            for oid in list(ids):
                obj = getattr(cloud, store)[oid]
                if obj["provisioning_status"] == "PENDING_DELETE":
                    remove_child(store, oid)
                else:
                    obj["provisioning_status"] = "ACTIVE"
                    obj["operating_status"] = "ONLINE" if obj["admin_state_up"] else "OFFLINE"
        for pid in list(lb["_pools"]):
            pool = cloud.pools[pid]
            for mid in list(pool["_members"]):
                member = cloud.members[mid]
                if member["provisioning_status"] == "PENDING_DELETE":
                    remove_child("members", mid)
                else:
                    member["provisioning_status"] = "ACTIVE"
                    member["operating_status"] = ("ONLINE" if pool.get("healthmonitor_id") else "NO_MONITOR") \
                        if member["admin_state_up"] else "OFFLINE"
            hm = cloud.monitors.get(pool.get("healthmonitor_id") or "")
            if hm is not None:
                if hm["provisioning_status"] == "PENDING_DELETE":
                    remove_child("monitors", hm["id"])
                else:
                    hm["provisioning_status"], hm["operating_status"] = "ACTIVE", "ONLINE"
        lb["provisioning_status"] = "ACTIVE"
        lb["operating_status"] = "ONLINE"
        stamp(lb)
        cloud.amphorae_dirty.set()
        print(f"octavia: load balancer {lb_id} ACTIVE", flush=True)

    def remove_child(store, oid):
        obj = getattr(cloud, store).pop(oid, None)
        if obj is None:
            return
        if store == "listeners":
            lb = cloud.lbs.get(obj["_lb"])
            if lb:
                lb["_listeners"].remove(oid)
            pool = cloud.pools.get(obj.get("default_pool_id") or "")
            if pool:
                pool["_listeners"] = [i for i in pool["_listeners"] if i != oid]
        elif store == "pools":
            lb = cloud.lbs.get(obj["_lb"])
            if lb:
                lb["_pools"].remove(oid)
            for listener in cloud.listeners.values():
                if listener.get("default_pool_id") == oid:
                    listener["default_pool_id"] = None
            for mid in list(obj["_members"]):
                cloud.members.pop(mid, None)
            if obj.get("healthmonitor_id"):
                cloud.monitors.pop(obj["healthmonitor_id"], None)
        elif store == "members":
            pool = cloud.pools.get(obj["_pool"])
            if pool:
                pool["_members"].remove(oid)
        elif store == "monitors":
            pool = cloud.pools.get(obj["_pool"])
            if pool:
                pool["healthmonitor_id"] = None

    def begin_update(lb):
        lb["provisioning_status"] = "PENDING_UPDATE"
        stamp(lb)
        cloud.later(cloud.delays["lb_update"], lambda lb_id=lb["id"]: settle(lb_id))

    # ---- load balancers
    def list_lbs(req):
        with cloud.lock:
            return listing(req, "loadbalancers", list(cloud.lbs.values()), lb_view)

    def create_lb(req):
        body = _json_body(req, "loadbalancer", err)
        with cloud.lock:
            subnet_id, network_id = body.get("vip_subnet_id"), body.get("vip_network_id")
            if body.get("vip_port_id"):
                port = cloud.ports.get(body["vip_port_id"])
                if port is None:
                    raise err(400, f"Validation failure: Port {body['vip_port_id']} not found.")
                network_id, subnet_id = port["network_id"], port["fixed_ips"][0]["subnet_id"]
            if not subnet_id and not network_id:
                raise err(400, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, "
                               "vip_subnet_id.")
            if subnet_id:
                if subnet_id not in cloud.subnets:
                    raise err(400, f"Validation failure: Subnet {subnet_id} not found.")
                network_id = cloud.subnets[subnet_id]["network_id"]
            else:
                if network_id not in cloud.networks:
                    raise err(400, f"Validation failure: Network {network_id} not found.")
                subnet_id = cloud.networks[network_id]["subnets"][0]
            if body.get("provider") not in (None, "amphora", "octavia"):
                raise err(400, f"Provider '{body['provider']}' is not enabled.")
            lb = common(req, body, {
                "vip_address": None, "vip_port_id": None, "vip_subnet_id": subnet_id,
                "vip_network_id": network_id, "vip_qos_policy_id": None, "provider": "amphora",
                "flavor_id": body.get("flavor_id"), "availability_zone": body.get("availability_zone"),
                "additional_vips": [], "vip_vnic_type": "normal", "vip_sg_ids": None,
                "_listeners": [], "_pools": []})
            if body.get("vip_port_id"):
                port = cloud.ports[body["vip_port_id"]]
            else:
                ip = cloud._allocate_ip(subnet_id, body.get("vip_address"))
                port = cloud._new_port(network_id, subnet_id, ip, f"octavia-lb-{lb['id']}", "Octavia",
                                       f"lb-{lb['id']}", req.project_id)
            lb["vip_port_id"], lb["vip_address"] = port["id"], port["fixed_ips"][0]["ip_address"]
            cloud.lbs[lb["id"]] = lb
            print(f"octavia: load balancer {lb['id']} ({lb['name']}) PENDING_CREATE, VIP {lb['vip_address']}",
                  flush=True)

            def booted(lb_id=lb["id"]):
                obj = cloud.lbs.get(lb_id)
                if obj and obj["provisioning_status"] == "PENDING_CREATE":
                    obj["provisioning_status"] = "PENDING_UPDATE"
                    settle(lb_id)

            cloud.later(cloud.delays["amphora_boot"], booted)
            return 201, {"loadbalancer": lb_view(lb)}

    def show_lb(req, lb_id):
        with cloud.lock:
            return 200, {"loadbalancer": lb_view(get("lbs", lb_id, "Load Balancer", req))}

    def update_lb(req, lb_id):
        body = _json_body(req, "loadbalancer", err)
        with cloud.lock:
            lb = get("lbs", lb_id, "Load Balancer", req)
            check_mutable(lb)
            for key in ("name", "description", "admin_state_up", "tags"):
                if key in body:
                    lb[key] = body[key]
            begin_update(lb)
            return 200, {"loadbalancer": lb_view(lb)}

    def delete_lb(req, lb_id):
        with cloud.lock:
            lb = get("lbs", lb_id, "Load Balancer", req)
            if lb["provisioning_status"] in ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE"):
                raise err(409, f"Invalid state {lb['provisioning_status']} of loadbalancer resource {lb_id}")
            if (lb["_listeners"] or lb["_pools"]) and not req.flag("cascade"):
                raise err(400, f"Cannot delete Load Balancer {lb_id} - it has children")
            lb["provisioning_status"] = "PENDING_DELETE"
            for store, ids in (("listeners", lb["_listeners"]), ("pools", lb["_pools"])):
                for oid in ids:
                    getattr(cloud, store)[oid]["provisioning_status"] = "PENDING_DELETE"
            stamp(lb)
            cloud.amphorae_dirty.set()
            print(f"octavia: load balancer {lb_id} PENDING_DELETE", flush=True)

            def gone(lb_id=lb_id):
                obj = cloud.lbs.get(lb_id)
                if obj is None:
                    return
                for pid in list(obj["_pools"]):
                    remove_child("pools", pid)
                for lid in list(obj["_listeners"]):
                    remove_child("listeners", lid)
                del cloud.lbs[lb_id]
                if obj["vip_port_id"] in cloud.ports and cloud.ports[obj["vip_port_id"]]["device_owner"] == "Octavia":
                    cloud.remove_port(obj["vip_port_id"])
                cloud.amphorae_dirty.set()
                print(f"octavia: load balancer {lb_id} deleted", flush=True)

            cloud.later(cloud.delays["lb_delete"], gone)
            return 204, None

    def lb_status(req, lb_id):
        with cloud.lock:
            lb = get("lbs", lb_id, "Load Balancer", req)
            listeners = []
            for lid in lb["_listeners"]:
                listener = cloud.listeners[lid]
                pools = []
                pool_ids = [listener["default_pool_id"]] if listener.get("default_pool_id") else []
                for pid in pool_ids:
                    pool = cloud.pools.get(pid)
                    if pool is None:
                        continue
                    entry = {"id": pid, "name": pool["name"], "provisioning_status": pool["provisioning_status"],
                             "operating_status": pool["operating_status"],
                             "members": [{"id": m["id"], "name": m["name"], "address": m["address"],
                                          "protocol_port": m["protocol_port"],
                                          "provisioning_status": m["provisioning_status"],
                                          "operating_status": m["operating_status"]}
                                         for m in (cloud.members[i] for i in pool["_members"])]}
                    hm = cloud.monitors.get(pool.get("healthmonitor_id") or "")
                    if hm:
                        entry["health_monitor"] = {"id": hm["id"], "name": hm["name"], "type": hm["type"],
                                                   "provisioning_status": hm["provisioning_status"],
                                                   "operating_status": hm["operating_status"]}
                    pools.append(entry)
                listeners.append({"id": lid, "name": listener["name"],
                                  "provisioning_status": listener["provisioning_status"],
                                  "operating_status": listener["operating_status"], "pools": pools})
            return 200, {"statuses": {"loadbalancer": {
                "id": lb["id"], "name": lb["name"], "provisioning_status": lb["provisioning_status"],
                "operating_status": lb["operating_status"], "listeners": listeners}}}

    def lb_stats(req, lb_id):
        with cloud.lock:
            get("lbs", lb_id, "Load Balancer", req)
        return 200, {"stats": {"bytes_in": 0, "bytes_out": 0, "active_connections": 0,
                               "total_connections": 0, "request_errors": 0}}

    # ---- listeners
    def listener_view(listener):
        view = public(listener)
        view["loadbalancers"] = [{"id": listener["_lb"]}]
        return view

    def list_listeners(req):
        with cloud.lock:
            items = list(cloud.listeners.values())
            lb_id = req.q("loadbalancer_id")
            if lb_id:
                items = [i for i in items if i["_lb"] == lb_id]
            return listing(req, "listeners", items, listener_view)

    def create_listener(req):
        body = _json_body(req, "listener", err)
        with cloud.lock:
            lb = get("lbs", body.get("loadbalancer_id") or "", "Load Balancer", req)
            protocol = body.get("protocol")
            if protocol not in ("TCP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"):
                raise err(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'. "
                               "Value should be one of: HTTP, HTTPS, PROMETHEUS, SCTP, TCP, TERMINATED_HTTPS, UDP")
            try:
                port = int(body.get("protocol_port"))
                assert 1 <= port <= 65535
            except (TypeError, ValueError, AssertionError):
                raise err(400, f"Invalid input for field/attribute protocol_port. Value: "
                               f"'{body.get('protocol_port')}'. Value should be between 1 and 65535")
            check_mutable(lb)
            for lid in lb["_listeners"]:
                other = cloud.listeners[lid]
                if other["protocol_port"] == port and (other["protocol"] == "UDP") == (protocol == "UDP"):
                    raise err(409, f"Another Listener on this Load Balancer is already using protocol_port {port}")
            listener = common(req, body, {
                "protocol": protocol, "protocol_port": port,
                "connection_limit": body.get("connection_limit", -1), "default_pool_id": None,
                "default_tls_container_ref": None, "sni_container_refs": [], "l7policies": [],
                "insert_headers": body.get("insert_headers") or {},
                "timeout_client_data": body.get("timeout_client_data", 50000),
                "timeout_member_connect": body.get("timeout_member_connect", 5000),
                "timeout_member_data": body.get("timeout_member_data", 50000),
                "timeout_tcp_inspect": body.get("timeout_tcp_inspect", 0),
                "client_ca_tls_container_ref": None, "client_authentication": "NONE",
                "client_crl_container_ref": None, "allowed_cidrs": body.get("allowed_cidrs"),
                "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None,
                "hsts_include_subdomains": False, "hsts_max_age": None, "hsts_preload": False,
                "_lb": lb["id"]})
            cloud.listeners[listener["id"]] = listener
            lb["_listeners"].append(listener["id"])
            if body.get("default_pool_id"):
                pool = get("pools", body["default_pool_id"], "Pool", req)
                listener["default_pool_id"] = pool["id"]
                pool["_listeners"].append(listener["id"])
            begin_update(lb)
            print(f"octavia: listener {listener['id']} {protocol}:{port} on {lb['id']}", flush=True)
            return 201, {"listener": listener_view(listener)}

    def show_listener(req, lid):
        with cloud.lock:
            return 200, {"listener": listener_view(get("listeners", lid, "Listener", req))}

    def update_listener(req, lid):
        body = _json_body(req, "listener", err)
        with cloud.lock:
            listener = get("listeners", lid, "Listener", req)
            lb = cloud.lbs[listener["_lb"]]
            check_mutable(lb)
            for key in ("name", "description", "admin_state_up", "connection_limit", "tags",
                        "timeout_client_data", "timeout_member_connect", "timeout_member_data",
                        "timeout_tcp_inspect", "allowed_cidrs", "insert_headers"):
                if key in body:
                    listener[key] = body[key]
            if "default_pool_id" in body:
                old = cloud.pools.get(listener.get("default_pool_id") or "")
                if old:
                    old["_listeners"] = [i for i in old["_listeners"] if i != lid]
                listener["default_pool_id"] = body["default_pool_id"]
                if body["default_pool_id"]:
                    get("pools", body["default_pool_id"], "Pool", req)["_listeners"].append(lid)
            listener["provisioning_status"] = "PENDING_UPDATE"
            stamp(listener)
            begin_update(lb)
            return 200, {"listener": listener_view(listener)}

    def delete_listener(req, lid):
        with cloud.lock:
            listener = get("listeners", lid, "Listener", req)
            lb = cloud.lbs[listener["_lb"]]
            check_mutable(lb)
            listener["provisioning_status"] = "PENDING_DELETE"
            begin_update(lb)
            return 204, None

    # ---- pools
    def pool_out(pool):
        view = pool_view(pool)
        view["listeners"] = [{"id": i} for i in pool["_listeners"]]
        view["loadbalancers"] = [{"id": pool["_lb"]}]
        return view

    def list_pools(req):
        with cloud.lock:
            items = list(cloud.pools.values())
            lb_id = req.q("loadbalancer_id")
            if lb_id:
                items = [i for i in items if i["_lb"] == lb_id]
            return listing(req, "pools", items, pool_out)

    def create_pool(req):
        body = _json_body(req, "pool", err)
        with cloud.lock:
            listener = None
            if body.get("listener_id"):
                listener = get("listeners", body["listener_id"], "Listener", req)
                lb = cloud.lbs[listener["_lb"]]
            elif body.get("loadbalancer_id"):
                lb = get("lbs", body["loadbalancer_id"], "Load Balancer", req)
            else:
                raise err(400, "Validation failure: Either listener_id or loadbalancer_id must be specified.")
            algorithm = body.get("lb_algorithm")
            if algorithm not in ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"):
                raise err(400, f"Invalid input for field/attribute lb_algorithm. Value: '{algorithm}'.")
            if algorithm == "SOURCE_IP_PORT":
                raise err(400, "Provider 'amphora' does not support a requested option: Amphora provider does "
                               "not support SOURCE_IP_PORT algorithm.")
            protocol = body.get("protocol")
            if protocol not in ("TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2", "UDP", "SCTP"):
                raise err(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'.")
            check_mutable(lb)
            if listener is not None and listener.get("default_pool_id"):
                raise err(409, f"Listener {listener['id']} is already using default pool "
                               f"{listener['default_pool_id']}.")
            pool = common(req, body, {
                "protocol": protocol, "lb_algorithm": algorithm,
                "session_persistence": body.get("session_persistence"), "healthmonitor_id": None,
                "tls_container_ref": None, "ca_tls_container_ref": None, "crl_container_ref": None,
                "tls_enabled": False, "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None,
                "_lb": lb["id"], "_listeners": [], "_members": []})
            cloud.pools[pool["id"]] = pool
            lb["_pools"].append(pool["id"])
            if listener is not None:
                listener["default_pool_id"] = pool["id"]
                pool["_listeners"].append(listener["id"])
            begin_update(lb)
            return 201, {"pool": pool_out(pool)}

    def show_pool(req, pid):
        with cloud.lock:
            return 200, {"pool": pool_out(get("pools", pid, "Pool", req))}

    def update_pool(req, pid):
        body = _json_body(req, "pool", err)
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            lb = cloud.lbs[pool["_lb"]]
            check_mutable(lb)
            for key in ("name", "description", "admin_state_up", "lb_algorithm", "session_persistence", "tags"):
                if key in body:
                    pool[key] = body[key]
            pool["provisioning_status"] = "PENDING_UPDATE"
            stamp(pool)
            begin_update(lb)
            return 200, {"pool": pool_out(pool)}

    def delete_pool(req, pid):
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            lb = cloud.lbs[pool["_lb"]]
            check_mutable(lb)
            pool["provisioning_status"] = "PENDING_DELETE"
            begin_update(lb)
            return 204, None

    # ---- members
    def member_view(member):
        return public(member)

    def new_member(req, pool, body) -> dict:
        address = body.get("address")
        try:
            ipaddress.ip_address(address)
        except (TypeError, ValueError):
            raise err(400, f"Invalid input for field/attribute address. Value: '{address}'.")
        try:
            port = int(body.get("protocol_port"))
            assert 1 <= port <= 65535
        except (TypeError, ValueError, AssertionError):
            raise err(400, f"Invalid input for field/attribute protocol_port. Value: "
                           f"'{body.get('protocol_port')}'. Value should be between 1 and 65535")
        return common(req, body, {
            "address": address, "protocol_port": port, "weight": body.get("weight", 1),
            "backup": body.get("backup", False), "subnet_id": body.get("subnet_id"),
            "monitor_address": body.get("monitor_address"), "monitor_port": body.get("monitor_port"),
            "vnic_type": "normal", "_pool": pool["id"]})

    def list_members(req, pid):
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            return listing(req, "members", [cloud.members[i] for i in pool["_members"]], member_view)

    def create_member(req, pid):
        body = _json_body(req, "member", err)
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            lb = cloud.lbs[pool["_lb"]]
            member = new_member(req, pool, body)
            check_mutable(lb)
            for mid in pool["_members"]:
                other = cloud.members[mid]
                if other["address"] == member["address"] and other["protocol_port"] == member["protocol_port"]:
                    raise err(409, f"Another member on this pool is already using ip address "
                                   f"{member['address']} on protocol_port {member['protocol_port']}")
            member["operating_status"] = "OFFLINE"
            cloud.members[member["id"]] = member
            pool["_members"].append(member["id"])
            begin_update(lb)
            return 201, {"member": member_view(member)}

    def show_member(req, pid, mid):
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            if mid not in pool["_members"]:
                raise err(404, f"Member {mid} not found.")
            return 200, {"member": member_view(cloud.members[mid])}

    def update_member(req, pid, mid):
        body = _json_body(req, "member", err)
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            if mid not in pool["_members"]:
                raise err(404, f"Member {mid} not found.")
            lb = cloud.lbs[pool["_lb"]]
            check_mutable(lb)
            member = cloud.members[mid]
            for key in ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port", "tags"):
                if key in body:
                    member[key] = body[key]
            member["provisioning_status"] = "PENDING_UPDATE"
            stamp(member)
            begin_update(lb)
            return 200, {"member": member_view(member)}

    def delete_member(req, pid, mid):
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            if mid not in pool["_members"]:
                raise err(404, f"Member {mid} not found.")
            lb = cloud.lbs[pool["_lb"]]
            check_mutable(lb)
            cloud.members[mid]["provisioning_status"] = "PENDING_DELETE"
            begin_update(lb)
            return 204, None

    def batch_members(req, pid):
        body = _json_body(req, None, err)
        wanted = body.get("members")
        if not isinstance(wanted, list):
            raise err(400, "Invalid input for field/attribute members.")
        with cloud.lock:
            pool = get("pools", pid, "Pool", req)
            lb = cloud.lbs[pool["_lb"]]
            new = [new_member(req, pool, m) for m in wanted]
            keys = [(m["address"], m["protocol_port"]) for m in new]
            if len(set(keys)) != len(keys):
                raise err(400, "Validation failure: Duplicate members in the request.")
            check_mutable(lb)
            existing = {(cloud.members[i]["address"], cloud.members[i]["protocol_port"]): i for i in pool["_members"]}
            for member, body_member in zip(new, wanted):
                key = (member["address"], member["protocol_port"])
                if key in existing:
                    old = cloud.members[existing.pop(key)]
                    for k in ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port",
                              "tags", "subnet_id"):
                        if k in body_member:
                            old[k] = body_member[k]
                    old["provisioning_status"] = "PENDING_UPDATE"
                else:
                    cloud.members[member["id"]] = member
                    pool["_members"].append(member["id"])
            for mid in existing.values():
                cloud.members[mid]["provisioning_status"] = "PENDING_DELETE"
            begin_update(lb)
            print(f"octavia: pool {pid} members now {sorted(keys)}", flush=True)
            return 202, None

    # ---- health monitors
    def hm_view(hm):
        view = public(hm)
        view["pools"] = [{"id": hm["_pool"]}]
        return view

    def list_hms(req):
        with cloud.lock:
            return listing(req, "healthmonitors", list(cloud.monitors.values()), hm_view)

    def create_hm(req):
        body = _json_body(req, "healthmonitor", err)
        with cloud.lock:
            pool = get("pools", body.get("pool_id") or "", "Pool", req)
            lb = cloud.lbs[pool["_lb"]]
            kind = body.get("type")
            if kind not in ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"):
                raise err(400, f"Invalid input for field/attribute type. Value: '{kind}'.")
            for key in ("delay", "timeout", "max_retries"):
                if not isinstance(body.get(key), int):
                    raise err(400, f"Invalid input for field/attribute {key}. Value: '{body.get(key)}'. "
                                   "Mandatory field missing.")
            check_mutable(lb)
            if pool.get("healthmonitor_id"):
                raise err(409, "This pool already has a health monitor")
            http = kind in ("HTTP", "HTTPS")
            hm = common(req, body, {
                "type": kind, "delay": body["delay"], "timeout": body["timeout"],
                "max_retries": body["max_retries"], "max_retries_down": body.get("max_retries_down", 3),
                "http_method": body.get("http_method", "GET") if http else None,
                "url_path": body.get("url_path", "/") if http else None,
                "expected_codes": body.get("expected_codes", "200") if http else None,
                "http_version": body.get("http_version") if http else None,
                "domain_name": body.get("domain_name") if http else None, "_pool": pool["id"]})
            cloud.monitors[hm["id"]] = hm
            pool["healthmonitor_id"] = hm["id"]
            begin_update(lb)
            return 201, {"healthmonitor": hm_view(hm)}

    def show_hm(req, hid):
        with cloud.lock:
            return 200, {"healthmonitor": hm_view(get("monitors", hid, "Health Monitor", req))}

    def update_hm(req, hid):
        body = _json_body(req, "healthmonitor", err)
        with cloud.lock:
            hm = get("monitors", hid, "Health Monitor", req)
            lb = cloud.lbs[cloud.pools[hm["_pool"]]["_lb"]]
            check_mutable(lb)
            for key in ("name", "admin_state_up", "delay", "timeout", "max_retries", "max_retries_down",
                        "http_method", "url_path", "expected_codes", "tags"):
                if key in body:
                    hm[key] = body[key]
            hm["provisioning_status"] = "PENDING_UPDATE"
            begin_update(lb)
            return 200, {"healthmonitor": hm_view(hm)}

    def delete_hm(req, hid):
        with cloud.lock:
            hm = get("monitors", hid, "Health Monitor", req)
            lb = cloud.lbs[cloud.pools[hm["_pool"]]["_lb"]]
            check_mutable(lb)
            hm["provisioning_status"] = "PENDING_DELETE"
            begin_update(lb)
            return 204, None

    def providers(req):
        return 200, {"providers": [{"name": "amphora", "description": "The Octavia Amphora driver."},
                                   {"name": "octavia", "description": "Deprecated alias of the Octavia Amphora driver."}]}

    def amphorae(req):
        if not req.is_admin:
            raise err(403, "Policy does not allow this request to be performed.")
        with cloud.lock:
            items = [{"id": _uuid("amphora:" + lb["id"]), "loadbalancer_id": lb["id"], "compute_id": None,
                      "status": "ALLOCATED" if lb["provisioning_status"] != "PENDING_CREATE" else "BOOTING",
                      "role": "STANDALONE", "lb_network_ip": None, "vrrp_ip": None, "ha_ip": lb["vip_address"],
                      "vrrp_port_id": None, "ha_port_id": lb["vip_port_id"], "created_at": lb["created_at"]}
                     for lb in cloud.lbs.values()]
        lb_id = req.q("loadbalancer_id")
        return 200, {"amphorae": [a for a in items if not lb_id or a["loadbalancer_id"] == lb_id], "amphorae_links": []}

    A = dict(error=err)
    api.add("GET", r"/load-balancer", root, auth=False)
    api.add("GET", r"/load-balancer/v2(?:\.\d+)?", v2, auth=False)
    api.add("GET", O + r"/loadbalancers", list_lbs, **A)
    api.add("POST", O + r"/loadbalancers", create_lb, **A)
    api.add("GET", O + r"/loadbalancers/([^/]+)", show_lb, **A)
    api.add("PUT", O + r"/loadbalancers/([^/]+)", update_lb, **A)
    api.add("DELETE", O + r"/loadbalancers/([^/]+)", delete_lb, **A)
    api.add("GET", O + r"/loadbalancers/([^/]+)/status", lb_status, **A)
    api.add("GET", O + r"/loadbalancers/([^/]+)/stats", lb_stats, **A)
    api.add("GET", O + r"/listeners", list_listeners, **A)
    api.add("POST", O + r"/listeners", create_listener, **A)
    api.add("GET", O + r"/listeners/([^/]+)", show_listener, **A)
    api.add("PUT", O + r"/listeners/([^/]+)", update_listener, **A)
    api.add("DELETE", O + r"/listeners/([^/]+)", delete_listener, **A)
    api.add("GET", O + r"/pools", list_pools, **A)
    api.add("POST", O + r"/pools", create_pool, **A)
    api.add("GET", O + r"/pools/([^/]+)", show_pool, **A)
    api.add("PUT", O + r"/pools/([^/]+)", update_pool, **A)
    api.add("DELETE", O + r"/pools/([^/]+)", delete_pool, **A)
    api.add("GET", O + r"/pools/([^/]+)/members", list_members, **A)
    api.add("POST", O + r"/pools/([^/]+)/members", create_member, **A)
    api.add("PUT", O + r"/pools/([^/]+)/members", batch_members, **A)
    api.add("GET", O + r"/pools/([^/]+)/members/([^/]+)", show_member, **A)
    api.add("PUT", O + r"/pools/([^/]+)/members/([^/]+)", update_member, **A)
    api.add("DELETE", O + r"/pools/([^/]+)/members/([^/]+)", delete_member, **A)
    api.add("GET", O + r"/healthmonitors", list_hms, **A)
    api.add("POST", O + r"/healthmonitors", create_hm, **A)
    api.add("GET", O + r"/healthmonitors/([^/]+)", show_hm, **A)
    api.add("PUT", O + r"/healthmonitors/([^/]+)", update_hm, **A)
    api.add("DELETE", O + r"/healthmonitors/([^/]+)", delete_hm, **A)
    api.add("GET", O + r"/providers", providers, **A)
    api.add("GET", r"/load-balancer/v2(?:\.\d+)?/octavia/amphorae", amphorae, **A)


# =========================================================================== HTTP server
def _handler_class(api: Api, verbose: bool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lab-openstack-double"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stdout.write("%s - %s\n" % (self.address_string(), fmt % args))
                sys.stdout.flush()

        def _handle(self, method: str):
            request_id = "req-" + str(uuid.uuid4())
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError:
                    body = None
                    if method in ("POST", "PUT"):
                        raise ApiError(400, {"badRequest": {"code": 400, "message": "Malformed request body"}})
                req = Request(method, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)
                try:
                    status, payload = api.dispatch(req)
                    headers = req.response_headers
                except ApiError as error:
                    status, payload, headers = error.status, error.body, {**req.response_headers, **error.headers}
            except ApiError as error:
                status, payload, headers = error.status, error.body, error.headers
            except Exception as error:  # a bug in the double: say so like a 500 from the service
                traceback.print_exc()
                status, payload, headers = 500, {"computeFault": {"code": 500, "message": f"double error: {error}"}}, {}
            data = b"" if payload is None or status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
            else:
                self.send_header("Content-Length", "0")
            self.send_header("x-openstack-request-id", request_id)
            self.send_header("X-Compute-Request-Id", request_id)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data and method != "HEAD":
                self.wfile.write(data)
            if status >= 400 and verbose is False and status not in (401, 404):
                print(f"{method} {self.path} -> {status} {json.dumps(payload)[:300]}", flush=True)

        def do_GET(self):
            self._handle("GET")

        def do_HEAD(self):
            self._handle("HEAD")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def do_PATCH(self):
            self._handle("PATCH")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class OpenStackDouble:
    """The double, in-process: `with OpenStackDouble(port=0, state_dir=...) as d: d.base_url`.

    start() binds and serves on background threads; stop() shuts down, stopping every haproxy."""

    def __init__(self, port: int = 0, state_dir: str | Path = "/tmp/lab-openstack", profile: str = "fast",
                 delay_scale: float = 1.0, host: str = "127.0.0.1", passwords: dict[str, str] | None = None,
                 verbose: bool = False, cluster: ClusterShape | None = None):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.passwords = passwords or load_passwords(self.state_dir)
        scaled = profiles.delays(profile, delay_scale)
        self.delays = {name: getattr(scaled, name) for name in
                       ("volume_create", "volume_delete", "amphora_boot", "lb_update", "lb_delete")}
        self.httpd = _Server((host, port), None)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self.cloud = Cloud(self.base_url, self.state_dir, self.delays, self.passwords,
                           cluster or shape_from_environment())
        self.api = Api(self.cloud)
        self.httpd.RequestHandlerClass = _handler_class(self.api, verbose)
        self._threads: list[threading.Thread] = []

    def start(self) -> OpenStackDouble:
        pw = self.state_dir / "passwords.json"
        if not pw.exists():
            pw.write_text(json.dumps(self.passwords))
            os.chmod(pw, 0o600)
        write_clouds_yaml(self.state_dir / "clouds.yaml", self.base_url, self.passwords)
        self._threads = [threading.Thread(target=self.cloud.run_ticker, name="ticker", daemon=True),
                         threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                          name="http", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.cloud.stop()
        for thread in self._threads:
            thread.join(timeout=15)
        self.cloud.fleet.stop_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.openstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--state-dir", required=True, help="folder for passwords.json, clouds.yaml, amphorae")
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="fast")
    parser.add_argument("--delay-scale", type=float, default=1.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    double = OpenStackDouble(port=args.port, state_dir=args.state_dir, profile=args.profile,
                             delay_scale=args.delay_scale, host=args.host, verbose=args.verbose)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    double.start()
    print(f"openstack double: listening on {double.base_url} (profile {args.profile}, delays "
          f"{double.delays}); clouds.yaml in {double.state_dir / 'clouds.yaml'}", flush=True)
    while not done.wait(1.0):
        pass
    print("openstack double: stopping", flush=True)
    double.stop()
    print("openstack double: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
