"""A DOUBLE of kube-proxy for the lab: the NodePort data path of every node, in one process.

Stands for kube-proxy (iptables mode) running on master1, worker1 and worker2. The lab's nodes
are loopback addresses of one machine, so one process plays all three; it programs no iptables
rules, it really listens and copies bytes.

What it does (the part of kube-proxy this project depends on):
- For each Service of type NodePort or LoadBalancer, for each TCP port with a nodePort, a TCP
  listener on EVERY node's InternalIP (Node.status.addresses) at that nodePort, while the port
  has a usable endpoint. Listeners follow Services, their ports, endpoints and the nodes (list +
  watch on Services, EndpointSlices, Pods and Nodes): they appear when a Service gets a
  nodePort and a ready endpoint, and disappear when it loses them or goes away.
- Each accepted connection is forwarded to ONE ready endpoint of the Service port, chosen at
  random per connection like iptables mode's ``statistic --mode random`` (or round robin with
  ``--balance roundrobin``, like IPVS ``rr``); bytes are then copied both ways until both sides
  are done. The endpoints are the union of
  * the EndpointSlices labelled ``kubernetes.io/service-name`` (port matched by the Service
    port's name, endpoints whose ``conditions.ready`` is not false), as the real one reads, and
  * for a Service with a selector, what the EndpointSlice controller would publish: the pods of
    the namespace matching the selector, with a pod IP, not terminating, Ready (or any, with
    ``publishNotReadyAddresses``), at the targetPort (a number, or a named containerPort).
  The second source is a lab necessity: the API server refuses loopback addresses in
  EndpointSlices and Endpoints ("may not be in the loopback range"), so the lab's pod IPs
  (loopback, 127.X.1x.N) never reach an EndpointSlice; kube-proxy reads them from the pods.
- externalTrafficPolicy Cluster: endpoints on any node; the connection to the endpoint leaves
  from the node's IP (kube-proxy's masquerade: the pod sees the node, not the client).
  externalTrafficPolicy Local: only endpoints on the listener's own node.
- No ready endpoint: no listener, so a connection is refused, as kube-proxy's REJECT rule
  ("has no endpoints") makes it; the chosen endpoint refusing (or the last endpoint vanishing
  between accept and choice): the accepted connection is reset at once. (For
  externalTrafficPolicy Local without a local endpoint the real one DROPs: a timeout, not a
  refusal.)
- A removed listener stops taking connections; connections already open stay (conntrack).

What it does not do: ClusterIPs, externalIPs and LoadBalancer IPs (Service ClusterIPs are not
routed in the lab; the amphora double binds the VIP and floating IP), UDP/SCTP, sessionAffinity,
the terminating-endpoint fallback, topology-aware routing, healthCheckNodePort, IPv6.

Command line (started by `lab up`): ``python -m lab.kube_proxy --kubeconfig K``.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import socket
import struct
import sys
import threading
from dataclasses import dataclass

from kubernetes import client

from lab import daemon
from lab.kube.client import api_client, node_internal_ip
from lab.kube.informer import Informer

log = logging.getLogger("kube-proxy")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


# --- the proxy -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What a node listener forwards to: a Service port, and the node it listens on."""

    namespace: str
    service: str
    port_name: str
    node: str
    local_only: bool  # externalTrafficPolicy: Local


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node: str | None


def desired_listeners(services: list[dict], nodes: list[dict]) -> dict[tuple[str, int], Target]:
    """(node IP, nodePort) -> Target for every TCP nodePort of every NodePort/LoadBalancer
    Service, on every node that has an InternalIP."""
    node_ips = [(n["metadata"]["name"], ip) for n in nodes if (ip := node_internal_ip(n))]
    wanted: dict[tuple[str, int], Target] = {}
    for svc in services:
        spec, meta = svc.get("spec") or {}, svc["metadata"]
        if spec.get("type") not in ("NodePort", "LoadBalancer"):
            continue
        local = spec.get("externalTrafficPolicy") == "Local"
        for port in spec.get("ports") or []:
            if (port.get("protocol") or "TCP") != "TCP" or not port.get("nodePort"):
                continue
            for node_name, ip in node_ips:
                wanted[(ip, int(port["nodePort"]))] = Target(
                    meta.get("namespace") or "", meta["name"], port.get("name") or "", node_name, local)
    return wanted


