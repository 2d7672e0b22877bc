"""Nova's attach and detach, directly on the models: Cinder's attachment states over time."""
from __future__ import annotations

import threading
import time

import pytest

from lab import profiles
from lab.cluster import ClusterShape
from lab.openstack.block_storage.models import BlockStorageBackend
from lab.openstack.compute.models import ComputeBackend, next_device
from lab.openstack.core.errors import ApiError
from lab.openstack.core.ticker import Ticker
from lab.openstack.server import delays_for

DELAYS = {"volume_create": 0.0, "volume_delete": 0.0, "volume_attach": 0.2, "volume_detach": 0.2}


@pytest.fixture
def clouds():
    lock = threading.RLock()
    ticker = Ticker(lock)
    cinder, nova = BlockStorageBackend(lock, ticker, DELAYS), ComputeBackend(ClusterShape(), lock, ticker, DELAYS)
    cinder.create_type({"name": "multi", "extra_specs": {"multiattach": "<is> True"}})
    return cinder, nova, ticker


def available_volume(cinder: BlockStorageBackend, ticker: Ticker, volume_type: str | None = None) -> dict:
    volume = cinder.create_volume({"size": 1, "volume_type": volume_type}, "p", "u", True)
    ticker.run_due()
    assert volume["status"] == "available"
    return volume


def servers(nova: ComputeBackend) -> dict[str, dict]:
    return {server["name"]: server for server in nova.servers.values()}


def settle(ticker: Ticker, seconds: float = 0.25) -> None:
    time.sleep(seconds)
    ticker.run_due()


def test_an_attach_is_reserved_then_attaching_then_in_use(clouds):
    cinder, nova, ticker = clouds
    volume = available_volume(cinder, ticker)
    worker1 = servers(nova)["worker1"]
    record = nova.attach(worker1, volume, {}, (2, 60))
    assert record["device"] == "/dev/vdb" and volume["status"] == "reserved"
    assert worker1["attachments"] == [record]  # Nova's BDM exists at once
    settle(ticker, 0.12)
    assert volume["status"] == "attaching"
    settle(ticker, 0.12)
    assert volume["status"] == "in-use" and volume["attachments"][0]["attach_status"] == "attached"


def test_a_second_attach_of_one_volume_is_refused_until_the_first_completes(clouds):
    cinder, nova, ticker = clouds
    shared = available_volume(cinder, ticker, "multi")
    nodes = servers(nova)
    nova.attach(nodes["worker1"], shared, {}, (2, 60))
    with pytest.raises(ApiError) as concurrent:
        nova.attach(nodes["master1"], shared, {}, (2, 60))
    assert concurrent.value.status == 400
    assert "the current status is reserved" in concurrent.value.body["badRequest"]["message"]
    assert nodes["master1"]["attachments"] == []
    settle(ticker)
    nova.attach(nodes["master1"], shared, {}, (2, 60))  # in-use: a multiattach volume takes another
    settle(ticker)
    assert shared["status"] == "in-use" and len(shared["attachments"]) == 2


def test_multiattach_needs_microversion_2_60_and_a_plain_volume_one_server(clouds):
    cinder, nova, ticker = clouds
    nodes = servers(nova)
    shared, single = available_volume(cinder, ticker, "multi"), available_volume(cinder, ticker)
    with pytest.raises(ApiError) as old:
        nova.attach(nodes["worker1"], shared, {}, (2, 59))
    assert old.value.body["badRequest"]["message"] == \
        "Multiattach volumes are only supported starting with compute API version 2.60."
    nova.attach(nodes["worker1"], single, {}, (2, 60))
    settle(ticker)
    with pytest.raises(ApiError) as taken:
        nova.attach(nodes["master1"], single, {}, (2, 60))
    assert "already attached to another instance" in taken.value.body["badRequest"]["message"]


def test_detaches_of_one_volume_serialize(clouds):
    cinder, nova, ticker = clouds
    shared = available_volume(cinder, ticker, "multi")
    nodes = servers(nova)
    for name in ("worker1", "master1"):
        nova.attach(nodes[name], shared, {}, (2, 60))
        settle(ticker)
    nova.detach(nodes["worker1"], nova.bdm(nodes["worker1"], shared["id"]), shared)
    assert shared["status"] == "detaching"
    with pytest.raises(ApiError) as second:
        nova.detach(nodes["master1"], nova.bdm(nodes["master1"], shared["id"]), shared)
    assert second.value.status == 400 and "must be 'in-use'" in second.value.body["badRequest"]["message"]
    settle(ticker)
    assert shared["status"] == "in-use" and nodes["worker1"]["attachments"] == []
    nova.detach(nodes["master1"], nova.bdm(nodes["master1"], shared["id"]), shared)
    settle(ticker)
    assert shared["status"] == "available" and shared["attachments"] == []


def test_devices_fill_from_vdb():
    assert next_device(set(), None) == "/dev/vdb"
    assert next_device({"/dev/vdb"}, None) == "/dev/vdc"
    assert next_device({"/dev/vdb"}, "/dev/vdb") == "/dev/vdc"
    assert next_device(set(), "/dev/vdq") == "/dev/vdq"


def test_an_attach_and_a_detach_take_time_in_every_profile():
    for profile in profiles.PROFILES:
        table = delays_for(profile, 1.0)
        assert table["volume_attach"] > 0 and table["volume_detach"] > 0, profile
    assert delays_for("devstack", 1.0)["volume_attach"] >= 1.0  # seconds on a Devstack, not instant
    assert delays_for("fast", 2.0)["volume_attach"] == 2 * delays_for("fast", 1.0)["volume_attach"]
