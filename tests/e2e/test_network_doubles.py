"""The network doubles end to end: kube-proxy (lab/kube_proxy.py) and the OpenStack cloud
controller (lab/cloud_controller.py), against a real control plane and the OpenStack API double
(lab/openstack/, whose haproxy plays the amphora: load_balancer/amphora.py).

The module starts its own lab (lab/environment.py) with only the parts under test and what they
need: the control plane, the OpenStack double (fast profile, delays x3 so that PENDING_CREATE can
be seen), kube-proxy and the cloud controller. No kubelet double: the test plays the pods.

The "pods" are real pods of the API, bound to worker1 and worker2 by name; their status (pod
IP <block>.12.250 / <block>.13.250, Running, Ready) is written and kept by the test (PodKeeper),
which also serves them: a small HTTP server per pod answering `Server <pod> on <node>` and the
client address it saw. Hop by hop: client -> floating IP:port (haproxy) -> node IP:nodePort
(kube-proxy double) -> pod IP:port (the test's server).

Each lab has its own address block (lab/cluster.py); Services here still take nodePorts from the
static band (30000-30085) and LB ports from free ports, which the API server's own allocators use
last.
"""
from __future__ import annotations

import contextlib
import http.client
import http.server
import ipaddress
import random
import threading
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from lab import ports, processes
from lab.parts import CONTROL_PLANE

NAMESPACE = "net-doubles"
CLUSTER = "kubernetes"
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
LB_ID = "loadbalancer.openstack.org/load-balancer-id"
# The lab's addresses lie in its own 127.X.0.0/16 block (its state's address_block): filled in
# by use_block() once the lab runs.
NODE_IP: dict[str, str] = {}
POD_IPS: dict[str, tuple[str, str]] = {}
NETS: dict[str, ipaddress.IPv4Network] = {}
PARTS = [*CONTROL_PLANE, "openstack", "kube-proxy", "cloud-controller"]
SLOW = pytest.mark.timeout(420)


# --- helpers -------------------------------------------------------------------------------

def wait_until(what: str, check, timeout: float, interval: float = 0.2):
    """lab.ports.wait_until, where a refused or broken connection only means "not yet"."""
    def attempt():
        try:
            return check()
        except (OSError, http.client.HTTPException):
            return None
    return ports.wait_until(what, attempt, timeout, interval)


def http_get(ip: str, port: int, timeout: float = 5.0) -> str:
    """One GET on a new TCP connection; the body."""
    connection = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def who(body: str) -> tuple[str, str]:
    """(`Server <pod> on <node>` line, client address the pod saw)."""
    lines = body.splitlines()
    return lines[0], lines[1].removeprefix("client ")


def refused_or_closed(ip: str, port: int) -> bool:
    """True when a GET gets no answer: refused, reset or closed without a response."""
    try:
        body = http_get(ip, port, timeout=3)
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError):
        return True
    return not body


listening = ports.listening


class PodServer:
    """What the kubelet double will do for a pod: answer HTTP on pod IP:port."""

    def __init__(self, pod: str, node: str, ip: str, port: int):
        text = f"Server {pod} on {node}"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = f"{text}\nclient {self.client_address[0]}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((ip, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def use_block(shape) -> None:
    """Node, pod, VIP and floating addresses of the lab whose cluster shape is ``shape``."""
    NODE_IP.clear()
    NODE_IP.update({n.name: n.ip for n in shape.nodes})
    POD_IPS.clear()
    POD_IPS.update({"p1": ("worker1", f"{shape.nodes[1].pod_prefix}.250"),
                    "p2": ("worker2", f"{shape.nodes[2].pod_prefix}.250")})
    NETS.update(floating=ipaddress.ip_network(f"{shape.floating_prefix}.0/24"),
                vips=ipaddress.ip_network(f"{shape.vip_prefix}.0/24"))


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net_lab(make_lab):
    lab = make_lab("net-lab", parts=PARTS, delay_scale=3)
    use_block(lab.shape)
    yield lab
    # A double must exit cleanly on SIGTERM.
    for name in ("cloud-controller", "kube-proxy"):
        process = lab.process(name)
        assert lab.stop_part(name) == 0, f"{name} did not exit cleanly:\n{processes.log_tail(process, 30)}"


@pytest.fixture(scope="module")
def core(net_lab):
    return client.CoreV1Api(net_lab.kube_api())


@pytest.fixture(scope="module")
def openstack_double(net_lab):
    """An admin openstacksdk connection to the lab's OpenStack double, and its clouds.yaml."""
    import openstack.config
    import openstack.connection

    clouds = net_lab.paths.clouds_yaml
    region = openstack.config.OpenStackConfig(config_files=[str(clouds)], load_envvars=False
                                              ).get_one(cloud="devstack-admin")
    return openstack.connection.Connection(config=region), clouds


