"""lab/kube_proxy.py: listeners per node and nodePort, endpoint tables, endpoint choice."""
from __future__ import annotations

import itertools

from lab import kube_proxy as kp


def node(name: str, ip: str) -> dict:
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def service(kind="LoadBalancer", policy="Cluster") -> dict:
    return {"metadata": {"name": "web", "namespace": "apps"},
            "spec": {"type": kind, "externalTrafficPolicy": policy, "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080},
                               {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}]}}


def pod(name: str, ip: str, node_name: str, ready=True) -> dict:
    return {"metadata": {"name": name, "namespace": "apps", "labels": {"app": "web"}},
            "spec": {"nodeName": node_name, "containers": [{"ports": [{"name": "web", "containerPort": 8080}]}]},
            "status": {"podIP": ip, "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


NODES = [node("worker1", "127.0.1.2"), node("worker2", "127.0.1.3")]


def test_every_node_listens_on_each_tcp_node_port_of_node_port_and_lb_services():
    wanted = kp.desired_listeners([service(), service("ClusterIP")], NODES)
    assert sorted(wanted) == [("127.0.1.2", 30080), ("127.0.1.3", 30080)]
    assert wanted[("127.0.1.3", 30080)] == kp.Target("apps", "web", "http", "worker2", False)


def test_pod_endpoints_resolve_named_target_ports_and_skip_unready_pods():
    table = kp.pod_endpoints([service()], [pod("a", "127.0.11.2", "worker1"),
                                           pod("b", "127.0.12.2", "worker2", ready=False)])
    assert table == {("apps", "web", "http"): [kp.Endpoint("127.0.11.2", 8080, "worker1")]}


def test_endpoint_slices_skip_endpoints_not_ready():
    eps = {"metadata": {"namespace": "apps", "labels": {kp.SERVICE_NAME_LABEL: "web"}},
           "ports": [{"name": "http", "port": 8080}],
           "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "worker1"},
                         {"addresses": ["10.0.0.2"], "conditions": {"ready": False}}]}
    assert kp.ready_endpoints([eps]) == {("apps", "web", "http"): [kp.Endpoint("10.0.0.1", 8080, "worker1")]}


def test_local_policy_keeps_only_the_listeners_own_node():
    endpoints = {("apps", "web", "http"): [kp.Endpoint("a", 1, "worker1"), kp.Endpoint("b", 1, "worker2")]}
    local = kp.Target("apps", "web", "http", "worker2", True)
    cluster = kp.Target("apps", "web", "http", "worker2", False)
    assert kp.candidates(endpoints, local) == [kp.Endpoint("b", 1, "worker2")]
    assert len(kp.candidates(endpoints, cluster)) == 2
    assert kp.candidates(endpoints, kp.Target("apps", "other", "http", "worker2", False)) == []


def test_choice_is_random_per_connection_or_in_turn_and_none_without_endpoints():
    found = [kp.Endpoint("a", 1, None), kp.Endpoint("b", 1, None)]
    counter = itertools.count()
    assert [kp.choose(found, "roundrobin", counter).ip for _ in range(4)] == ["a", "b", "a", "b"]
    assert kp.choose(found, "random", None, pick=lambda xs: xs[-1]).ip == "b"
    assert kp.choose([], "random", None) is None
