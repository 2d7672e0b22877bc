"""A DOUBLE of the OpenStack cloud controller manager (OCCM) for the lab: its LoadBalancer part.

Stands for openstack-cloud-controller-manager's service controller (kubernetes/
cloud-provider-openstack, Octavia provider) with cluster name ``kubernetes``. It really calls the
OpenStack API (the lab's OpenStack double) with openstacksdk, as the ``devstack-admin`` cloud of a
clouds.yaml (the real one reads cloud.conf). It does not initialise nodes or routes (the lab's
nodes are created with their providerID and addresses already set).

What it does, for each Service of type LoadBalancer without ``spec.loadBalancerClass``
(list + watch on Services and Nodes; converging Services are polled every ~0.4 s, the others
resynced every 60 s):
- adds the finalizer ``service.kubernetes.io/load-balancer-cleanup``;
- creates the Octavia load balancer ``kube_service_<cluster>_<namespace>_<name>`` (description
  and tag as OCCM's) on the VIP subnet, and sets the annotation
  ``loadbalancer.openstack.org/load-balancer-id`` at once; waits (without blocking other
  Services) for PENDING_CREATE -> ACTIVE and for ACTIVE again after each change (a 409 from
  Octavia while the LB is PENDING_* just means "later");
- one listener per TCP Service port (``listener_<i>_<lb name>``, protocol TCP, protocol_port =
  port), one pool per listener (``pool_<i>_<lb name>``, ROUND_ROBIN or the ``lb-method``
  annotation, protocol TCP), members = the nodes NOT labelled
  ``node.kubernetes.io/exclude-from-external-load-balancers`` (nor being deleted; readiness
  counts only with externalTrafficPolicy Local, as in the service controller of Kubernetes
  >= 1.30, KEP-3458 "stable load balancer node set"), address = node InternalIP,
  protocol_port = the port's nodePort, name = node name, subnet = the member subnet; listeners,
  pools and members are kept in sync with ports, nodePorts, nodes and labels (extra ones deleted);
- a TCP health monitor per pool when ``loadbalancer.openstack.org/enable-health-monitor`` is
  true (delay 5, timeout 3, max_retries 1, max_retries_down 3), removed when it turns false;
- a floating IP on the floating network for the LB's VIP port (reused when one is already
  there; ``spec.loadBalancerIP`` picks/creates that address), unless
  ``service.beta.kubernetes.io/openstack-internal-load-balancer: "true"``;
- then ``status.loadBalancer.ingress[0].ip`` = the floating IP (the VIP for an internal LB);
- events like the real service controller: EnsuringLoadBalancer / EnsuredLoadBalancer,
  UpdatedLoadBalancer (node set changed), Warning UnAvailableLoadBalancer "There are no
  available nodes for LoadBalancer" and SyncLoadBalancerFailed "... there are no available nodes
  for LoadBalancer service <ns>/<name>" (nothing is created then), SyncLoadBalancerFailed on
  other errors (retried with a back-off of 5 s doubling up to 60 s), DeletingLoadBalancer /
  DeletedLoadBalancer;
- on deletion (deletionTimestamp) or when the type changes away from LoadBalancer: deletes the
  floating IP(s) of the VIP port (only detaches them with
  ``loadbalancer.openstack.org/keep-floatingip: "true"``), deletes the LB with cascade=true,
  waits until Octavia no longer shows it, then (type change) clears status.loadBalancer and the
  load-balancer-id annotation, and removes the finalizer.

Annotations honoured: ``loadbalancer.openstack.org/load-balancer-id`` (the LB to use: looked
up first, then by name), ``.../enable-health-monitor``, ``.../lb-method``,
``.../floating-network-id``, ``.../subnet-id``, ``.../member-subnet-id``, ``.../keep-floatingip``,
``service.beta.kubernetes.io/openstack-internal-load-balancer``.

What it does not do: other annotations (proxy-protocol, x-forwarded-for, timeouts, allowed CIDRs,
flavor, availability zone, shared LBs, ...), UDP/SCTP listeners (such ports are skipped with a
warning event), security groups (manage-security-groups is off, as by default), HTTP/TLS
listeners, the fully-populated single-call create (it builds step by step), node
initialisation/route controllers, cleanup of LBs whose Service vanished without the finalizer.
VIP subnet: the ``subnet-id`` annotation, else the subnet of the network the nodes' Nova
server sits on (first one, fallback the network ``private``). Floating network: the
``floating-network-id`` annotation, else ``--floating-network`` (name or id), else the only
external network, else the network named ``public``.

Command line (started by `lab up`): ``python -m lab.cloud_controller --kubeconfig K
--clouds-yaml C --cloud devstack-admin --cluster-name kubernetes``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import signal
import sys
import threading
import time
import uuid

from kubernetes import client, config

from lab.kube_proxy import Informer, node_internal_ip, setup_logging

log = logging.getLogger("cloud-controller")

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
ANN_LB_ID = "loadbalancer.openstack.org/load-balancer-id"
ANN_INTERNAL = "service.beta.kubernetes.io/openstack-internal-load-balancer"
ANN_HEALTH_MONITOR = "loadbalancer.openstack.org/enable-health-monitor"
ANN_LB_METHOD = "loadbalancer.openstack.org/lb-method"
ANN_FLOATING_NETWORK = "loadbalancer.openstack.org/floating-network-id"
ANN_SUBNET = "loadbalancer.openstack.org/subnet-id"
ANN_MEMBER_SUBNET = "loadbalancer.openstack.org/member-subnet-id"
ANN_KEEP_FIP = "loadbalancer.openstack.org/keep-floatingip"
HONOURED = (ANN_LB_ID, ANN_INTERNAL, ANN_HEALTH_MONITOR, ANN_LB_METHOD, ANN_FLOATING_NETWORK,
            ANN_SUBNET, ANN_MEMBER_SUBNET, ANN_KEEP_FIP)

POLL = 0.4       # seconds between passes while something converges
RESYNC = 60.0    # seconds between full checks of a converged Service
COMPONENT = "service-controller"

DONE, WAIT, RETRY = "done", "wait", "retry"


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def lb_name(cluster: str, namespace: str, name: str) -> str:
    return f"kube_service_{cluster}_{namespace}_{name}"


def eligible_nodes(nodes: list[dict], require_ready: bool = False) -> list[tuple[str, str]]:
    """(name, InternalIP) of the nodes that may be members, sorted by name, as the service
    controller of Kubernetes >= 1.30 chooses them (StableLoadBalancerNodeSet, KEP-3458): every
    node except those labelled exclude-from-external-load-balancers, being deleted, or tainted
    ToBeDeletedByClusterAutoscaler; readiness counts only for externalTrafficPolicy Local
    (``require_ready``), otherwise the LB's health monitor is left to judge."""
    result = []
    for node in nodes:
        meta = node["metadata"]
        if EXCLUDE_LABEL in (meta.get("labels") or {}) or meta.get("deletionTimestamp"):
            continue
        if any(t.get("key") == TO_BE_DELETED_TAINT for t in (node.get("spec") or {}).get("taints") or []):
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or [])
        ip = node_internal_ip(node)
        if ip and (ready or not require_ready):
            result.append((meta["name"], ip))
    return sorted(result)