@pytest.fixture(scope="module")
def kube_proxy(net_lab) -> processes.Process:
    return net_lab.process("kube-proxy")


@pytest.fixture(scope="module")
def cloud_controller(net_lab) -> processes.Process:
    return net_lab.process("cloud-controller")


class PodKeeper:
    """Plays the kubelets' status manager for the test's pods: keeps each pod's status as the
    test wants it (Running, its pod IP, Ready true/false), writing it again whenever something
    else changes it: KWOK's pod-ready stage, or the node lifecycle controller, which marks the
    pods of a node not ready while the node's heartbeat is late."""

    def __init__(self, kubeconfig: Path):
        self._core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
        self._want: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _status(self, pod: str, ready: bool) -> dict:
        node, ip = POD_IPS[pod]
        flag = "True" if ready else "False"
        return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": NODE_IP[node],
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "Ready", "status": flag},
                               {"type": "ContainersReady", "status": flag},
                               {"type": "PodScheduled", "status": "True"}]}

    def _matches(self, pod: str, ready: bool) -> bool:
        status = self._core.read_namespaced_pod(pod, NAMESPACE).status
        return status.pod_ip == POD_IPS[pod][1] and status.phase == "Running" and any(
            c.type == "Ready" and c.status == ("True" if ready else "False") for c in status.conditions or [])

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            for pod, ready in list(self._want.items()):
                try:
                    if not self._matches(pod, ready):
                        self._core.patch_namespaced_pod_status(
                            pod, NAMESPACE, {"status": self._status(pod, ready)},
                            _content_type="application/merge-patch+json")
                except ApiException:
                    pass

    def set(self, pod: str, ready: bool) -> None:
        self._want[pod] = ready
        wait_until(f"{pod} ready={ready}", lambda: self._matches(pod, ready), 30)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def pods(core, net_lab):
    """p1 on worker1 and p2 on worker2 (label app=web, containerPort `web`), served by the
    test; yields (port, keeper)."""
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    port = ports.free_port(POD_IPS["p1"][1])
    servers, keeper = [], None
    try:
        for pod, (node, ip) in POD_IPS.items():
            servers.append(PodServer(pod, node, ip, port))
            core.create_namespaced_pod(NAMESPACE, {
                "metadata": {"name": pod, "labels": {"app": "web"}},
                "spec": {"nodeName": node, "containers": [{
                    "name": "nginx", "image": "nginx:1.27.4",
                    "ports": [{"name": "web", "containerPort": port}]}]}})
        keeper = PodKeeper(net_lab.paths.kubeconfig)
        for pod in POD_IPS:
            keeper.set(pod, True)
        yield port, keeper
    finally:
        if keeper:
            keeper.stop()
        for server in servers:
            server.stop()
        for pod in POD_IPS:
            with contextlib.suppress(ApiException):
                core.delete_namespaced_pod(pod, NAMESPACE, grace_period_seconds=0)
        core.delete_namespace(NAMESPACE)


def create_service(core, body: dict):
    """Create the Service with its nodePorts picked in the static band (30000-30085), which
    the API servers' own allocators use last: another lab on this machine (same node IPs)
    is unlikely to hold the same nodePort."""
    for _ in range(30):
        for port in body["spec"]["ports"]:
            port["nodePort"] = random.randint(30000, 30085)
        try:
            return core.create_namespaced_service(NAMESPACE, body)
        except ApiException as error:
            if error.status != 422 or "already allocated" not in (error.body or ""):
                raise
    raise AssertionError("no free nodePort in 30000-30085")


def lb_service(name: str, port: int, annotations: dict | None = None) -> dict:
    return {"metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": port, "targetPort": "web", "protocol": "TCP"}]}}


def events(core, name: str) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in core.list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={name}").items]


def find_lb(conn, name: str):
    return next(iter(conn.load_balancer.load_balancers(name=f"kube_service_{CLUSTER}_{NAMESPACE}_{name}")),
                None)


def members_of(conn, lb) -> list[tuple[str, str, int]]:
    lb = conn.load_balancer.get_load_balancer(lb.id)
    result = []
    for ref in lb.listeners:
        listener = conn.load_balancer.get_listener(ref["id"])
        result += sorted((m.name, m.address, m.protocol_port)
                         for m in conn.load_balancer.members(listener.default_pool_id))
    return result


