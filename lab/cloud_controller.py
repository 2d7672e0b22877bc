"""A DOUBLE of the OpenStack cloud controller manager (OCCM) for the lab: its LoadBalancer part.

Stands for openstack-cloud-controller-manager's service controller (kubernetes/
cloud-provider-openstack, Octavia provider, ``pkg/openstack/loadbalancer.go`` and
``pkg/util/openstack/loadbalancer.go``; the generic controller is kubernetes/cloud-provider
``controllers/service/controller.go``). It really calls the OpenStack API (the lab's OpenStack
double) with openstacksdk, as the ``devstack-admin`` cloud of a clouds.yaml (the real one reads
cloud.conf). It does not initialise nodes or routes.

Like the real service controller it acts on Service and Node events only, one Service at a
time (``--concurrent-service-syncs`` 1), with no periodic resync: a load balancer deleted by
hand is not rebuilt, the Service keeps its stale ingress IP, and when such a Service is deleted
its floating IP (now without a port) is left behind. A failed sync is retried after 5 s,
doubling up to 300 s.

For each Service of type LoadBalancer without ``spec.loadBalancerClass``:
- adds the finalizer ``service.kubernetes.io/load-balancer-cleanup``;
- members = the nodes the service controller hands over: every node except those whose
  ``node.kubernetes.io/exclude-from-external-load-balancers`` label ParseBool reads as true (or
  cannot read; ``policy.devstack_domain.excluded_from_external_load_balancers``) or tainted
  ToBeDeletedByClusterAutoscaler; readiness plays no part (KEP-3458). None: Warning
  UnAvailableLoadBalancer and SyncLoadBalancerFailed "there are no available nodes ...";
- no load balancer yet: creates ``kube_service_<cluster>_<namespace>_<name>`` in ONE fully
  populated call (listeners ``listener_<i>_<lb>`` -> default_pool ``pool_<i>_<lb>`` ->
  members (node name, InternalIP, nodePort), healthmonitor ``monitor_<port>_<lb>`` TCP 5/3/1/3
  when ``loadbalancer.openstack.org/enable-health-monitor`` is true) and waits for ACTIVE with
  OCCM's backoff (1 s, x1.2, ~5.4 min in all); an existing one must be ACTIVE, then its
  listeners, pools, members and monitors are brought in line (each change waited for);
- a floating IP on the floating network for the VIP port (reused when one is there;
  ``spec.loadBalancerIP`` picks that address), described "Floating IP for Kubernetes external
  service <ns>/<name> from cluster <cluster>"; none for
  ``service.beta.kubernetes.io/openstack-internal-load-balancer: "true"``; no floating network
  found: the VIP, with a warning event;
- then the ``loadbalancer.openstack.org/load-balancer-id`` annotation and
  ``status.loadBalancer.ingress[0].ip``; events EnsuringLoadBalancer / EnsuredLoadBalancer,
  SyncLoadBalancerFailed;
- node set changes: the pools' members in one batch update (UpdatedLoadBalancer, or
  UpdateLoadBalancerFailed when the load balancer is gone, retried every 100 s);
- deletion (deletionTimestamp, or the type no longer LoadBalancer): deletes the VIP port's
  floating IP only when its description is the controller's own (never with
  ``loadbalancer.openstack.org/keep-floatingip: "true"``), deletes the LB with cascade and waits
  until Octavia no longer shows it, then (type change) clears status and annotation, and removes
  the finalizer (DeletingLoadBalancer / DeletedLoadBalancer).

Annotations honoured: ``.../load-balancer-id``, ``.../enable-health-monitor``, ``.../lb-method``,
``.../floating-network-id``, ``.../subnet-id``, ``.../member-subnet-id``, ``.../keep-floatingip``,
``service.beta.kubernetes.io/openstack-internal-load-balancer``. Not done: other annotations,
UDP/SCTP listeners (skipped with a warning event), security groups (manage-security-groups off,
as by default), HTTP/TLS listeners, node initialisation and routes.

Command line (started by `lab up`): ``python -m lab.cloud_controller --kubeconfig K
--clouds-yaml C --cloud devstack-admin --cluster-name kubernetes``.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from lab import daemon
from lab.kube.backoff import backoff_sleeps, check_on_backoff
from lab.kube.client import api_client, meta, raw
from lab.kube.events import Recorder
from lab.kube.informer import Informer
from lab.kube.workqueue import backoff_delay
from policy.devstack_domain import excluded_from_external_load_balancers, floating_ip_description

log = logging.getLogger("cloud-controller")

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
ANN_LB_ID = "loadbalancer.openstack.org/load-balancer-id"
ANN_INTERNAL = "service.beta.kubernetes.io/openstack-internal-load-balancer"
ANN_HEALTH_MONITOR = "loadbalancer.openstack.org/enable-health-monitor"
ANN_LB_METHOD = "loadbalancer.openstack.org/lb-method"
ANN_FLOATING_NETWORK = "loadbalancer.openstack.org/floating-network-id"
ANN_SUBNET = "loadbalancer.openstack.org/subnet-id"
ANN_MEMBER_SUBNET = "loadbalancer.openstack.org/member-subnet-id"
ANN_KEEP_FIP = "loadbalancer.openstack.org/keep-floatingip"
HONOURED = (ANN_INTERNAL, ANN_HEALTH_MONITOR, ANN_LB_METHOD, ANN_FLOATING_NETWORK, ANN_SUBNET,
            ANN_MEMBER_SUBNET, ANN_KEEP_FIP)
COMPONENT = "service-controller"
OUR_FLOATING_IP = re.compile("Floating IP for Kubernetes external service")  # deleteFIPIfCreatedByProvider

# The service controller's retry of a failed sync (minRetryDelay, maxRetryDelay) and its node sync.
RETRY_START, RETRY_MAX, NODE_SYNC_PERIOD = 5.0, 300.0, 100.0
# OCCM's waits (pkg/util/openstack/loadbalancer.go): exponential backoff from 1 s by 1.2.
ACTIVE_STEPS, DELETE_STEPS = 24, 13  # ~5.4 min for ACTIVE, ~32 s for a delete
ACTIVE_BACKOFF, DELETE_BACKOFF = backoff_sleeps(1.0, 1.2, ACTIVE_STEPS), backoff_sleeps(1.0, 1.2, DELETE_STEPS)


class ServiceError(Exception):
    """A failure worth a SyncLoadBalancerFailed event."""


# --------------------------------------------------------------------------- decisions (pure)

def annotation_true(value: str | None) -> bool:
    """getBoolFromServiceAnnotation: only "true" is true."""
    return value == "true"


def lb_name(cluster: str, namespace: str, name: str) -> str:
    return f"kube_service_{cluster}_{namespace}_{name}"[:255]


def created_by_controller(description: str | None) -> bool:
    return bool(OUR_FLOATING_IP.search(description or ""))


def node_address(node: dict) -> str | None:
    """nodeAddressForLB: the InternalIP, else the ExternalIP."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return address["address"]
    return None


