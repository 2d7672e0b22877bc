"""Read the OpenStack side with openstacksdk (the admin cloud of clouds.yaml, found the way
openstacksdk finds it, OS_CLIENT_CONFIG_FILE included): the claim's Cinder volume, the
stack's volume type and its extra specs, the Nova servers, and the Service's Octavia load
balancer with its listeners, pools, members, health monitors and floating IPs. Reads only.

A cloud that cannot be reached or refuses the credentials raises Unreachable (exit 3); a
resource that is not there is None in the facts (a check then fails).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import keystoneauth1.exceptions as ksa
import openstack
from openstack import exceptions as sdk

from policy.devstack_domain import LOAD_BALANCER_ID_ANNOTATION, floating_ip_description, load_balancer_name
from verify.facts import (
    Attachment,
    CinderType,
    CinderVolume,
    CloudFacts,
    FloatingIP,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    ServiceFacts,
)
from verify.target import Target, Unreachable

API_TIMEOUT = 20  # seconds per request
T = TypeVar("T")


def _next(cloud: str) -> str:
    return f"openstack --os-cloud {cloud} token issue (clouds.yaml: $OS_CLIENT_CONFIG_FILE or /etc/openstack)"


def connect(cloud: str) -> openstack.connection.Connection:
    """A connection to the clouds.yaml entry, authenticated now, so bad credentials show at once."""
    try:
        connection = openstack.connect(cloud=cloud, api_timeout=API_TIMEOUT, connect_retries=0)
    except (sdk.SDKException, ksa.ClientException) as error:  # no such cloud, missing auth options
        raise Unreachable("openstack", f"cloud {cloud!r}: {error}", _next(cloud)) from None
    _guard(cloud, "authenticating", connection.authorize)
    return connection


def _guard(cloud: str, what: str, call: Callable[[], T], missing_ok: bool = False) -> T | None:
    """Run one read; None for a 404 when missing_ok, Unreachable for what makes the side unusable."""
    try:
        return call()
    except sdk.NotFoundException:
        if missing_ok:
            return None
        raise Unreachable("openstack", f"cloud {cloud}: {what}: not found", _next(cloud)) from None
    except (sdk.SDKException, ksa.ClientException) as error:
        raise Unreachable("openstack", f"cloud {cloud}: {what}: {_cause(error)}", _next(cloud)) from None


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it: openstacksdk wraps keystoneauth's errors in a plain SDKException."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _cause(error: BaseException) -> str:
    """Why the cloud cannot be used, in a few words."""
    chain = _chain(error)
    text = " ".join(str(item) for item in chain)
    statuses = [getattr(item, "status_code", None) or getattr(item, "http_status", None) for item in chain]
    if any(isinstance(item, ksa.Unauthorized) for item in chain) or 401 in statuses or "(HTTP 401)" in text:
        return "the credentials are refused (HTTP 401)"
    if 403 in statuses or "(HTTP 403)" in text:
        return "the credentials may not read it (HTTP 403): an admin cloud is needed"
    if "Connection refused" in text or "Errno 111" in text:
        return "cannot reach the API: connection refused"
    if any(isinstance(item, ksa.ConnectTimeout) for item in chain) or "timed out" in text.lower():
        return "cannot reach the API: timed out"
    if any(isinstance(item, ksa.ConnectionError) for item in chain):
        return f"cannot reach the API: {str(error).splitlines()[0][:200]}"
    if any(isinstance(item, (ksa.EndpointNotFound, sdk.EndpointNotFound)) for item in chain):
        return f"no endpoint in the catalog: {str(error).splitlines()[0][:200]}"
    status = next((code for code in statuses if code), None)
    first = (str(error).splitlines() or [type(error).__name__])[0][:300]
    return f"HTTP {status}: {first}" if status and f"{status}" not in first else first


def _id_of(item: Any) -> str | None:
    return item.get("id") if isinstance(item, dict) else getattr(item, "id", item)


class CloudReader:
    def __init__(self, connection: Any, cloud: str):
        self.conn = connection
        self.cloud = cloud

    def _read(self, what: str, call: Callable[[], T], missing_ok: bool = True) -> T | None:
        return _guard(self.cloud, what, call, missing_ok)

    def volume(self, volume_id: str) -> CinderVolume | None:
        found = self._read(f"volume {volume_id}", lambda: self.conn.block_storage.get_volume(volume_id))
        if found is None:
            return None
        return CinderVolume(
            id=found.id, status=found.status, volume_type=found.volume_type,
            multiattach=bool(found.is_multiattach), size=found.size,
            attachments=tuple(Attachment(server_id=item.get("server_id"))
                              for item in (found.attachments or []) if item.get("server_id")),
        )

    def volume_type(self, name: str) -> CinderType | None:
        found = self._read(f"volume type {name}", lambda: self.conn.block_storage.find_type(name))
        if found is None:
            return None
        specs = found.extra_specs
        if specs is None:  # a list answer without them: show the type
            shown = self._read(f"volume type {found.id}", lambda: self.conn.block_storage.get_type(found.id))
            specs = shown.extra_specs if shown else None
        return CinderType(id=found.id, name=found.name, extra_specs=dict(specs or {}))

    def servers(self) -> dict[str, str]:
        """Server id -> name, for the evidence only: a cloud that will not list them is not a failure."""
        try:
            return {server.id: server.name for server in self.conn.compute.servers(all_projects=True)}
        except (sdk.SDKException, ksa.ClientException):
            return {}

    def load_balancer(self, target: Target, service: ServiceFacts | None) -> tuple[LoadBalancer | None, str]:
        annotated = (service.annotations if service else {}).get(LOAD_BALANCER_ID_ANNOTATION)
        lb_api = self.conn.load_balancer
        if annotated:
            lookup = f"id {annotated} (the Service's {LOAD_BALANCER_ID_ANNOTATION} annotation)"
            found = self._read(f"load balancer {annotated}", lambda: lb_api.get_load_balancer(annotated))
            found_by = "annotation"
        else:
            name = load_balancer_name(target.namespace, target.service_name, target.cluster_name)
            lookup = f"name {name} (the cloud controller's, cluster name {target.cluster_name})"
            named = self._read(f"load balancers named {name}", lambda: list(lb_api.load_balancers(name=name))) or []
            named = [lb for lb in named if lb.name == name]
            found = next((lb for lb in named if lb.provisioning_status == "ACTIVE"), named[0] if named else None)
            found_by = "name" if len(named) < 2 else f"name, 1 of {len(named)}"
        if found is None:
            return None, lookup
        return LoadBalancer(
            id=found.id, name=found.name, provisioning_status=found.provisioning_status or "UNKNOWN",
            operating_status=found.operating_status or "UNKNOWN", vip_address=found.vip_address,
            vip_port_id=found.vip_port_id, floating_ips=self._floating_ips(found.vip_port_id),
            listeners=self._listeners(found), found_by=found_by,
        ), lookup

    def _floating_ips(self, port_id: str | None) -> tuple[str, ...]:
        if not port_id:
            return ()
        ips = self._read(f"floating IPs of port {port_id}",
                         lambda: list(self.conn.network.ips(port_id=port_id))) or []
        return tuple(sorted(ip.floating_ip_address for ip in ips if ip.port_id == port_id))

    def _listeners(self, lb: Any) -> tuple[Listener, ...]:
        lb_api = self.conn.load_balancer
        ids = [_id_of(item) for item in (lb.listeners or [])]
        if not ids:  # an answer without the children's ids: find them by their parent
            everything = self._read("listeners", lambda: list(lb_api.listeners())) or []
            ids = [item.id for item in everything
                   if any(_id_of(parent) == lb.id for parent in (item.load_balancers or []))
                   or item.load_balancer_id == lb.id]
        pool_ids = [_id_of(item) for item in (lb.pools or [])]
        listeners = []
        for listener_id in ids:
            found = self._read(f"listener {listener_id}",
                               lambda listener_id=listener_id: lb_api.get_listener(listener_id))
            if found is None:
                continue
            pool_id = found.default_pool_id or next(
                (pid for pid in pool_ids if self._pool_serves(pid, found.id)), None)
            listeners.append(Listener(id=found.id, protocol=found.protocol, port=found.protocol_port,
                                      pool=self._pool(pool_id) if pool_id else None))
        return tuple(sorted(listeners, key=lambda listener: (listener.port, listener.protocol)))

    def _pool_serves(self, pool_id: str, listener_id: str) -> bool:
        pool = self._pool_object(pool_id)
        return pool is not None and (pool.listener_id == listener_id
                                     or any(_id_of(item) == listener_id for item in (pool.listeners or [])))

    def _pool_object(self, pool_id: str) -> Any:
        return self._read(f"pool {pool_id}", lambda: self.conn.load_balancer.get_pool(pool_id))

    def _pool(self, pool_id: str) -> Pool | None:
        found = self._pool_object(pool_id)
        if found is None:
            return None
        members = self._read(f"members of pool {pool_id}", lambda: list(self.conn.load_balancer.members(pool_id))) or []
        return Pool(id=found.id, health_monitor_id=found.health_monitor_id or None,
                    members=tuple(Member(address=member.address, port=member.protocol_port,
                                         operating_status=member.operating_status) for member in members))

    def service_floating_ips(self, target: Target) -> tuple[FloatingIP, ...]:
        """The floating IPs the cloud controller made for the Service (all projects, for an admin)."""
        description = floating_ip_description(target.namespace, target.service_name, target.cluster_name)
        ips = self._read("floating IPs", lambda: list(self.conn.network.ips(description=description))) or []
        return tuple(sorted((FloatingIP(id=ip.id, address=ip.floating_ip_address, port_id=ip.port_id or None,
                                        description=ip.description or "")
                             for ip in ips if ip.description == description), key=lambda ip: ip.address))

    def roles(self) -> tuple[str, ...] | None:
        """The roles in the token: without admin, other projects' volumes and load balancers are hidden."""
        try:
            return tuple(self.conn.session.auth.get_access(self.conn.session).role_names or ())
        except Exception:  # noqa: BLE001 - evidence only; the reads below report a broken cloud
            return None

    def fetch(self, target: Target, volume_id: str | None, service: ServiceFacts | None) -> CloudFacts:
        type_name = target.volume_type_name if target.multiattach else None
        load_balancer, lookup = self.load_balancer(target, service)
        return CloudFacts(
            volume_id=volume_id,
            volume=self.volume(volume_id) if volume_id else None,
            type_name=type_name,
            volume_type=self.volume_type(type_name) if type_name else None,
            servers=self.servers(),
            load_balancer=load_balancer,
            load_balancer_lookup=lookup,
            roles=self.roles(),
            service_floating_ips=self.service_floating_ips(target),
        )


def fetch_cloud(target: Target, volume_id: str | None, service: ServiceFacts | None) -> CloudFacts:
    connection = connect(target.admin_cloud)
    try:
        return CloudReader(connection, target.admin_cloud).fetch(target, volume_id, service)
    finally:
        connection.close()
