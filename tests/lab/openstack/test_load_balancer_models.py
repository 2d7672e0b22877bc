"""Octavia's lifecycle and the fully populated create, directly on the models."""
from __future__ import annotations

import threading
import time

import pytest

from lab.cluster import ClusterShape
from lab.openstack.core.errors import ApiError
from lab.openstack.core.ticker import Ticker
from lab.openstack.load_balancer.amphora_sync import member_status, rolled_up
from lab.openstack.load_balancer.models import LoadBalancerBackend
from lab.openstack.network.models import PRIVATE_SUBNET_ID, NetworkBackend

DELAYS = {"amphora_boot": 0.0, "lb_update": 0.0, "lb_delete": 0.0}
PROJECT = "p"
TCP_POOL = {"name": "pool-80", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}


@pytest.fixture
def octavia() -> LoadBalancerBackend:
    lock = threading.RLock()
    network = NetworkBackend(ClusterShape(), [], lock, threading.Event())
    return LoadBalancerBackend(network, lock, Ticker(lock), dict(DELAYS), threading.Event())


def settled(octavia: LoadBalancerBackend) -> None:
    time.sleep(0.01)
    octavia.ticker.run_due()


def full_body() -> dict:
    return {"name": "kube_service_lab_default_web", "vip_subnet_id": PRIVATE_SUBNET_ID, "listeners": [
        {"name": "listener-80", "protocol": "TCP", "protocol_port": 80, "default_pool": {
            **TCP_POOL, "members": [{"address": "127.0.1.2", "protocol_port": 30080},
                                    {"address": "127.0.1.3", "protocol_port": 30080}],
            "healthmonitor": {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1}}}]}


def statuses(octavia: LoadBalancerBackend) -> set[str]:
    every = [*octavia.load_balancers.values(), *octavia.listeners.values(), *octavia.pools.values(),
             *octavia.members.values(), *octavia.monitors.values()]
    return {obj["provisioning_status"] for obj in every}


def test_a_fully_populated_create_makes_the_tree_pending_then_active_together(octavia):
    lb = octavia.create_load_balancer(full_body(), PROJECT)
    assert (len(octavia.listeners), len(octavia.pools), len(octavia.members), len(octavia.monitors)) == (1, 1, 2, 1)
    assert statuses(octavia) == {"PENDING_CREATE"}
    listener = octavia.listeners[lb["_listeners"][0]]
    pool = octavia.pools[listener["default_pool_id"]]
    assert pool["_lb"] == lb["id"] and pool["_listeners"] == [listener["id"]]
    assert pool["healthmonitor_id"] in octavia.monitors
    with pytest.raises(ApiError) as immutable:
        octavia.create_listener(lb, {"protocol": "TCP", "protocol_port": 81}, PROJECT, None)
    assert immutable.value.status == 409
    settled(octavia)
    assert statuses(octavia) == {"ACTIVE"}
    assert {m["operating_status"] for m in octavia.members.values()} == {"ONLINE"}


def test_a_fully_populated_create_is_validated_before_anything_exists(octavia):
    unnamed = full_body()
    del unnamed["listeners"][0]["default_pool"]["name"]
    with pytest.raises(ApiError) as refused:
        octavia.create_load_balancer(unnamed, PROJECT)
    assert "Pools must be named" in refused.value.body["faultstring"]
    bad_member = full_body()
    bad_member["listeners"][0]["default_pool"]["members"][1]["address"] = "not-an-ip"
    with pytest.raises(ApiError):
        octavia.create_load_balancer(bad_member, PROJECT)
    assert octavia.load_balancers == {} and octavia.network.ports == {}