def member_nodes(nodes: list[dict]) -> list[tuple[str, str]]:
    """(name, address) of the nodes that become members, sorted by name: all but the excluded
    (label) and the ones the cluster autoscaler is deleting; readiness plays no part."""
    chosen = []
    for node in nodes:
        if excluded_from_external_load_balancers(meta(node).get("labels") or {}):
            continue
        if any(t.get("key") == TO_BE_DELETED_TAINT for t in (node.get("spec") or {}).get("taints") or []):
            continue
        address = node_address(node)
        if address:
            chosen.append((meta(node)["name"], address))
    return sorted(chosen)


def wants_load_balancer(svc: dict) -> bool:
    spec = svc.get("spec") or {}
    return (spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")
            and not meta(svc).get("deletionTimestamp"))


def service_inputs(svc: dict) -> tuple:
    """What makes the service controller sync a Service again (needsUpdate): type, class,
    deletion, ports, loadBalancerIP, externalTrafficPolicy and the honoured annotations; not
    what the controller writes itself (finalizer, load-balancer-id, status)."""
    spec, annotations = svc.get("spec") or {}, meta(svc).get("annotations") or {}
    ports = tuple((p.get("name"), p.get("protocol") or "TCP", p.get("port"), p.get("nodePort"))
                  for p in spec.get("ports") or [])
    return (spec.get("type"), spec.get("loadBalancerClass"), bool(meta(svc).get("deletionTimestamp")), ports,
            spec.get("loadBalancerIP"), spec.get("externalTrafficPolicy"),
            tuple((k, annotations.get(k)) for k in HONOURED))