class ServiceError(Exception):
    """A failure worth a SyncLoadBalancerFailed event."""


class CloudController:
    def __init__(self, api: client.ApiClient, connect, cluster: str,
                 floating_network: str | None = None):
        self._core = client.CoreV1Api(api)
        self._connect = connect  # () -> openstack.connection.Connection (lazy: the cloud may start later)
        self._conn = None
        self._cluster = cluster
        self._floating_network_arg = floating_network
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._services = Informer("services", self._core.list_service_for_all_namespaces,
                                  self._wake.set, self._stop)
        self._nodes = Informer("nodes", self._core.list_node, self._wake.set, self._stop)
        # per Service uid: fingerprint when converged, next resync time, back-off, events sent
        self._converged: dict[str, tuple] = {}
        self._attempted: dict[str, tuple] = {}
        self._next_check: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._episode: dict[str, set] = {}
        self._subnet_cache: str | None = None
        self._floating_network_cache: str | None = None

    # --- loop ----------------------------------------------------------------------------

    def stop(self, *_args) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        self._services.start()
        self._nodes.start()
        log.info("cloud controller double started (cluster %s)", self._cluster)
        while not self._stop.is_set():
            if not (self._services.synced.is_set() and self._nodes.synced.is_set()):
                self._stop.wait(0.2)
                continue
            now = time.monotonic()
            for svc in self._services.items():
                if self._stop.is_set():
                    break
                self._pass(svc, now)
            live = {s["metadata"]["uid"] for s in self._services.items()}
            for table in (self._converged, self._attempted, self._next_check, self._backoff,
                          self._episode):
                for uid in [u for u in table if u not in live]:
                    table.pop(uid, None)
            wake_at = min(self._next_check.values(), default=now + RESYNC)
            self._wake.wait(max(0.05, min(RESYNC, wake_at - time.monotonic())))
            self._wake.clear()
        log.info("cloud controller double stopped")

    @staticmethod
    def _fingerprint(svc: dict, nodes: list[tuple[str, str]]) -> tuple:
        """The inputs of a Service's load balancer (not what this controller writes itself:
        finalizer, load-balancer-id annotation, status); the node set comes last."""
        meta, spec = svc["metadata"], svc.get("spec") or {}
        annotations = meta.get("annotations") or {}
        ports = tuple((p.get("name"), p.get("protocol"), p.get("port"), p.get("nodePort"))
                      for p in spec.get("ports") or [])
        return (spec.get("type"), spec.get("loadBalancerClass"), bool(meta.get("deletionTimestamp")),
                ports, spec.get("loadBalancerIP"),
                tuple((k, annotations.get(k)) for k in HONOURED if k != ANN_LB_ID),
                tuple(nodes))

    def _pass(self, svc: dict, now: float) -> None:
        from kubernetes.client.rest import ApiException

        meta = svc["metadata"]
        uid, key = meta["uid"], f"{meta.get('namespace')}/{meta['name']}"
        local = (svc.get("spec") or {}).get("externalTrafficPolicy") == "Local"
        nodes = eligible_nodes(self._nodes.items(), require_ready=local)
        fingerprint = self._fingerprint(svc, nodes)
        if self._attempted.get(uid) == fingerprint and now < self._next_check.get(uid, 0):
            return  # nothing new and not due: converged (resync later), waiting, or backing off
        if self._attempted.get(uid) != fingerprint:
            self._backoff.pop(uid, None)  # a change: try at once
        self._attempted[uid] = fingerprint
        previous = self._converged.get(uid)
        try:
            result = self._sync(svc, nodes, previous, fingerprint)
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning("%s: Kubernetes API: %s %s", key, error.status, error.reason)
            result = WAIT  # a stale cache or a Service just gone: look again soon
        except Exception as error:  # noqa: BLE001 - report, back off, retry
            log.warning("%s: %s", key, error)
            self._event_once(svc, "Warning", "SyncLoadBalancerFailed",
                             f"Error syncing load balancer: failed to ensure load balancer: {error}")
            result = RETRY
        if result == DONE:
            self._converged[uid] = fingerprint
            self._backoff.pop(uid, None)
            self._next_check[uid] = now + RESYNC
        elif result == WAIT:
            self._next_check[uid] = now + POLL
        else:
            backoff = min(60.0, max(5.0, 2 * self._backoff.get(uid, 0)))
            self._backoff[uid] = backoff
            self._next_check[uid] = now + backoff

    @staticmethod
    def _wants_lb(svc: dict) -> bool:
        spec = svc.get("spec") or {}
        return (spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")
                and not svc["metadata"].get("deletionTimestamp"))

    def _sync(self, svc: dict, nodes: list[tuple[str, str]], previous: tuple | None,
              fingerprint: tuple) -> str:
        if self._wants_lb(svc):
            only_nodes = previous is not None and previous[:-1] == fingerprint[:-1]
            return self._ensure(svc, nodes, only_nodes)
        if FINALIZER in (svc["metadata"].get("finalizers") or []):
            return self._ensure_deleted(svc)
        return DONE

    # --- OpenStack helpers ----------------------------------------------------------------

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _find_lb(self, svc: dict):
        from openstack import exceptions

        meta = svc["metadata"]
        lb_id = (meta.get("annotations") or {}).get(ANN_LB_ID)
        if lb_id:
            try:
                lb = self.conn.load_balancer.get_load_balancer(lb_id)
                if lb.provisioning_status != "DELETED":
                    return lb
            except exceptions.NotFoundException:
                pass
        name = lb_name(self._cluster, meta.get("namespace") or "default", meta["name"])
        for lb in self.conn.load_balancer.load_balancers(name=name):
            if lb.name == name and lb.provisioning_status != "DELETED":
                return lb
        return None

    def _await_active(self, lb_id: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while True:
            if self._lb_status(lb_id) == "ACTIVE":
                return True
            if time.monotonic() >= deadline or self._stop.is_set():
                return False
            time.sleep(0.05)

    def _lb_status(self, lb_id: str) -> str | None:
        from openstack import exceptions

        try:
            return self.conn.load_balancer.get_load_balancer(lb_id).provisioning_status
        except exceptions.NotFoundException:
            return None

    def _vip_subnet(self, svc: dict, nodes: list[tuple[str, str]]) -> str:
        subnet = ((svc["metadata"].get("annotations") or {}).get(ANN_SUBNET) or "").strip()
        if subnet:
            return subnet
        if self._subnet_cache:
            return self._subnet_cache
        network_name = None
        node_objects = {n["metadata"]["name"]: n for n in self._nodes.items()}
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

    def _floating_network(self, svc: dict) -> str:
        explicit = ((svc["metadata"].get("annotations") or {}).get(ANN_FLOATING_NETWORK) or "").strip()
        if explicit:
            return explicit
        if self._floating_network_cache:
            return self._floating_network_cache
        network = None
        if self._floating_network_arg:
            network = self.conn.network.find_network(self._floating_network_arg)
        else:
            external = list(self.conn.network.networks(is_router_external=True))
            network = external[0] if len(external) == 1 else self.conn.network.find_network("public")
        if network is None:
            raise ServiceError("no floating network (no external network, none named 'public')")
        self._floating_network_cache = network.id
        return network.id

    # --- ensure ---------------------------------------------------------------------------

    def _ensure(self, svc: dict, nodes: list[tuple[str, str]], only_nodes: bool) -> str:
        from openstack import exceptions

        meta, spec = svc["metadata"], svc.get("spec") or {}
        uid, namespace, name = meta["uid"], meta.get("namespace") or "default", meta["name"]
        annotations = meta.get("annotations") or {}
        episode = self._episode.setdefault(uid, set())
        if not only_nodes and "ensuring" not in episode:
            self._event(svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
            episode.add("ensuring")

        if FINALIZER not in (meta.get("finalizers") or []):
            svc = self._patch(svc, {"metadata": {"finalizers": (meta.get("finalizers") or []) + [FINALIZER],
                                                 "resourceVersion": meta["resourceVersion"]}})
            meta = svc["metadata"]

        if not nodes:
            self._event_once(svc, "Warning", "UnAvailableLoadBalancer",
                             "There are no available nodes for LoadBalancer")
            raise ServiceError(f"there are no available nodes for LoadBalancer service {namespace}/{name}")

        ports = []
        for port in spec.get("ports") or []:
            if (port.get("protocol") or "TCP") != "TCP":
                self._event_once(svc, "Warning", "UnsupportedPort",
                                 f"port {port.get('port')}/{port.get('protocol')} skipped: "
                                 "the lab's cloud controller double builds TCP listeners only")
                continue
            if not port.get("nodePort"):
                raise ServiceError(f"port {port.get('port')} has no nodePort "
                                   "(allocateLoadBalancerNodePorts false is not supported)")
            ports.append((int(port["port"]), int(port["nodePort"])))
        if not ports:
            raise ServiceError("no TCP port to balance")

        full_name = lb_name(self._cluster, namespace, name)
        lb = self._find_lb(svc)
        if lb is None:
            lb = self.conn.load_balancer.create_load_balancer(
                name=full_name, vip_subnet_id=self._vip_subnet(svc, nodes),
                description=f"Kubernetes external service {namespace}/{name} from cluster {self._cluster}",
                tags=[full_name])
            log.info("%s/%s: created load balancer %s (%s)", namespace, name, lb.id, full_name)
        if annotations.get(ANN_LB_ID) != lb.id:
            svc = self._patch(svc, {"metadata": {"annotations": {ANN_LB_ID: lb.id}}})
        status = lb.provisioning_status
        if status == "ERROR":
            raise ServiceError(f"load balancer {lb.id} is in provisioning status ERROR")
        if status != "ACTIVE":
            return WAIT

        lb_method = (annotations.get(ANN_LB_METHOD) or "ROUND_ROBIN").strip().upper()
        health_monitor = _true(annotations.get(ANN_HEALTH_MONITOR))
        member_subnet = (annotations.get(ANN_MEMBER_SUBNET) or "").strip() or lb.vip_subnet_id
        lbapi = self.conn.load_balancer

        def mutate(action) -> bool:
            """Run one change; True when the LB is ACTIVE again within a moment (then this pass
            goes on), False when it is still PENDING_* (the next pass goes on)."""
            try:
                action()
            except exceptions.ConflictException:
                return False
            return self._await_active(lb.id, within=0.3)

        listeners = [lbapi.get_listener(ref["id"]) for ref in (lb.listeners or [])]
        wanted = {port: node_port for port, node_port in ports}
        for listener in listeners:
            if listener.protocol_port not in wanted or listener.protocol != "TCP":
                if listener.default_pool_id and not mutate(
                        lambda: lbapi.delete_pool(listener.default_pool_id, ignore_missing=True)):
                    return WAIT
                if not mutate(lambda: lbapi.delete_listener(listener.id, ignore_missing=True)):
                    return WAIT
                return WAIT  # re-read the tree on the next pass
        by_port = {listener.protocol_port: listener for listener in listeners}
        for index, (port, node_port) in enumerate(ports):
            listener = by_port.get(port)
            if listener is None:
                mutate(lambda: lbapi.create_listener(
                    name=f"listener_{index}_{full_name}", protocol="TCP", protocol_port=port,
                    loadbalancer_id=lb.id))
                return WAIT  # the new listener is read on the next pass
            if not listener.default_pool_id:
                mutate(lambda: lbapi.create_pool(
                    name=f"pool_{index}_{full_name}", lb_algorithm=lb_method, protocol="TCP",
                    listener_id=listener.id))
                return WAIT
            pool = lbapi.get_pool(listener.default_pool_id)
            if pool.lb_algorithm != lb_method:
                if not mutate(lambda: lbapi.update_pool(pool, lb_algorithm=lb_method)):
                    return WAIT
            members = list(lbapi.members(pool.id))
            want_members = {(ip, node_port): node_name for node_name, ip in nodes}
            for member in members:
                if (member.address, member.protocol_port) not in want_members:
                    episode.add("members")
                    if not mutate(lambda: lbapi.delete_member(member.id, pool.id, ignore_missing=True)):
                        return WAIT
            have = {(m.address, m.protocol_port) for m in members}
            for (ip, member_port), node_name in sorted(want_members.items()):
                if (ip, member_port) not in have:
                    episode.add("members")
                    if not mutate(lambda: lbapi.create_member(
                            pool.id, name=node_name, address=ip, protocol_port=member_port,
                            subnet_id=member_subnet)):
                        return WAIT
            if health_monitor and not pool.health_monitor_id:
                if not mutate(lambda: lbapi.create_health_monitor(
                        pool_id=pool.id, name=f"monitor_{index}_{full_name}", type="TCP", delay=5,
                        timeout=3, max_retries=1, max_retries_down=3)):
                    return WAIT
            elif not health_monitor and pool.health_monitor_id:
                if not mutate(lambda: lbapi.delete_health_monitor(pool.health_monitor_id,
                                                                  ignore_missing=True)):
                    return WAIT

        ip = self._ensure_floating_ip(svc, lb)
        if ip is None:
            return WAIT
        ingress = [{"ip": ip}]
        current = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if [{"ip": i.get("ip")} for i in current] != ingress:
            self._patch(svc, {"status": {"loadBalancer": {"ingress": ingress}}}, status=True)
            log.info("%s/%s: ingress %s", namespace, name, ip)
        if "ensuring" in episode:
            self._event(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        elif "members" in episode:
            self._event(svc, "Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts")
        self._episode[uid] = set()
        return DONE

    def _ensure_floating_ip(self, svc: dict, lb) -> str | None:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        annotations = meta.get("annotations") or {}
        net = self.conn.network
        attached = list(net.ips(port_id=lb.vip_port_id)) if lb.vip_port_id else []
        if _true(annotations.get(ANN_INTERNAL)):
            for fip in attached:
                self._release_floating_ip(fip, _true(annotations.get(ANN_KEEP_FIP)))
            return lb.vip_address
        if attached:
            return attached[0].floating_ip_address
        if not lb.vip_port_id:
            return None
        wanted = (spec.get("loadBalancerIP") or "").strip()
        network_id = self._floating_network(svc)
        if wanted:
            existing = list(net.ips(floating_ip_address=wanted))
            if existing:
                if existing[0].port_id and existing[0].port_id != lb.vip_port_id:
                    raise ServiceError(f"floating IP {wanted} is already in use by port "
                                       f"{existing[0].port_id}")
                fip = net.update_ip(existing[0], port_id=lb.vip_port_id)
                return fip.floating_ip_address
            fip = net.create_ip(floating_network_id=network_id, port_id=lb.vip_port_id,
                                floating_ip_address=wanted)
        else:
            fip = net.create_ip(
                floating_network_id=network_id, port_id=lb.vip_port_id,
                description=f"Floating IP for Kubernetes external service "
                            f"{meta.get('namespace')}/{meta['name']} from cluster {self._cluster}")
        log.info("%s/%s: floating IP %s for VIP port %s", meta.get("namespace"), meta["name"],
                 fip.floating_ip_address, lb.vip_port_id)
        return fip.floating_ip_address

    def _release_floating_ip(self, fip, keep: bool) -> None:
        if keep:
            self.conn.network.update_ip(fip, port_id=None)
            log.info("detached floating IP %s (keep-floatingip)", fip.floating_ip_address)
        else:
            self.conn.network.delete_ip(fip, ignore_missing=True)
            log.info("deleted floating IP %s", fip.floating_ip_address)

    # --- delete ---------------------------------------------------------------------------

    def _ensure_deleted(self, svc: dict) -> str:
        from openstack import exceptions

        meta = svc["metadata"]
        uid = meta["uid"]
        annotations = meta.get("annotations") or {}
        episode = self._episode.setdefault(uid, set())
        if "deleting" not in episode:
            self._event(svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
            episode.add("deleting")
        lb = self._find_lb(svc)
        if lb is not None:
            if lb.vip_port_id:
                for fip in self.conn.network.ips(port_id=lb.vip_port_id):
                    self._release_floating_ip(fip, _true(annotations.get(ANN_KEEP_FIP)))
            if lb.provisioning_status in ("PENDING_DELETE", "DELETED"):
                return WAIT
            if lb.provisioning_status.startswith("PENDING_"):
                return WAIT
            try:
                self.conn.load_balancer.delete_load_balancer(lb.id, ignore_missing=True, cascade=True)
                log.info("%s/%s: deleting load balancer %s", meta.get("namespace"), meta["name"], lb.id)
            except exceptions.ConflictException:
                pass
            return WAIT
        if not meta.get("deletionTimestamp"):
            # the type changed away from LoadBalancer: the Service stays, without its LB
            if (svc.get("status") or {}).get("loadBalancer"):
                svc = self._patch(svc, {"status": {"loadBalancer": None}}, status=True)
            if ANN_LB_ID in (svc["metadata"].get("annotations") or {}):
                svc = self._patch(svc, {"metadata": {"annotations": {ANN_LB_ID: None}}})
        finalizers = [f for f in (svc["metadata"].get("finalizers") or []) if f != FINALIZER]
        self._event(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        self._patch(svc, {"metadata": {"finalizers": finalizers or None,
                                       "resourceVersion": svc["metadata"]["resourceVersion"]}})
        log.info("%s/%s: load balancer gone, finalizer removed", meta.get("namespace"), meta["name"])
        self._episode[uid] = set()
        return DONE

    # --- Kubernetes helpers ---------------------------------------------------------------

    def _patch(self, svc: dict, body: dict, status: bool = False) -> dict:
        meta = svc["metadata"]
        call = self._core.patch_namespaced_service_status if status else self._core.patch_namespaced_service
        response = call(meta["name"], meta.get("namespace") or "default", body,
                        _content_type="application/merge-patch+json", _preload_content=False,
                        _request_timeout=30)
        return json.loads(response.data)

    def _event_once(self, svc: dict, kind: str, reason: str, message: str) -> None:
        episode = self._episode.setdefault(svc["metadata"]["uid"], set())
        if (reason, message) not in episode:
            episode.add((reason, message))
            self._event(svc, kind, reason, message)

    def _event(self, svc: dict, kind: str, reason: str, message: str) -> None:
        meta = svc["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                         "namespace": meta.get("namespace") or "default"},
            "involvedObject": {"kind": "Service", "apiVersion": "v1", "namespace": meta.get("namespace"),
                               "name": meta["name"], "uid": meta["uid"],
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
        }
        log.info("event %s %s/%s %s: %s", kind, meta.get("namespace"), meta["name"], reason, message)
        try:
            self._core.create_namespaced_event(meta.get("namespace") or "default", body,
                                               _preload_content=False, _request_timeout=30)
        except Exception as error:  # noqa: BLE001 - an event is best effort
            log.warning("event %s not recorded: %s", reason, error)


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
                                     description="OpenStack cloud controller double: "
                                                 "Octavia LBs for Services")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--clouds-yaml", required=True, help="clouds.yaml with the cloud entry")
    parser.add_argument("--cloud", default="devstack-admin")
    parser.add_argument("--cluster-name", default="kubernetes")
    parser.add_argument("--floating-network", default=None,
                        help="floating network name or id "
                             "(default: the only external network, else 'public')")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    controller = CloudController(api, connector(args.clouds_yaml, args.cloud), args.cluster_name,
                                 args.floating_network)
    signal.signal(signal.SIGTERM, controller.stop)
    signal.signal(signal.SIGINT, controller.stop)
    controller.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
