"""lab/cloud_controller.py: member selection, the fully populated create, the floating-IP and
event-only rules, against fake Octavia/Neutron and a fake API server (no Go tools)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kubernetes import client
from openstack import exceptions

from lab import cloud_controller as cc
from lab.kube.backoff import check_on_backoff
from policy.devstack_domain import floating_ip_description

CLUSTER = "kubernetes"


def node(name: str, ip: str, labels: dict | None = None, ready: bool = True, taints=()) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"providerID": f"openstack:///{name}-id", "taints": list(taints)},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


MASTER = node("master1", "127.0.1.1", {cc.TO_BE_DELETED_TAINT: "x",
                                       "node.kubernetes.io/exclude-from-external-load-balancers": ""})
WORKERS = [node("worker1", "127.0.1.2"), node("worker2", "127.0.1.3")]


def service(annotations: dict | None = None, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "uid": "s-1", "resourceVersion": "1",
                         "annotations": annotations or {}, **meta},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "protocol": "TCP", "port": 80,
                                                        "nodePort": 30080}]},
            "status": {}}


# --- pure rules -------------------------------------------------------------------------------

def test_members_follow_parse_bool_of_the_exclude_label_not_readiness():
    label = "node.kubernetes.io/exclude-from-external-load-balancers"
    nodes = [node("a", "10.0.0.1", {label: ""}), node("b", "10.0.0.2", {label: "true"}),
             node("c", "10.0.0.3", {label: "false"}), node("d", "10.0.0.4", ready=False),
             node("e", "10.0.0.5", taints=[{"key": cc.TO_BE_DELETED_TAINT, "effect": "NoSchedule"}])]
    assert cc.member_nodes(nodes) == [("c", "10.0.0.3"), ("d", "10.0.0.4")]


def test_the_create_request_is_fully_populated():
    body = cc.load_balancer_request(service({cc.ANN_HEALTH_MONITOR: "true"}), CLUSTER,
                                    [("worker1", "127.0.1.2"), ("worker2", "127.0.1.3")], [(80, 30080)],
                                    "subnet-1", "subnet-1")
    lb = body["loadbalancer"]
    name = "kube_service_kubernetes_apps_web"
    assert (lb["name"], lb["vip_subnet_id"], lb["tags"]) == (name, "subnet-1", [name])
    assert lb["description"] == "Kubernetes external service apps/web from cluster kubernetes"
    (listener,) = lb["listeners"]
    assert (listener["name"], listener["protocol"], listener["protocol_port"]) == (f"listener_0_{name}", "TCP", 80)
    pool = listener["default_pool"]
    assert (pool["name"], pool["protocol"], pool["lb_algorithm"]) == (f"pool_0_{name}", "TCP", "ROUND_ROBIN")
    assert pool["members"] == [
        {"name": "worker1", "address": "127.0.1.2", "protocol_port": 30080, "subnet_id": "subnet-1"},
        {"name": "worker2", "address": "127.0.1.3", "protocol_port": 30080, "subnet_id": "subnet-1"}]
    assert pool["healthmonitor"] == {"name": f"monitor_80_{name}", "type": "TCP", "delay": 5, "timeout": 3,
                                     "max_retries": 1, "max_retries_down": 3}
    plain = cc.load_balancer_request(service(), CLUSTER, [("w", "1.2.3.4")], [(80, 30080)], "s", None)
    assert "healthmonitor" not in plain["loadbalancer"]["listeners"][0]["default_pool"]


def test_only_the_controllers_own_floating_ips_are_recognised():
    assert cc.created_by_controller(floating_ip_description("apps", "web", CLUSTER))
    assert not cc.created_by_controller("my own address")
    assert not cc.created_by_controller(None)


def test_the_active_wait_backs_off_from_one_second_for_about_five_minutes():
    waits = cc.ACTIVE_BACKOFF
    assert waits[:3] == [1.0, 1.2, 1.44] and 300 < sum(waits) < 360
    slept = []
    answers = iter([False, False, True])
    assert check_on_backoff(lambda: next(answers), waits, slept.append)
    assert slept == [1.0, 1.2]
    assert not check_on_backoff(lambda: False, [0.5, 0.5], slept.append)


def test_only_events_make_work_no_resync():
    inputs, hosts = ("LoadBalancer",), (("worker1", "ip"),)
    fresh = cc.Tracked()
    assert cc.next_action(fresh, inputs, hosts, True, False, 0.0) == cc.ENSURE
    synced = cc.Tracked(inputs=inputs, hosts=hosts)
    assert cc.next_action(synced, inputs, hosts, True, True, 1e9) is None  # nothing changed, ever
    assert cc.next_action(synced, ("changed",), hosts, True, True, 0.0) == cc.ENSURE
    assert cc.next_action(synced, inputs, (), True, True, 0.0) == cc.UPDATE_HOSTS
    assert cc.next_action(synced, ("NodePort",), hosts, False, True, 0.0) == cc.DELETE
    assert cc.next_action(synced, ("NodePort",), hosts, False, False, 0.0) is None
    failed = cc.Tracked(retry_at=10.0, failed_inputs=inputs)
    assert cc.next_action(failed, inputs, hosts, True, True, 9.0) is None  # backing off
    assert cc.next_action(failed, inputs, hosts, True, True, 10.0) == cc.ENSURE
    assert cc.next_action(failed, ("edited",), hosts, True, True, 9.0) == cc.ENSURE  # a change: at once


def test_inputs_ignore_what_the_controller_writes():
    before = service()
    after = service({cc.ANN_LB_ID: "lb-1"}, finalizers=[cc.FINALIZER], resourceVersion="9")
    after["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert cc.service_inputs(before) == cc.service_inputs(after)
    assert cc.service_inputs(before) != cc.service_inputs(service({cc.ANN_HEALTH_MONITOR: "true"}))


# --- the controller against fakes -------------------------------------------------------------

class FakeOctavia:
    def __init__(self, network):
        self.network, self.lbs, self.listeners, self.pools, self.calls = network, {}, {}, {}, []

    def create_load_balancer(self, **body):
        self.calls.append(("create_load_balancer", body))
        lb_id = f"lb-{len(self.lbs) + 1}"
        port_id = f"port-{lb_id}"
        lb = SimpleNamespace(id=lb_id, name=body["name"], provisioning_status="PENDING_CREATE", vip_port_id=port_id,
                             vip_address="127.0.21.5", vip_subnet_id=body["vip_subnet_id"], listeners=[], polls=0)
        for index, listener in enumerate(body.get("listeners") or []):
            pool = listener["default_pool"]
            pool_id = f"{lb_id}-pool-{index}"
            self.pools[pool_id] = SimpleNamespace(id=pool_id, lb_algorithm=pool["lb_algorithm"],
                                                  health_monitor_id="hm" if pool.get("healthmonitor") else None,
                                                  members=[SimpleNamespace(**m) for m in pool["members"]])
            listener_id = f"{lb_id}-listener-{index}"
            self.listeners[listener_id] = SimpleNamespace(id=listener_id, protocol=listener["protocol"],
                                                          protocol_port=listener["protocol_port"],
                                                          default_pool_id=pool_id)
            lb.listeners.append({"id": listener_id})
        self.lbs[lb_id] = lb
        self.network.ports.add(port_id)
        return lb

    def get_load_balancer(self, lb_id):
        lb = self.lbs.get(lb_id)
        if lb is None:
            raise exceptions.NotFoundException("no such load balancer")
        lb.polls += 1
        if lb.provisioning_status == "PENDING_CREATE" and lb.polls >= 3:
            lb.provisioning_status = "ACTIVE"  # the amphora booted
        return lb

    def load_balancers(self, name=None):
        return [lb for lb in self.lbs.values() if lb.name == name]

    def get_listener(self, listener_id):
        return self.listeners[listener_id]

    def get_pool(self, pool_id):
        return self.pools[pool_id]

    def members(self, pool_id):
        return list(self.pools[pool_id].members)

    def put(self, path, json=None):
        self.calls.append(("batch_members", path, json))
        pool_id = path.split("/")[3]
        self.pools[pool_id].members = [SimpleNamespace(**m) for m in json["members"]]
        return SimpleNamespace(status_code=202, text="")

    def delete_load_balancer(self, lb_id, ignore_missing=True, cascade=False):
        self.calls.append(("delete_load_balancer", lb_id, cascade))
        self.lbs.pop(lb_id, None)
        self.network.port_deleted(f"port-{lb_id}")

    def __getattr__(self, name):  # create_listener, create_pool, create_member, ...: never expected
        def refused(*args, **kwargs):
            raise AssertionError(f"unexpected step-by-step call {name}")
        return refused


class FakeNeutron:
    def __init__(self):
        self.fips, self.ports = [], set()

    def ips(self, port_id=None, floating_ip_address=None):
        return [f for f in self.fips if (port_id is None or f.port_id == port_id)
                and (floating_ip_address is None or f.floating_ip_address == floating_ip_address)]

    def create_ip(self, floating_network_id, port_id, description=None, floating_ip_address=None):
        fip = SimpleNamespace(id=f"fip-{len(self.fips)}", floating_ip_address=f"127.0.31.{len(self.fips) + 5}",
                              port_id=port_id, description=description, floating_network_id=floating_network_id)
        self.fips.append(fip)
        return fip

    def delete_ip(self, fip, ignore_missing=True):
        self.fips.remove(fip)

    def update_ip(self, fip, port_id=None):
        fip.port_id = port_id
        return fip

    def port_deleted(self, port_id):
        for fip in self.fips:
            if fip.port_id == port_id:
                fip.port_id = None  # Neutron disassociates a floating IP whose port goes

    def networks(self, is_router_external=True):
        return [SimpleNamespace(id="public-id")]

    def find_network(self, name):
        return SimpleNamespace(id=f"{name}-id", subnet_ids=[f"{name}-subnet"])


class FakeCore:
    def __init__(self, svc):
        self.svc, self.events, self.strategic_patches = svc, [], []

    def _merge(self, target, patch):
        for key, value in patch.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                self._merge(target[key], value)
            elif value is None:
                target.pop(key, None)
            else:
                target[key] = value

    def patch_namespaced_service(self, name, namespace, body, _content_type=None, **_):
        body = json.loads(json.dumps(body))
        metadata = body.get("metadata", {})
        assert "resourceVersion" not in metadata  # the real controller's patches carry none
        if _content_type == "application/strategic-merge-patch+json":  # only the finalizer directives
            self.strategic_patches.append(json.loads(json.dumps(body)))
            finalizers = self.svc["metadata"].setdefault("finalizers", [])
            finalizers += [f for f in metadata.pop("finalizers", []) if f not in finalizers]
            removed = metadata.pop("$deleteFromPrimitiveList/finalizers", [])
            self.svc["metadata"]["finalizers"] = [f for f in finalizers if f not in removed]
        self._merge(self.svc, body)
        return SimpleNamespace(data=json.dumps(self.svc).encode())

    patch_namespaced_service_status = patch_namespaced_service

    def create_namespaced_event(self, namespace, body, **_):
        self.events.append(body["reason"])


def controller(svc, nodes=None):
    neutron = FakeNeutron()
    conn = SimpleNamespace(network=neutron, load_balancer=FakeOctavia(neutron),
                           compute=SimpleNamespace(get_server=lambda _id: SimpleNamespace(addresses={"private": []})))
    slept = []
    ctl = cc.CloudController(client.ApiClient(), lambda: conn, CLUSTER, sleep=slept.append)
    core = FakeCore(svc)
    ctl._core = ctl._recorder.core = core
    ctl._services.cache.replace([svc])
    ctl._nodes.cache.replace(nodes if nodes is not None else [MASTER, *WORKERS])
    return ctl, conn, core, slept


def test_the_load_balancer_is_created_in_one_call_waited_for_then_published():
    ctl, conn, core, slept = controller(service())
    ctl.sync_all(0.0)
    creates = [c for c in conn.load_balancer.calls if c[0] == "create_load_balancer"]
    assert len(creates) == 1 and creates[0][1]["listeners"][0]["default_pool"]["members"][0]["name"] == "worker1"
    assert slept[:2] == [1.0, 1.2]  # polled ACTIVE with OCCM's backoff
    svc = core.svc
    assert svc["metadata"]["annotations"][cc.ANN_LB_ID] == "lb-1" and cc.FINALIZER in svc["metadata"]["finalizers"]
    (fip,) = conn.network.fips
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": fip.floating_ip_address}]
    assert fip.description == "Floating IP for Kubernetes external service apps/web from cluster kubernetes"
    assert core.events == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]


def test_a_load_balancer_deleted_by_hand_is_not_rebuilt_and_its_floating_ip_is_left_behind():
    ctl, conn, core, _ = controller(service())
    ctl.sync_all(0.0)
    ingress = core.svc["status"]["loadBalancer"]["ingress"]
    conn.load_balancer.delete_load_balancer("lb-1", cascade=True)  # by hand, in OpenStack
    for now in (10.0, 100.0, 10_000.0):
        ctl._services.cache.replace([core.svc])
        ctl.sync_all(now)
    assert conn.load_balancer.lbs == {}
    assert core.svc["status"]["loadBalancer"]["ingress"] == ingress  # stale, as with the real controller
    core.svc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ctl._services.cache.replace([core.svc])
    ctl.sync_all(20_000.0)
    assert cc.FINALIZER not in (core.svc["metadata"].get("finalizers") or [])
    assert [f.port_id for f in conn.network.fips] == [None]  # the orphan stays


def test_deletion_deletes_its_own_floating_ip_but_not_one_the_user_attached():
    for description, survives in ((floating_ip_description("apps", "web", CLUSTER), False), ("mine", True)):
        ctl, conn, core, _ = controller(service())
        conn.network.fips.append(SimpleNamespace(id="f", floating_ip_address="127.0.31.99", port_id="port-lb-1",
                                                 description=description, floating_network_id="public-id"))
        ctl.sync_all(0.0)
        assert core.svc["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.31.99"}]  # reused
        core.svc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        ctl._services.cache.replace([core.svc])
        ctl.sync_all(1.0)
        assert ("delete_load_balancer", "lb-1", True) in conn.load_balancer.calls
        assert bool(conn.network.fips) is survives, description


def test_a_node_change_updates_the_members_in_one_batch_and_nothing_else():
    ctl, conn, core, _ = controller(service())
    ctl.sync_all(0.0)
    ctl._nodes.cache.replace([MASTER, WORKERS[0]])
    ctl.sync_all(1.0)
    (batch,) = [c for c in conn.load_balancer.calls if c[0] == "batch_members"]
    assert [m["name"] for m in batch[2]["members"]] == ["worker1"]
    assert core.events[-1] == "UpdatedLoadBalancer"
    ctl.sync_all(2.0)
    assert len([c for c in conn.load_balancer.calls if c[0] == "batch_members"]) == 1


def test_no_eligible_node_is_refused_with_events_and_retried_with_backoff():
    ctl, conn, core, _ = controller(service(), nodes=[MASTER])
    due = ctl.sync_all(0.0)
    assert due == pytest.approx(cc.RETRY_START)
    assert "UnAvailableLoadBalancer" in core.events and "SyncLoadBalancerFailed" in core.events
    assert not conn.load_balancer.calls
    assert ctl.sync_all(1.0) == pytest.approx(cc.RETRY_START)  # still backing off: nothing tried
    assert core.events.count("SyncLoadBalancerFailed") == 1
    assert ctl.sync_all(5.0) == pytest.approx(5.0 + 2 * cc.RETRY_START)


def test_an_update_after_the_load_balancer_was_deleted_by_hand_fails_and_rebuilds_nothing():
    """ensureOctaviaLoadBalancer: an annotated load balancer that is gone is "failed to get load
    balancer <id>"; only a Service without the annotation (a new one) gets a new load balancer."""
    ctl, conn, core, _ = controller(service())
    ctl.sync_all(0.0)
    conn.load_balancer.delete_load_balancer("lb-1", cascade=True)
    core.svc["metadata"]["annotations"]["loadbalancer.openstack.org/enable-health-monitor"] = "true"  # an update
    core.svc["metadata"]["resourceVersion"] = "2"
    ctl._services.cache.replace([core.svc])
    ctl.sync_all(10.0)
    assert conn.load_balancer.lbs == {}
    assert "SyncLoadBalancerFailed" in core.events
    del core.svc["metadata"]["annotations"][cc.ANN_LB_ID]  # what a new Service looks like
    core.svc["metadata"]["resourceVersion"] = "3"
    ctl._services.cache.replace([core.svc])
    ctl.sync_all(20.0)
    assert len(conn.load_balancer.lbs) == 1 and core.events[-1] == "EnsuredLoadBalancer"