def tcp_ports(svc: dict) -> tuple[list[tuple[int, int]], list[dict]]:
    """((port, nodePort) of the TCP ports, the other ports skipped)."""
    ports, skipped = [], []
    for port in (svc.get("spec") or {}).get("ports") or []:
        if (port.get("protocol") or "TCP") != "TCP":
            skipped.append(port)
            continue
        if not port.get("nodePort"):
            raise ServiceError(f"port {port.get('port')} has no nodePort "
                               "(allocateLoadBalancerNodePorts false is not supported)")
        ports.append((int(port["port"]), int(port["nodePort"])))
    return ports, skipped


def health_monitor(name: str) -> dict:
    """buildMonitorCreateOpts for a TCP pool with the default monitor settings."""
    return {"name": name, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1, "max_retries_down": 3}


def member_bodies(nodes: list[tuple[str, str]], node_port: int, member_subnet: str | None) -> list[dict]:
    """buildBatchUpdateMemberOpts: one member per node at the port's nodePort."""
    return [{"name": name, "address": address, "protocol_port": node_port,
             **({"subnet_id": member_subnet} if member_subnet else {})} for name, address in nodes]


def load_balancer_request(svc: dict, cluster: str, nodes: list[tuple[str, str]], ports: list[tuple[int, int]],
                          vip_subnet: str, member_subnet: str | None) -> dict:
    """createFullyPopulatedOctaviaLoadBalancer's body: POST /v2/lbaas/loadbalancers
    {"loadbalancer": {..., "listeners": [{..., "default_pool": {..., "members": [...],
    "healthmonitor": {...}}}]}}."""
    m = meta(svc)
    namespace, name = m.get("namespace") or "default", m["name"]
    annotations = m.get("annotations") or {}
    full = lb_name(cluster, namespace, name)
    method = (annotations.get(ANN_LB_METHOD) or "ROUND_ROBIN").strip().upper()
    listeners = []
    for index, (port, node_port) in enumerate(ports):
        pool = {"name": f"pool_{index}_{full}"[:255], "protocol": "TCP", "lb_algorithm": method,
                "members": member_bodies(nodes, node_port, member_subnet)}
        if annotation_true(annotations.get(ANN_HEALTH_MONITOR)):
            pool["healthmonitor"] = health_monitor(f"monitor_{port}_{full}"[:255])
        listeners.append({"name": f"listener_{index}_{full}"[:255], "protocol": "TCP", "protocol_port": port,
                          "tags": [full], "default_pool": pool})
    return {"loadbalancer": {
        "name": full, "description": f"Kubernetes external service {namespace}/{name} from cluster {cluster}",
        "vip_subnet_id": vip_subnet, "tags": [full], "listeners": listeners}}


@dataclass
class Tracked:
    """What the controller remembers of one Service (by uid)."""

    inputs: tuple | None = None          # the inputs of the last successful sync
    hosts: tuple | None = None           # the member nodes last applied
    failures: int = 0
    retry_at: float | None = None        # a failed sync is due again then ...
    failed_inputs: tuple | None = None   # ... unless the Service changes first
    hosts_retry_at: float | None = None  # a failed host update is due again then ...
    failed_hosts: tuple | None = None    # ... unless the node set changes first


ENSURE, DELETE, UPDATE_HOSTS = "ensure", "delete", "update-hosts"


def next_action(tracked: Tracked, inputs: tuple, hosts: tuple, wants_lb: bool, has_finalizer: bool,
                now: float) -> str | None:
    """What the service controller does for a Service now, from events only (no resync):
    a changed Service (or the first sight of it) is synced at once, a failed sync again when
    its backoff is over, a changed node set updates the members."""
    if not wants_lb and not has_finalizer:
        return None
    action = ENSURE if wants_lb else DELETE
    if tracked.retry_at is not None:
        return action if now >= tracked.retry_at or inputs != tracked.failed_inputs else None
    if inputs != tracked.inputs:
        return action
    if wants_lb and hosts != tracked.hosts:
        waiting = tracked.hosts_retry_at is not None and now < tracked.hosts_retry_at
        return None if waiting and hosts == tracked.failed_hosts else UPDATE_HOSTS
    return None


# --------------------------------------------------------------------------- the controller

