"""lab/kube/client.py: the helpers on raw objects."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from lab.kube import client as kc


def test_keys_and_resource_versions_of_raw_objects():
    obj = {"metadata": {"name": "a", "namespace": "ns", "uid": "u", "resourceVersion": "42"}}
    assert (kc.namespaced_key(obj), kc.name_key(obj), kc.uid_key(obj)) == ("ns/a", "a", "u")
    assert kc.namespaced_key({"metadata": {"name": "node1"}}) == "/node1"
    assert kc.resource_version(obj) == 42
    assert kc.resource_version({"metadata": {"resourceVersion": "x"}}) == 0 and kc.resource_version(None) == 0


def test_rfc3339_is_utc_seconds_with_z():
    moment = datetime(2026, 12, 1, 23, 30, 5, 999, tzinfo=timezone(timedelta(hours=2)))
    assert kc.rfc3339(moment) == "2026-12-01T21:30:05Z"
    assert kc.rfc3339().endswith("Z") and kc.rfc3339()[:4] == str(datetime.now(UTC).year)


def test_server_ids_come_from_openstack_provider_ids_only():
    assert kc.server_id_of({"spec": {"providerID": "openstack:///1234-abcd"}}) == "1234-abcd"
    assert kc.server_id_of({"spec": {"providerID": "openstack://RegionOne/1234"}}) == "1234"
    assert kc.server_id_of({"spec": {"providerID": "kwok://node"}}) is None
    assert kc.server_id_of(None) is None


def test_node_internal_ip_and_finalizer_patch():
    node = {"status": {"addresses": [{"type": "Hostname", "address": "w1"},
                                     {"type": "InternalIP", "address": "127.0.1.2"}]}}
    assert kc.node_internal_ip(node) == "127.0.1.2" and kc.node_internal_ip({}) is None
    assert kc.remove_finalizer("f") == {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f"]}}