def ingress_ip(core, name: str) -> str | None:
    ingress = core.read_namespaced_service(name, NAMESPACE).status.load_balancer.ingress
    return ingress[0].ip if ingress else None


def gone(core, name: str) -> bool:
    try:
        core.read_namespaced_service(name, NAMESPACE)
    except ApiException as error:
        return error.status == 404
    return False


def spread(ip: str, port: int, count: int) -> list[tuple[str, str]]:
    return [who(http_get(ip, port)) for _ in range(count)]


# --- kube-proxy ----------------------------------------------------------------------------

def test_pod_endpoints_resolve_named_ports_and_readiness():
    from lab.kube_proxy import Endpoint, pod_endpoints

    svc = {"metadata": {"namespace": "ns", "name": "s"},
           "spec": {"selector": {"app": "a"}, "ports": [{"name": "http", "port": 80, "targetPort": "web"},
                                                        {"name": "raw", "port": 81, "targetPort": 9000}]}}

    def pod(name, ip, ready, labels=None, deleting=False):
        return {"metadata": {"namespace": "ns", "name": name, "labels": labels or {"app": "a"},
                             **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})},
                "spec": {"nodeName": "worker1",
                         "containers": [{"ports": [{"name": "web", "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}

    table = pod_endpoints([svc], [pod("a", "127.0.12.2", True), pod("b", "127.0.12.3", False),
                                  pod("c", "127.0.12.4", True, labels={"app": "other"}),
                                  pod("d", "127.0.12.5", True, deleting=True)])
    assert table[("ns", "s", "http")] == [Endpoint("127.0.12.2", 8080, "worker1")]
    assert table[("ns", "s", "raw")] == [Endpoint("127.0.12.2", 9000, "worker1")]


BOTH = {"Server p1 on worker1", "Server p2 on worker2"}


def servers_seen(ip: str, port: int, count: int) -> set[str]:
    return {server for server, _ in spread(ip, port, count)}


@SLOW
def test_kube_proxy_node_ports_forward_to_ready_endpoints_and_follow_services(core, kube_proxy, pods):
    _, keeper = pods
    svc = create_service(core, {
        "metadata": {"name": "np"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}})
    node_port = svc.spec.ports[0].node_port
    try:
        # every node's IP answers at the nodePort and spreads new connections over both pods;
        # the pod sees the node as the client (kube-proxy masquerades: externalTrafficPolicy Cluster)
        for node, ip in NODE_IP.items():
            wait_until(f"{node} {ip}:{node_port}", lambda ip=ip: http_get(ip, node_port, timeout=2), 60)
            wait_until(f"both pods through {node}", lambda ip=ip: (lambda seen: {s for s, _ in seen} == BOTH
                       and {c for _, c in seen} == {ip})(spread(ip, node_port, 24)), 30)
        assert not listening(POD_IPS["p1"][1], node_port)  # a pod IP is not a node IP

        # a pod that is not ready gets no connection
        keeper.set("p2", False)
        wait_until("p1 only", lambda: servers_seen(NODE_IP["worker2"], node_port, 8)
                   == {"Server p1 on worker1"}, 30)
        wait_until("p1 only through master1", lambda: servers_seen(NODE_IP["master1"], node_port, 16)
                   == {"Server p1 on worker1"}, 30)

        # no ready endpoint at all: the connection is refused (kube-proxy's REJECT), never answered
        keeper.set("p1", False)
        wait_until("no answer", lambda: refused_or_closed(NODE_IP["worker1"], node_port), 30)
        for ip in NODE_IP.values():
            wait_until(f"{ip}:{node_port} refused", lambda ip=ip: not listening(ip, node_port), 30)
            assert all(refused_or_closed(ip, node_port) for _ in range(5))
        keeper.set("p1", True)
        keeper.set("p2", True)
        wait_until("both pods again", lambda: servers_seen(NODE_IP["worker1"], node_port, 16) == BOTH, 30)
    finally:
        keeper.set("p1", True)
        keeper.set("p2", True)
        core.delete_namespaced_service("np", NAMESPACE)
    # the listeners go with the Service
    for ip in NODE_IP.values():
        wait_until(f"{ip}:{node_port} closed", lambda ip=ip: not listening(ip, node_port), 30)
    assert processes.alive(kube_proxy), processes.log_tail(kube_proxy, 30)


# --- cloud controller ----------------------------------------------------------------------

@SLOW
def test_a_load_balancer_service_gets_octavia_a_floating_ip_and_the_whole_data_path(
        core, openstack_double, kube_proxy, cloud_controller, pods):
    conn, _ = openstack_double
    port = ports.free_port()
    svc = create_service(core, lb_service("web", port))
    node_port = svc.spec.ports[0].node_port
    try:
        # OCCM annotates the Service with the load balancer's id only once it is ACTIVE: find
        # it by the name the controller gives it, to see it boot.
        lb_id = wait_until("the load balancer", lambda: (found := find_lb(conn, "web")) and found.id, 60)
        seen_status = []

        def active():
            service = core.read_namespaced_service("web", NAMESPACE)
            lb = conn.load_balancer.get_load_balancer(lb_id)
            seen_status.append(lb.provisioning_status)
            if lb.provisioning_status == "PENDING_CREATE":
                # the Service has no external IP while the amphora boots
                assert not service.status.load_balancer.ingress
            return lb.provisioning_status == "ACTIVE" and lb

        lb = wait_until("the load balancer ACTIVE", active, 120)
        assert seen_status[0] == "PENDING_CREATE", seen_status
        assert lb.name == f"kube_service_{CLUSTER}_{NAMESPACE}_web"
        assert lb.operating_status == "ONLINE"
        ip = wait_until("status.loadBalancer.ingress", lambda: ingress_ip(core, "web"), 120)
        assert ipaddress.ip_address(ip) in NETS["floating"], ip

        service = core.read_namespaced_service("web", NAMESPACE)
        assert FINALIZER in service.metadata.finalizers
        assert service.metadata.annotations[LB_ID] == lb.id
        lb = conn.load_balancer.get_load_balancer(lb.id)
        assert ipaddress.ip_address(lb.vip_address) in NETS["vips"]
        assert len(lb.listeners) == 1
        listener = conn.load_balancer.get_listener(lb.listeners[0]["id"])
        assert (listener.protocol, listener.protocol_port) == ("TCP", port)
        pool = conn.load_balancer.get_pool(listener.default_pool_id)
        assert (pool.protocol, pool.lb_algorithm) == ("TCP", "ROUND_ROBIN")
        assert not pool.health_monitor_id  # none unless the annotation asks
        # master1 carries the exclude label: only the workers, at the nodePort
        assert members_of(conn, lb) == [("worker1", NODE_IP["worker1"], node_port),
                                        ("worker2", NODE_IP["worker2"], node_port)]
        fips = list(conn.network.ips(port_id=lb.vip_port_id))
        assert [f.floating_ip_address for f in fips] == [ip]
        assert fips[0].floating_network_id == conn.network.find_network("public").id

        # the whole path: floating IP:port (haproxy) -> worker IP:nodePort (kube-proxy) -> pod
        wait_until(f"{ip}:{port} answers", lambda: http_get(ip, port, timeout=2), 60)
        # both pods answer; haproxy spreads over both members (the client the pods see), never master1
        wait_until("both pods through both workers", lambda: (lambda seen: {s for s, _ in seen} == BOTH
                   and {c for _, c in seen} == {NODE_IP["worker1"], NODE_IP["worker2"]})(
                       spread(ip, port, 24)), 30)
        reasons = [reason for reason, _ in events(core, "web")]
        assert "EnsuringLoadBalancer" in reasons and "EnsuredLoadBalancer" in reasons, reasons
    finally:
        core.delete_namespaced_service("web", NAMESPACE)
        wait_until("the Service gone", lambda: gone(core, "web"), 120)


@SLOW
def test_the_exclude_label_updates_members_and_no_node_means_no_members_change(
        core, openstack_double, kube_proxy, cloud_controller, pods):
    conn, _ = openstack_double
    port = ports.free_port()
    svc = create_service(core, lb_service("members", port))
    node_port = svc.spec.ports[0].node_port
    both = [("worker1", NODE_IP["worker1"], node_port), ("worker2", NODE_IP["worker2"], node_port)]
    try:
        ip = wait_until("status.loadBalancer.ingress", lambda: ingress_ip(core, "members"), 120)
        lb = find_lb(conn, "members")
        assert members_of(conn, lb) == both

        core.patch_node("worker1", {"metadata": {"labels": {EXCLUDE: ""}}})
        wait_until("worker1 removed", lambda: members_of(conn, lb) == both[1:], 60)
        wait_until("traffic through worker2 only", lambda: {c for _, c in spread(ip, port, 8)}
                   == {NODE_IP["worker2"]}, 30)

        # no eligible node at all: refused with an event, the LB keeps its last members
        core.patch_node("worker2", {"metadata": {"labels": {EXCLUDE: ""}}})
        wait_until("the 'no available nodes' event", lambda: any(
            "there are no available nodes" in message.lower() for _, message in events(core, "members")), 60)
        assert members_of(conn, lb) == both[1:]

        core.patch_node("worker1", {"metadata": {"labels": {EXCLUDE: None}}})
        core.patch_node("worker2", {"metadata": {"labels": {EXCLUDE: None}}})
        wait_until("both workers back", lambda: members_of(conn, lb) == both, 60)
        wait_until("traffic through both workers", lambda: {c for _, c in spread(ip, port, 12)}
                   == {NODE_IP["worker1"], NODE_IP["worker2"]}, 30)
        assert "UpdatedLoadBalancer" in [reason for reason, _ in events(core, "members")]
    finally:
        for node in ("worker1", "worker2"):
            core.patch_node(node, {"metadata": {"labels": {EXCLUDE: None}}})
        core.delete_namespaced_service("members", NAMESPACE)
        wait_until("the Service gone", lambda: gone(core, "members"), 120)


@SLOW
def test_deleting_the_service_deletes_the_floating_ip_and_the_lb_before_the_finalizer_goes(
        core, openstack_double, kube_proxy, cloud_controller, pods):
    conn, _ = openstack_double
    port = ports.free_port()
    create_service(core, lb_service("doomed", port))
    ip = wait_until("status.loadBalancer.ingress", lambda: ingress_ip(core, "doomed"), 120)
    lb = find_lb(conn, "doomed")
    wait_until(f"{ip}:{port} answers", lambda: http_get(ip, port, timeout=2), 60)

    core.delete_namespaced_service("doomed", NAMESPACE)
    # the Service stays (finalizer) while the cloud side goes
    held = core.read_namespaced_service("doomed", NAMESPACE)
    assert held.metadata.deletion_timestamp and FINALIZER in held.metadata.finalizers
    observed = []

    def cloud_side_gone():
        fips = [f.floating_ip_address for f in conn.network.ips(floating_ip_address=ip)]
        lbs = [x.id for x in conn.load_balancer.load_balancers() if x.id == lb.id]
        service_there = not gone(core, "doomed")
        observed.append((bool(fips), bool(lbs), service_there))
        return not fips and not lbs

    wait_until("the floating IP and the LB deleted", cloud_side_gone, 120)
    wait_until("the Service gone", lambda: gone(core, "doomed"), 60)
    # never: Service gone while the LB or its floating IP was still there
    assert all(service_there for fip, lbs, service_there in observed if fip or lbs), observed
    assert refused_or_closed(ip, port)
    reasons = [reason for reason, _ in events(core, "doomed")]
    assert "DeletingLoadBalancer" in reasons and "DeletedLoadBalancer" in reasons, reasons


@SLOW
def test_internal_lb_with_health_monitor_then_type_change_cleans_up(
        core, openstack_double, kube_proxy, cloud_controller, pods):
    conn, _ = openstack_double
    port = ports.free_port()
    create_service(core, lb_service("inside", port, {
        "service.beta.kubernetes.io/openstack-internal-load-balancer": "true",
        "loadbalancer.openstack.org/enable-health-monitor": "true"}))
    try:
        vip = wait_until("status.loadBalancer.ingress", lambda: ingress_ip(core, "inside"), 120)
        lb = find_lb(conn, "inside")
        assert vip == lb.vip_address and ipaddress.ip_address(vip) in NETS["vips"]
        assert not list(conn.network.ips(port_id=lb.vip_port_id))
        listener = conn.load_balancer.get_listener(lb.listeners[0]["id"])
        pool = conn.load_balancer.get_pool(listener.default_pool_id)
        monitor = conn.load_balancer.get_health_monitor(pool.health_monitor_id)
        assert monitor.type == "TCP"
        wait_until(f"{vip}:{port} answers", lambda: http_get(vip, port, timeout=2), 60)
        wait_until("both pods through the VIP", lambda: servers_seen(vip, port, 16) == BOTH, 30)

        # LoadBalancer -> NodePort: the LB goes, the Service stays without finalizer or ingress
        core.patch_namespaced_service("inside", NAMESPACE, {"spec": {"type": "NodePort"}})
        wait_until("the LB deleted", lambda: find_lb(conn, "inside") is None, 120)

        def cleaned():
            service = core.read_namespaced_service("inside", NAMESPACE)
            return (FINALIZER not in (service.metadata.finalizers or [])
                    and not service.status.load_balancer.ingress and service)

        service = wait_until("finalizer and ingress removed", cleaned, 60)
        assert service.spec.type == "NodePort"
    finally:
        core.delete_namespaced_service("inside", NAMESPACE)
        wait_until("the Service gone", lambda: gone(core, "inside"), 120)
    assert processes.alive(cloud_controller), processes.log_tail(cloud_controller, 30)
