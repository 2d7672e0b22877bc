"""The destroy-time sweep of floating IPs the cloud controller left without a port."""

from __future__ import annotations

import pytest

from components.floating_ip_sweep import FloatingIpInfo, FloatingIpSweepError, orphans, sweep
from policy.devstack_domain import floating_ip_description

MINE = floating_ip_description("default", "lb-webserver")
ORPHAN = FloatingIpInfo("f1", "172.24.4.10", MINE, None)
IN_USE = FloatingIpInfo("f2", "172.24.4.11", MINE, "vip-port")
OTHER_SERVICE = FloatingIpInfo("f3", "172.24.4.12", floating_ip_description("devstack-single", "lb-webserver"), None)
USERS_OWN = FloatingIpInfo("f4", "172.24.4.13", "my bastion", None)


def test_only_this_services_floating_ips_without_a_port_are_orphans():
    assert orphans([ORPHAN, IN_USE, OTHER_SERVICE, USERS_OWN], MINE) == [ORPHAN]


def test_the_sweep_deletes_the_orphans_and_says_so():
    deleted, said = [], []
    swept = sweep(lambda: [ORPHAN, IN_USE, USERS_OWN], deleted.append, MINE, log=said.append)
    assert swept == deleted == [ORPHAN]
    assert said == [f"deleted the floating IP 172.24.4.10 (f1) the cloud controller left behind ({MINE})"]


def test_a_failed_delete_names_what_is_left():
    second = FloatingIpInfo("f5", "172.24.4.14", MINE, None)

    def refuse(ip):
        raise RuntimeError("403 Forbidden")

    with pytest.raises(FloatingIpSweepError) as failed:
        sweep(lambda: [ORPHAN, second], refuse, MINE, log=lambda _line: None)
    assert "172.24.4.10 (f1)" in str(failed.value) and "172.24.4.14 (f5)" in str(failed.value)
    assert "403 Forbidden" in str(failed.value) and "openstack floating ip delete" in str(failed.value)


def test_the_description_is_the_cloud_controllers_own_words():
    assert MINE == "Floating IP for Kubernetes external service default/lb-webserver from cluster kubernetes"