def test_a_listener_may_name_a_top_level_pool(octavia):
    body = {"vip_subnet_id": PRIVATE_SUBNET_ID, "pools": [dict(TCP_POOL)],
            "listeners": [{"protocol": "TCP", "protocol_port": 80, "default_pool": {"name": "pool-80"}}]}
    lb = octavia.create_load_balancer(body, PROJECT)
    listener = octavia.listeners[lb["_listeners"][0]]
    assert octavia.pools[listener["default_pool_id"]]["name"] == "pool-80"
    body["listeners"][0]["default_pool"] = {"name": "missing"}
    with pytest.raises(ApiError):
        octavia.create_load_balancer(body, PROJECT)


def test_every_child_change_follows_one_lifecycle(octavia):
    lb = octavia.create_load_balancer({"vip_subnet_id": PRIVATE_SUBNET_ID}, PROJECT)
    settled(octavia)
    listener = octavia.create_listener(lb, {"protocol": "TCP", "protocol_port": 80}, PROJECT, None)
    assert (lb["provisioning_status"], listener["provisioning_status"]) == ("PENDING_UPDATE", "PENDING_CREATE")
    settled(octavia)
    pool = octavia.create_pool(lb, listener, dict(TCP_POOL), PROJECT)
    settled(octavia)
    member = octavia.create_member(pool, {"address": "127.0.1.2", "protocol_port": 30080}, PROJECT)
    settled(octavia)
    assert member["operating_status"] == "NO_MONITOR"
    octavia.update_child(member, {"weight": 5, "address": "ignored"}, ("weight",))
    assert (lb["provisioning_status"], member["provisioning_status"], member["weight"]) == \
        ("PENDING_UPDATE", "PENDING_UPDATE", 5)
    with pytest.raises(ApiError):
        octavia.delete_child(member)  # the LB is still PENDING_UPDATE
    settled(octavia)
    octavia.delete_child(member)
    assert member["provisioning_status"] == "PENDING_DELETE"
    settled(octavia)
    assert member["id"] not in octavia.members and pool["_members"] == []
    assert lb["provisioning_status"] == "ACTIVE"


def test_batch_members_keep_matches_add_new_and_delete_the_rest(octavia):
    lb = octavia.create_load_balancer({"vip_subnet_id": PRIVATE_SUBNET_ID}, PROJECT)
    settled(octavia)
    pool = octavia.create_pool(lb, None, dict(TCP_POOL), PROJECT)
    settled(octavia)
    kept = octavia.create_member(pool, {"address": "127.0.1.2", "protocol_port": 1}, PROJECT)
    settled(octavia)
    dropped = octavia.create_member(pool, {"address": "127.0.1.3", "protocol_port": 1}, PROJECT)
    settled(octavia)
    octavia.replace_members(pool, [{"address": "127.0.1.2", "protocol_port": 1, "weight": 3},
                                   {"address": "127.0.1.4", "protocol_port": 1}], PROJECT)
    assert dropped["provisioning_status"] == "PENDING_DELETE" and kept["weight"] == 3
    settled(octavia)
    assert sorted(octavia.members[m]["address"] for m in pool["_members"]) == ["127.0.1.2", "127.0.1.4"]


def test_delete_needs_cascade_with_children_and_frees_the_vip_port(octavia):
    lb = octavia.create_load_balancer(full_body(), PROJECT)
    with pytest.raises(ApiError) as pending:
        octavia.delete_load_balancer(lb, cascade=True)
    assert pending.value.status == 409
    settled(octavia)
    with pytest.raises(ApiError) as children:
        octavia.delete_load_balancer(lb, cascade=False)
    assert children.value.status == 400
    octavia.delete_load_balancer(lb, cascade=True)
    settled(octavia)
    assert octavia.load_balancers == {} and octavia.members == {} and octavia.network.ports == {}


def test_haproxy_check_states_roll_up_into_operating_statuses():
    assert [member_status(s) for s in ("UP", "DOWN 1/2", "MAINT", "no check")] == ["ONLINE", "ERROR", "OFFLINE", None]
    assert rolled_up(["ONLINE", "ERROR"]) == "DEGRADED"
    assert rolled_up(["ERROR", "ERROR"]) == "ERROR"
    assert rolled_up([]) == "ONLINE"