class CloudController:
    def __init__(self, api: client.ApiClient, connect, cluster: str, floating_network: str | None = None,
                 sleep: Callable[[float], object] | None = None):
        self._core = client.CoreV1Api(api)
        self._connect = connect  # () -> openstack.connection.Connection (lazy: the cloud may start later)
        self._conn = None
        self._cluster = cluster
        self._floating_network_arg = floating_network
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._services = Informer("services", self._core.list_service_for_all_namespaces, self._wake.set,
                                  self._stop, logger=log)
        self._nodes = Informer("nodes", self._core.list_node, self._wake.set, self._stop, logger=log)
        self._recorder = Recorder(self._core, COMPONENT)
        self._tracked: dict[str, Tracked] = {}
        self._subnet_cache: str | None = None

    # --- loop ----------------------------------------------------------------------------

    def stop(self, *_args) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        self._services.start()
        self._nodes.start()
        self._authenticate()
        log.info("cloud controller double started (cluster %s)", self._cluster)
        while not self._stop.is_set():
            if not (self._services.synced.is_set() and self._nodes.synced.is_set()):
                self._stop.wait(0.2)
                continue
            self._wake.clear()
            wake_at = self.sync_all(time.monotonic())
            timeout = 3600.0 if wake_at is None else max(0.05, wake_at - time.monotonic())
            self._wake.wait(timeout)

    def sync_all(self, now: float) -> float | None:
        """One pass over the Services; returns when the next retry is due (None: no retry)."""
        services = self._services.snapshot()
        hosts = tuple(member_nodes(self._nodes.snapshot()))
        for svc in services:
            if self._stop.is_set():
                break
            self.sync(svc, hosts, now)
        live = {meta(s)["uid"] for s in services}
        for uid in [u for u in self._tracked if u not in live]:
            del self._tracked[uid]
        due = [t for s in self._tracked.values() for t in (s.retry_at, s.hosts_retry_at) if t is not None]
        return min(due, default=None)

    def sync(self, svc: dict, hosts: tuple, now: float) -> None:
        tracked = self._tracked.setdefault(meta(svc)["uid"], Tracked())
        inputs = service_inputs(svc)
        action = next_action(tracked, inputs, hosts, wants_load_balancer(svc),
                             FINALIZER in (meta(svc).get("finalizers") or []), now)
        if action == ENSURE:
            self._attempt(svc, tracked, inputs, hosts, now, self._ensure)
        elif action == DELETE:
            self._attempt(svc, tracked, inputs, hosts, now, self._ensure_deleted)
        elif action == UPDATE_HOSTS:
            self._update_hosts(svc, tracked, hosts, now)

    def _attempt(self, svc: dict, tracked: Tracked, inputs: tuple, hosts: tuple, now: float, action) -> None:
        key = f"{meta(svc).get('namespace')}/{meta(svc)['name']}"
        try:
            action(svc, list(hosts))
        except Exception as error:  # noqa: BLE001 - report, back off, retry
            tracked.failures += 1
            tracked.retry_at = now + backoff_delay(tracked.failures, RETRY_START, RETRY_MAX)
            tracked.failed_inputs = inputs
            log.warning("%s: %s (retry in %.0f s)", key, error, tracked.retry_at - now)
            if not isinstance(error, ApiException):
                verb = "ensure" if action == self._ensure else "delete"
                self._event(svc, "Warning", "SyncLoadBalancerFailed",
                            f"Error syncing load balancer: failed to {verb} load balancer: {error}")
            return
        tracked.inputs, tracked.hosts = inputs, hosts
        tracked.failures, tracked.retry_at, tracked.hosts_retry_at = 0, None, None

    # --- OpenStack helpers ----------------------------------------------------------------

    def _authenticate(self) -> None:
        """What OCCM does before it serves (pkg/client NewOpenStackClient: openstack.Authenticate, then
        its service clients from the catalog): the first Service waits for Octavia, not for the
        SDK's import, a token and the endpoints' discovery (about 1 s here)."""
        try:
            conn = self.conn
            conn.authorize()
            for service in (conn.load_balancer, conn.network, conn.compute):
                service.get_endpoint()
        except Exception as error:  # noqa: BLE001 - the cloud may not answer yet: the first use retries
            self._conn = None
            log.warning("cannot authenticate to OpenStack at start (%s); retried at first use", error)

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _find_lb(self, svc: dict, missing_annotated_is_error: bool = True):
        """The Service's load balancer: the annotated one, else the one of its name. An annotated one
        that is gone is an error on ensure and update (ensureOctaviaLoadBalancer: "failed to get load
        balancer <id>": nothing is rebuilt) and nothing to do on delete (ensureLoadBalancerDeleted
        returns, and the floating IP stays behind); cloud-provider-openstack pkg/openstack/loadbalancer.go."""
        from openstack import exceptions

        m = meta(svc)
        lb_id = (m.get("annotations") or {}).get(ANN_LB_ID)
        if lb_id:
            try:
                lb = self.conn.load_balancer.get_load_balancer(lb_id)
            except exceptions.NotFoundException as error:
                if missing_annotated_is_error:
                    raise ServiceError(f"failed to get load balancer {lb_id}: {error}") from error
                return None
            if lb.provisioning_status != "DELETED":
                return lb
            if missing_annotated_is_error:
                raise ServiceError(f"failed to get load balancer {lb_id}: it is DELETED")
            return None
        name = lb_name(self._cluster, m.get("namespace") or "default", m["name"])
        for lb in self.conn.load_balancer.load_balancers(name=name):
            if lb.name == name and lb.provisioning_status != "DELETED":
                return lb
        return None

    def _lb_status(self, lb_id: str) -> str | None:
        from openstack import exceptions

        try:
            return self.conn.load_balancer.get_load_balancer(lb_id).provisioning_status
        except exceptions.NotFoundException:
            return None

    def _wait_active(self, lb_id: str) -> None:
        """WaitLoadbalancerActive: ERROR fails at once, a timeout fails after the backoff."""
        def active() -> bool:
            status = self._lb_status(lb_id)
            if status == "ERROR":
                raise ServiceError(f"loadbalancer {lb_id} has gone into ERROR state")
            return status == "ACTIVE"

        if not check_on_backoff(active, ACTIVE_BACKOFF, self._sleep):
            raise ServiceError(f"timeout waiting for the loadbalancer {lb_id} ACTIVE")

    def _vip_subnet(self, svc: dict, nodes: list[tuple[str, str]]) -> str:
        subnet = ((meta(svc).get("annotations") or {}).get(ANN_SUBNET) or "").strip()
        if subnet:
            return subnet
        if self._subnet_cache:
            return self._subnet_cache
        network_name = None
        node_objects = {meta(n)["name"]: n for n in self._nodes.snapshot()}
        for node_name, _ in nodes:
            provider_id = ((node_objects.get(node_name) or {}).get("spec") or {}).get("providerID") or ""
            if provider_id.startswith("openstack://"):
                try:
                    server = self.conn.compute.get_server(provider_id.rsplit("/", 1)[-1])
                    network_name = next(iter(server.addresses or {}), None)
                except Exception as error:  # noqa: BLE001 - fall back to "private"
                    log.info("node %s: no server network (%s); using 'private'", node_name, error)
            break
        network = None
        for candidate in (network_name, "private"):
            if candidate:
                network = self.conn.network.find_network(candidate)
                if network is not None and network.subnet_ids:
                    break
        if network is None or not network.subnet_ids:
            raise ServiceError("no subnet for the load balancer VIP (no network 'private' with a subnet)")
        self._subnet_cache = network.subnet_ids[0]
        return self._subnet_cache

    def _floating_network(self, svc: dict) -> str | None:
        explicit = ((meta(svc).get("annotations") or {}).get(ANN_FLOATING_NETWORK) or "").strip()
        if explicit:
            return explicit
        if self._floating_network_arg:
            network = self.conn.network.find_network(self._floating_network_arg)
        else:
            external = list(self.conn.network.networks(is_router_external=True))
            network = external[0] if len(external) == 1 else self.conn.network.find_network("public")
        return network.id if network is not None else None

    # --- ensure ---------------------------------------------------------------------------

    def _ensure(self, svc: dict, nodes: list[tuple[str, str]]) -> None:
        m = meta(svc)
        namespace, name = m.get("namespace") or "default", m["name"]
        annotations = m.get("annotations") or {}
        self._event(svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        if FINALIZER not in (m.get("finalizers") or []):
            svc = self._set_finalizer(svc, present=True)
        if not nodes:
            self._event(svc, "Warning", "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer")
            raise ServiceError(f"there are no available nodes for LoadBalancer service {namespace}/{name}")
        ports, skipped = tcp_ports(svc)
        for port in skipped:
            self._event(svc, "Warning", "UnsupportedPort",
                        f"port {port.get('port')}/{port.get('protocol')} skipped: "
                        "the lab's cloud controller double builds TCP listeners only")
        if not ports:
            raise ServiceError("no TCP port to balance")
        member_subnet = (annotations.get(ANN_MEMBER_SUBNET) or "").strip() or None
        lb = self._find_lb(svc)
        if lb is None:
            vip_subnet = self._vip_subnet(svc, nodes)
            body = load_balancer_request(svc, self._cluster, nodes, ports, vip_subnet, member_subnet or vip_subnet)
            lb = self.conn.load_balancer.create_load_balancer(**body["loadbalancer"])
            log.info("%s/%s: creating load balancer %s (%s), fully populated", namespace, name, lb.id, lb.name)
            self._wait_active(lb.id)
        elif lb.provisioning_status != "ACTIVE":
            raise ServiceError(f"load balancer {lb.id} is not ACTIVE, current provisioning status: "
                               f"{lb.provisioning_status}")
        lb = self.conn.load_balancer.get_load_balancer(lb.id)
        self._ensure_tree(svc, lb, ports, nodes, member_subnet or lb.vip_subnet_id)
        ip = self._ensure_floating_ip(svc, lb)
        if annotations.get(ANN_LB_ID) != lb.id:
            svc = self._patch(svc, {"metadata": {"annotations": {ANN_LB_ID: lb.id}}})
        current = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if [{"ip": i.get("ip")} for i in current] != [{"ip": ip}]:
            self._patch(svc, {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}, status=True)
            log.info("%s/%s: ingress %s", namespace, name, ip)
        self._event(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")

    def _ensure_tree(self, svc: dict, lb, ports: list[tuple[int, int]], nodes: list[tuple[str, str]],
                     member_subnet: str) -> None:
        """ensureOctaviaListener / Pool / HealthMonitor for an existing load balancer: each change
        is one call, then a wait for ACTIVE (a no-op read for a complete tree)."""
        annotations = meta(svc).get("annotations") or {}
        full = lb.name
        api = self.conn.load_balancer
        method = (annotations.get(ANN_LB_METHOD) or "ROUND_ROBIN").strip().upper()
        monitor = annotation_true(annotations.get(ANN_HEALTH_MONITOR))
        wanted = dict(ports)

        def change(action) -> None:
            action()
            self._wait_active(lb.id)

        listeners = [api.get_listener(ref["id"]) for ref in (lb.listeners or [])]
        for listener in listeners:
            if listener.protocol_port not in wanted or listener.protocol != "TCP":
                if listener.default_pool_id:
                    change(lambda listener=listener: api.delete_pool(listener.default_pool_id, ignore_missing=True))
                change(lambda listener=listener: api.delete_listener(listener.id, ignore_missing=True))
        by_port = {x.protocol_port: x for x in listeners if x.protocol_port in wanted and x.protocol == "TCP"}
        for index, (port, node_port) in enumerate(ports):
            listener = by_port.get(port)
            if listener is None:
                listener = api.create_listener(name=f"listener_{index}_{full}"[:255], protocol="TCP",
                                               protocol_port=port, loadbalancer_id=lb.id, tags=[full])
                self._wait_active(lb.id)
            pool_id = api.get_listener(listener.id).default_pool_id
            if not pool_id:
                pool_id = api.create_pool(name=f"pool_{index}_{full}"[:255], lb_algorithm=method, protocol="TCP",
                                          listener_id=listener.id).id
                self._wait_active(lb.id)
            pool = api.get_pool(pool_id)
            if pool.lb_algorithm != method:
                change(lambda pool=pool: api.update_pool(pool, lb_algorithm=method))
            self._ensure_members(lb.id, pool.id, member_bodies(nodes, node_port, member_subnet))
            if monitor and not pool.health_monitor_id:
                change(lambda pool=pool, port=port: api.create_health_monitor(
                    pool_id=pool.id, **health_monitor(f"monitor_{port}_{full}"[:255])))
            elif not monitor and pool.health_monitor_id:
                change(lambda pool=pool: api.delete_health_monitor(pool.health_monitor_id, ignore_missing=True))

    def _ensure_members(self, lb_id: str, pool_id: str, wanted: list[dict]) -> bool:
        """BatchUpdatePoolMembers when the pool's (name, address, port) set differs; True if changed."""
        have = {(x.name, x.address, x.protocol_port) for x in self.conn.load_balancer.members(pool_id)}
        if have == {(w["name"], w["address"], w["protocol_port"]) for w in wanted}:
            return False
        response = self.conn.load_balancer.put(f"/lbaas/pools/{pool_id}/members", json={"members": wanted})
        if response.status_code >= 400:
            raise ServiceError(f"error updating members of pool {pool_id}: {response.status_code} "
                               f"{response.text[:300]}")
        self._wait_active(lb_id)
        return True

    def _update_hosts(self, svc: dict, tracked: Tracked, hosts: tuple, now: float) -> None:
        """UpdateLoadBalancer: the members of every pool follow the node set; nothing is built."""
        nodes = list(hosts)
        try:
            if not nodes:
                self._event(svc, "Warning", "UnAvailableLoadBalancer", "There are no available nodes for LoadBalancer")
                m = meta(svc)
                raise ServiceError(f"there are no available nodes for LoadBalancer service "
                                   f"{m.get('namespace')}/{m['name']}")
            lb = self._find_lb(svc)
            if lb is None:
                raise ServiceError(f"loadbalancer does not exist for Service {meta(svc).get('namespace')}/"
                                   f"{meta(svc)['name']}")
            member_subnet = ((meta(svc).get("annotations") or {}).get(ANN_MEMBER_SUBNET) or "").strip() \
                or lb.vip_subnet_id
            api = self.conn.load_balancer
            by_port = {x.protocol_port: x for x in (api.get_listener(r["id"]) for r in lb.listeners or [])}
            for port, node_port in tcp_ports(svc)[0]:
                listener = by_port.get(port)
                if listener is None or not listener.default_pool_id:
                    raise ServiceError(f"loadbalancer {lb.id} has no listener or pool for port {port}")
                self._ensure_members(lb.id, listener.default_pool_id, member_bodies(nodes, node_port, member_subnet))
        except Exception as error:  # noqa: BLE001 - retried at the next node sync
            tracked.hosts_retry_at, tracked.failed_hosts = now + NODE_SYNC_PERIOD, hosts
            log.warning("%s/%s: updating hosts: %s", meta(svc).get("namespace"), meta(svc)["name"], error)
            self._event(svc, "Warning", "UpdateLoadBalancerFailed",
                        f"Error updating load balancer with new hosts {[n for n, _ in nodes]}, error: {error}")
            return
        tracked.hosts, tracked.hosts_retry_at = hosts, None
        self._event(svc, "Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts")

    def _ensure_floating_ip(self, svc: dict, lb) -> str:
        m, spec = meta(svc), svc.get("spec") or {}
        annotations = m.get("annotations") or {}
        net = self.conn.network
        attached = list(net.ips(port_id=lb.vip_port_id)) if lb.vip_port_id else []
        if annotation_true(annotations.get(ANN_INTERNAL)):
            for fip in attached:
                keep = annotation_true(annotations.get(ANN_KEEP_FIP)) or not created_by_controller(fip.description)
                self._release_floating_ip(fip, keep)
            return lb.vip_address
        if attached:
            return attached[0].floating_ip_address
        network_id = self._floating_network(svc)
        if network_id is None:
            self._event(svc, "Warning", "LoadBalancerFloatingNetworkMissing",
                        "Floating network configuration not provided for Service "
                        f"{m.get('namespace')}/{m['name']}, forcing to ensure an internal load balancer service")
            return lb.vip_address
        wanted = (spec.get("loadBalancerIP") or "").strip()
        description = floating_ip_description(m.get("namespace") or "default", m["name"], self._cluster)
        if wanted:
            existing = list(net.ips(floating_ip_address=wanted))
            if existing:
                if existing[0].port_id and existing[0].port_id != lb.vip_port_id:
                    raise ServiceError(f"floating IP {wanted} is not available")
                return net.update_ip(existing[0], port_id=lb.vip_port_id).floating_ip_address
            fip = net.create_ip(floating_network_id=network_id, port_id=lb.vip_port_id,
                                floating_ip_address=wanted, description=description)
        else:
            fip = net.create_ip(floating_network_id=network_id, port_id=lb.vip_port_id, description=description)
        log.info("%s/%s: floating IP %s for VIP port %s", m.get("namespace"), m["name"], fip.floating_ip_address,
                 lb.vip_port_id)
        return fip.floating_ip_address

    def _release_floating_ip(self, fip, keep: bool) -> None:
        if keep:
            self.conn.network.update_ip(fip, port_id=None)
            log.info("detached floating IP %s", fip.floating_ip_address)
        else:
            self.conn.network.delete_ip(fip, ignore_missing=True)
            log.info("deleted floating IP %s", fip.floating_ip_address)

    # --- delete ---------------------------------------------------------------------------

    def _ensure_deleted(self, svc: dict, _nodes: list[tuple[str, str]]) -> None:
        from openstack import exceptions

        m = meta(svc)
        annotations = m.get("annotations") or {}
        self._event(svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        lb = self._find_lb(svc, missing_annotated_is_error=False)
        if lb is not None:
            if lb.vip_port_id and not annotation_true(annotations.get(ANN_KEEP_FIP)):
                for fip in self.conn.network.ips(port_id=lb.vip_port_id):
                    if created_by_controller(fip.description):
                        self._release_floating_ip(fip, keep=False)
            if lb.provisioning_status != "PENDING_DELETE":
                try:
                    self.conn.load_balancer.delete_load_balancer(lb.id, ignore_missing=True, cascade=True)
                    log.info("%s/%s: deleting load balancer %s", m.get("namespace"), m["name"], lb.id)
                except exceptions.ConflictException as error:
                    raise ServiceError(f"load balancer {lb.id} is {lb.provisioning_status}: {error}") from error
            if not check_on_backoff(lambda: self._lb_status(lb.id) in (None, "DELETED"), DELETE_BACKOFF,
                            self._sleep):
                raise ServiceError(f"timeout waiting for the loadbalancer {lb.id} to be deleted")
        if not m.get("deletionTimestamp"):
            # the type changed away from LoadBalancer: the Service stays, without its LB
            if (svc.get("status") or {}).get("loadBalancer"):
                svc = self._patch(svc, {"status": {"loadBalancer": None}}, status=True)
            if ANN_LB_ID in (meta(svc).get("annotations") or {}):
                svc = self._patch(svc, {"metadata": {"annotations": {ANN_LB_ID: None}}})
        self._event(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        self._set_finalizer(svc, present=False)
        log.info("%s/%s: load balancer gone, finalizer removed", m.get("namespace"), m["name"])

    # --- Kubernetes helpers ---------------------------------------------------------------

    def _patch(self, svc: dict, body: dict, status: bool = False) -> dict:
        m = meta(svc)
        call = self._core.patch_namespaced_service_status if status else self._core.patch_namespaced_service
        return raw(call, m["name"], m.get("namespace") or "default", body,
                   _content_type="application/merge-patch+json")

    def _set_finalizer(self, svc: dict, present: bool) -> dict:
        """As the service controller's addFinalizer/removeFinalizer (servicehelper.PatchService): a
        strategic merge patch of the status subresource that adds or deletes this one finalizer, with
        no resourceVersion, so a Service changed meanwhile (the garbage collector removing its
        foregroundDeletion finalizer during a delete) is no conflict, and other finalizers stay."""
        m = meta(svc)
        change = {"finalizers": [FINALIZER]} if present else {"$deleteFromPrimitiveList/finalizers": [FINALIZER]}
        return raw(self._core.patch_namespaced_service_status, m["name"], m.get("namespace") or "default",
                   {"metadata": change}, _content_type="application/strategic-merge-patch+json")

    def _event(self, svc: dict, kind: str, reason: str, message: str) -> None:
        m = meta(svc)
        log.info("event %s %s/%s %s: %s", kind, m.get("namespace"), m["name"], reason, message)
        self._recorder.event(svc, "Service", kind, reason, message)


def connector(clouds_yaml: str, cloud: str):
    def connect():
        import openstack.config
        import openstack.connection

        region = openstack.config.OpenStackConfig(config_files=[clouds_yaml], load_envvars=False
                                                  ).get_one(cloud=cloud, api_timeout=30)
        return openstack.connection.Connection(config=region)
    return connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.cloud_controller",
                                     description="OpenStack cloud controller double: Octavia LBs for Services")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--clouds-yaml", required=True, help="clouds.yaml with the cloud entry")
    parser.add_argument("--cloud", default="devstack-admin")
    parser.add_argument("--cluster-name", default="kubernetes")
    parser.add_argument("--floating-network", default=None,
                        help="floating network name or id (default: the only external network, else 'public')")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    daemon.setup_logging(args.verbose)
    controller = CloudController(api_client(args.kubeconfig), connector(args.clouds_yaml, args.cloud),
                                 args.cluster_name, args.floating_network)
    return daemon.run_until_signalled(controller.run, controller.stop, "cloud-controller")


if __name__ == "__main__":
    sys.exit(main())