def test_it_authenticates_and_finds_its_endpoints_before_it_serves():
    asked = []

    def service(name):
        return SimpleNamespace(get_endpoint=lambda: asked.append(name))

    conn = SimpleNamespace(authorize=lambda: asked.append("token"), load_balancer=service("load-balancer"),
                           network=service("network"), compute=service("compute"))
    ctl = cc.CloudController(client.ApiClient(), lambda: conn, CLUSTER)
    ctl._authenticate()
    assert asked == ["token", "load-balancer", "network", "compute"] and ctl.conn is conn


def test_a_cloud_that_does_not_answer_at_start_is_tried_again_at_first_use():
    connects = []

    def connect():
        connects.append(1)
        if len(connects) == 1:
            raise ConnectionRefusedError("keystone not listening")
        return SimpleNamespace(authorize=lambda: None)

    ctl = cc.CloudController(client.ApiClient(), connect, CLUSTER)
    ctl._authenticate()  # logs a warning, does not raise
    assert ctl.conn is not None and len(connects) == 2


def test_the_finalizer_is_added_and_removed_alone_as_the_service_controller_patches_it():
    # A Service deleted in the foreground carries the garbage collector's finalizer, which changes
    # (its resourceVersion too) while the load balancer goes: the patches name only their own.
    svc = service(finalizers=["foregroundDeletion"])
    ctl, _, core, _ = controller(svc)
    ctl.sync_all(0.0)
    assert core.svc["metadata"]["finalizers"] == ["foregroundDeletion", cc.FINALIZER]
    core.svc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ctl._services.cache.replace([core.svc])
    ctl.sync_all(1.0)
    assert core.svc["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert core.strategic_patches == [{"metadata": {"finalizers": [cc.FINALIZER]}},
                                      {"metadata": {"$deleteFromPrimitiveList/finalizers": [cc.FINALIZER]}}]
