"""Neutron through the double's routes: the Devstack networks, ports and floating IP rules."""
from __future__ import annotations

import openstack.exceptions
import pytest
from openstack_double_testing import raw


def test_the_devstack_networks_and_the_node_ports(double, admin, demo):
    assert sorted(n.name for n in admin.network.networks()) == ["private", "public"]
    assert [n.name for n in demo.network.networks()] == ["public"]  # the external network is shared
    ports = {p.fixed_ips[0]["ip_address"] for p in admin.network.ports(device_owner="compute:nova")}
    assert ports == {"127.0.1.1", "127.0.1.2", "127.0.1.3"}
    assert [r.name for r in admin.network.routers()] == ["router1"]


def test_one_floating_ip_per_port_and_addresses_from_the_public_pool(double, admin):
    public = admin.network.find_network("public")
    private = admin.network.find_network("private")
    port = admin.network.create_port(network_id=private.id, name="vip")
    first = admin.network.create_ip(floating_network_id=public.id, port_id=port.id)
    assert first.floating_ip_address.startswith("127.0.31.") and first.status == "ACTIVE"
    with pytest.raises(openstack.exceptions.ConflictException):
        admin.network.create_ip(floating_network_id=public.id, port_id=port.id)
    refused = raw(admin, "POST", f"{double.base_url}/networking/v2.0/floatingips",
                  json={"floatingip": {"floating_network_id": private.id}})
    assert refused.status_code == 400 and refused.json()["NeutronError"]["type"] == "BadRequest"
    admin.network.delete_port(port)
    assert admin.network.get_ip(first.id).port_id is None  # the floating IP stays, unbound
    admin.network.delete_ip(first)
    assert admin.network.find_ip(first.id, ignore_missing=True) is None