def ready_endpoints(slices: list[dict]) -> dict[tuple[str, str, str], list[Endpoint]]:
    """(namespace, service, port name) -> the ready endpoints, from the EndpointSlices."""
    table: dict[tuple[str, str, str], set[Endpoint]] = {}
    for eps in slices:
        meta = eps.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not service or eps.get("addressType", "IPv4") != "IPv4":
            continue
        for port in eps.get("ports") or []:
            if (port.get("protocol") or "TCP") != "TCP" or port.get("port") is None:
                continue
            key = (meta.get("namespace") or "", service, port.get("name") or "")
            bucket = table.setdefault(key, set())
            for endpoint in eps.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in (endpoint.get("addresses") or [])[:1]:
                    bucket.add(Endpoint(address, int(port["port"]), endpoint.get("nodeName")))
    return {key: sorted(value, key=lambda e: (e.ip, e.port)) for key, value in table.items()}


def _selected(labels: dict, selector: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _target_port(pod: dict, port: dict) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target and (declared.get("protocol") or "TCP") == protocol:
                return int(declared["containerPort"])
    return None


def pod_endpoints(services: list[dict], pods: list[dict]) -> dict[tuple[str, str, str], list[Endpoint]]:
    """(namespace, service, port name) -> endpoints, computed from the pods the way the
    EndpointSlice controller does for a Service with a selector."""
    by_namespace: dict[str, list[dict]] = {}
    for pod in pods:
        by_namespace.setdefault(pod["metadata"].get("namespace") or "", []).append(pod)
    table: dict[tuple[str, str, str], list[Endpoint]] = {}
    for svc in services:
        spec, meta = svc.get("spec") or {}, svc["metadata"]
        selector = spec.get("selector") or {}
        if not selector:
            continue
        namespace = meta.get("namespace") or ""
        not_ready_too = bool(spec.get("publishNotReadyAddresses"))
        for pod in by_namespace.get(namespace, []):
            status = pod.get("status") or {}
            ips = [a.get("ip") for a in status.get("podIPs") or []] or [status.get("podIP")]
            if (not ips[0] or pod["metadata"].get("deletionTimestamp")
                    or status.get("phase") in ("Succeeded", "Failed")
                    or not _selected(pod["metadata"].get("labels") or {}, selector)
                    or not (not_ready_too or _pod_ready(pod))):
                continue
            for port in spec.get("ports") or []:
                if (port.get("protocol") or "TCP") != "TCP":
                    continue
                number = _target_port(pod, port)
                if number is not None:
                    table.setdefault((namespace, meta["name"], port.get("name") or ""), []).append(
                        Endpoint(ips[0], number, (pod.get("spec") or {}).get("nodeName")))
    return table


def all_endpoints(services: list[dict], slices: list[dict], pods: list[dict]):
    merged: dict[tuple[str, str, str], set[Endpoint]] = {}
    for table in (ready_endpoints(slices), pod_endpoints(services, pods)):
        for key, endpoints in table.items():
            merged.setdefault(key, set()).update(endpoints)
    return {key: sorted(value, key=lambda e: (e.ip, e.port)) for key, value in merged.items()}


def candidates(endpoints: dict[tuple[str, str, str], list[Endpoint]], target: Target) -> list[Endpoint]:
    """The endpoints a node listener may forward to: the Service port's ready endpoints, only
    the listener's own node's with externalTrafficPolicy Local."""
    found = endpoints.get((target.namespace, target.service, target.port_name), [])
    return [e for e in found if e.node == target.node] if target.local_only else list(found)


def choose(found: list[Endpoint], balance: str, counter, pick=random.choice) -> Endpoint | None:
    """One endpoint per connection: at random like iptables mode's ``statistic --mode random``,
    or in turn (``roundrobin``, like IPVS rr) with ``counter`` (an itertools.count)."""
    if not found:
        return None
    if balance == "roundrobin":
        return found[next(counter) % len(found)]
    return pick(found)


class KubeProxy:
    def __init__(self, api: client.ApiClient, balance: str = "random"):
        self._core = client.CoreV1Api(api)
        self._discovery = client.DiscoveryV1Api(api)
        self._balance = balance
        self._stop = threading.Event()
        self._servers: dict[tuple[str, int], asyncio.base_events.Server] = {}
        self._targets: dict[tuple[str, int], Target] = {}
        self._endpoints: dict[tuple[str, str, str], list[Endpoint]] = {}
        self._counters: dict[tuple[str, str, str, str], itertools.count] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._informers: list[Informer] = []
        self._connections: set[asyncio.Task] = set()

    def _kick(self) -> None:
        if self._loop is not None and self._dirty is not None:
            self._loop.call_soon_threadsafe(self._dirty.set)

    def stop(self) -> None:
        """Make run() return (from any thread)."""
        self._stop.set()
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dirty = asyncio.Event()
        done = self._done = asyncio.Event()
        if self._stop.is_set():
            return
        self._informers = [
            Informer(name, list_fn, self._kick, self._stop, logger=log) for name, list_fn in (
                ("services", self._core.list_service_for_all_namespaces),
                ("endpointslices", self._discovery.list_endpoint_slice_for_all_namespaces),
                ("nodes", self._core.list_node),
                ("pods", self._core.list_pod_for_all_namespaces))]
        for informer in self._informers:
            informer.start()
        log.info("kube-proxy double started (balance %s)", self._balance)
        waiter = asyncio.create_task(done.wait())
        while not done.is_set():
            dirty = asyncio.create_task(self._dirty.wait())
            finished, _ = await asyncio.wait({waiter, dirty}, timeout=5.0,
                                             return_when=asyncio.FIRST_COMPLETED)
            if dirty not in finished:
                dirty.cancel()
            if done.is_set():
                break
            self._dirty.clear()
            await asyncio.sleep(0.05)  # let a burst of events land
            self._dirty.clear()
            if all(i.synced.is_set() for i in self._informers):
                await self._reconcile()
        self._stop.set()
        for key in list(self._servers):
            self._servers.pop(key).close()
        log.info("kube-proxy double stopped")

    async def _reconcile(self) -> None:
        services, slices, nodes, pods = (i.snapshot() for i in self._informers)
        self._endpoints = all_endpoints(services, slices, pods)
        # no usable endpoint: no listener, so the connection is refused (kube-proxy REJECTs)
        wanted = {key: target for key, target in desired_listeners(services, nodes).items()
                  if self._candidates(target)}
        self._targets = wanted
        for key in [k for k in self._servers if k not in wanted]:
            self._servers.pop(key).close()
            log.info("closed listener %s:%d", *key)
        for key, target in wanted.items():
            if key in self._servers:
                continue
            ip, port = key
            try:
                self._servers[key] = await asyncio.start_server(
                    lambda r, w, k=key: self._handle(k, r, w), host=ip, port=port,
                    reuse_address=True, backlog=256)
                log.info("listening on %s:%d for %s/%s port %r", ip, port, target.namespace,
                         target.service, target.port_name)
            except OSError as error:
                log.warning("cannot listen on %s:%d: %s (retrying)", ip, port, error)
                self._loop.call_later(2.0, self._dirty.set)

    def _candidates(self, target: Target) -> list[Endpoint]:
        return candidates(self._endpoints, target)

    def _choose(self, target: Target) -> Endpoint | None:
        counter = self._counters.setdefault(
            (target.namespace, target.service, target.port_name, target.node), itertools.count())
        return choose(self._candidates(target), self._balance, counter)

    async def _handle(self, key: tuple[str, int], reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)  # asyncio keeps only a weak reference to a handler task
        try:
            await self._forward(key, reader, writer)
        finally:
            self._connections.discard(task)

    async def _forward(self, key: tuple[str, int], reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        target = self._targets.get(key)
        endpoint = self._choose(target) if target else None
        if endpoint is None:
            log.debug("%s:%d: no ready endpoint, rejecting", *key)
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.ip, endpoint.port, local_addr=(key[0], 0)), 10)
        except (TimeoutError, OSError) as error:
            log.info("%s:%d -> %s:%d failed: %s", key[0], key[1], endpoint.ip, endpoint.port, error)
            _reset(writer)
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.transport.abort()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.kube_proxy",
                                     description="kube-proxy double: NodePort listeners on every node IP")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--balance", choices=["random", "roundrobin"], default="random",
                        help="endpoint choice per connection (default random, like iptables mode)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    daemon.setup_logging(args.verbose)
    proxy = KubeProxy(api_client(args.kubeconfig), args.balance)
    return daemon.run_until_signalled(lambda: asyncio.run(proxy.run()), proxy.stop, "kube-proxy")

if __name__ == "__main__":
    sys.exit(main())
