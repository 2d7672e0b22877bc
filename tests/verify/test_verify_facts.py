"""verify/facts.py: what verify reads, as plain data."""

from __future__ import annotations

import pytest

from verify.facts import NodeFacts, server_id_of

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("provider_id, expected", [
    ("openstack:///5c1f0a7e-0000-4000-8000-000000000001", "5c1f0a7e-0000-4000-8000-000000000001"),
    ("openstack://RegionOne/5c1f0a7e-0000-4000-8000-000000000002", "5c1f0a7e-0000-4000-8000-000000000002"),
    ("aws:///eu-west-1a/i-0abc", None),
    ("", None),
    (None, None),
])
def test_provider_id_names_the_nova_server(provider_id, expected):
    assert server_id_of(provider_id) == expected


def test_a_node_has_no_labels_unless_read_and_its_server_comes_from_the_provider_id():
    plain = NodeFacts(name="worker1", provider_id="openstack:///abc")
    assert plain.labels == {} and plain.server_id == "abc"
    assert NodeFacts(name="kwok-node", provider_id="kwok://kwok-node").server_id is None
