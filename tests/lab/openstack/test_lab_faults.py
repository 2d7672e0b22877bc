"""The lab's fault routes (not OpenStack) keep their URLs and stay admin-only."""
from __future__ import annotations

import time

from openstack_double_testing import raw, wait_lb, wait_volume


def test_a_broken_load_balancer_is_error_error(double, admin, demo):
    lb = admin.load_balancer.create_load_balancer(vip_subnet_id=admin.network.find_network("private").subnet_ids[0])
    wait_lb(admin, lb.id)
    url = f"{double.base_url}/lab/faults/loadbalancers/{lb.id}"
    assert raw(demo, "PUT", url, json={"provisioning_status": "ERROR"}).status_code == 403
    assert raw(admin, "PUT", url, json={"provisioning_status": "ACTIVE"}).status_code == 400
    assert raw(admin, "PUT", url, json={"provisioning_status": "ERROR"}).status_code == 200
    broken = admin.load_balancer.get_load_balancer(lb.id)
    assert (broken.provisioning_status, broken.operating_status) == ("ERROR", "ERROR")


def test_type_specs_can_be_changed_while_volumes_use_the_type(double, admin):
    volume_type = admin.block_storage.create_type(name="mistyped", extra_specs={"multiattach": "<is> True"})
    volume = admin.block_storage.create_volume(size=1, volume_type="mistyped")
    wait_volume(admin, volume.id, "available")
    answer = raw(admin, "PUT", f"{double.base_url}/lab/faults/types/{volume_type.id}/extra_specs",
                 json={"multiattach": "<is> true"})
    assert answer.status_code == 200 and answer.json()["extra_specs"]["multiattach"] == "<is> true"
    assert admin.block_storage.get_type(volume_type.id).extra_specs["multiattach"] == "<is> true"


def test_delays_change_from_now_on(double, admin):
    url = f"{double.base_url}/lab/faults/delays"
    assert raw(admin, "PUT", url, json={"no_such_delay": 1}).status_code == 400
    assert raw(admin, "PUT", url, json={"volume_create": 1.0}).json()["delays"]["volume_create"] == 1.0
    try:
        started = time.monotonic()
        volume = admin.block_storage.create_volume(size=1)
        wait_volume(admin, volume.id, "available")
        assert time.monotonic() - started >= 0.95
    finally:
        raw(admin, "PUT", url, json={"volume_create": 0.3})
