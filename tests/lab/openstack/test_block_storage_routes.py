"""Cinder through the double's HTTP routes, with the real clients (openstacksdk, the openstack CLI)."""
from __future__ import annotations

import time

from openstack_double_testing import PASSWORDS, cli, connect_with, raw, wait_gone, wait_volume

from lab.openstack import OpenStackDouble, write_clouds_yaml


def test_volume_type_management_is_admin_only_under_cinders_policy_names(double, admin, demo):
    created = cli(double.clouds, "volume", "type", "create", "multiattach-type", "--property",
                  "multiattach=<is> True")
    assert "multiattach='<is> True'" in created.stdout
    shown = cli(double.clouds, "volume", "type", "show", "multiattach-type")  # the CLI finds it by listing
    assert "multiattach='<is> True'" in shown.stdout
    refused = cli(double.clouds, "volume", "type", "create", "demo-type", cloud="devstack", check=False)
    assert refused.returncode != 0
    assert "Policy doesn't allow volume_extension:type_create to be performed." in refused.stderr
    assert demo.block_storage.find_type("demo-type", ignore_missing=True) is None
    # the demo user still sees the public type (and its user-visible multiattach spec)
    assert demo.block_storage.find_type("multiattach-type").extra_specs == {"multiattach": "<is> True"}
    type_url = f"{demo.block_storage.get_endpoint()}/types/{admin.block_storage.find_type('multiattach-type').id}"
    for method, policy in (("PUT", "type_update"), ("DELETE", "type_delete")):
        answer = raw(demo, method, type_url, json={"volume_type": {"description": "x"}})
        assert answer.status_code == 403
        message = answer.json()["forbidden"]["message"]
        assert message == f"Policy doesn't allow volume_extension:{policy} to be performed."


def test_types_are_looked_up_by_id_and_qos_specs_id_is_for_admins(double, admin, demo):
    volume_type = admin.block_storage.create_type(name="by-id-only")
    types = f"{admin.block_storage.get_endpoint()}/types"
    assert raw(admin, "GET", f"{types}/{volume_type.id}").json()["volume_type"]["qos_specs_id"] is None
    as_demo = raw(demo, "GET", f"{demo.block_storage.get_endpoint()}/types/{volume_type.id}").json()
    assert "qos_specs_id" not in as_demo["volume_type"]
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/extra_specs"),
                           ("POST", "/extra_specs"), ("GET", "/os-volume-type-access")):
        answer = raw(admin, method, f"{types}/by-id-only{suffix}",
                     json={"volume_type": {"description": "x"}, "extra_specs": {"k": "v"}})
        assert answer.status_code == 404, (method, suffix, answer.text)
    volume = admin.block_storage.create_volume(size=1, name="named-type", volume_type="by-id-only")
    assert admin.block_storage.get_volume(volume.id).volume_type == "by-id-only"
    wait_volume(admin, volume.id, "available")
    admin.block_storage.delete_volume(volume.id)
    wait_gone(admin, volume.id)
    assert raw(admin, "DELETE", f"{types}/{volume_type.id}").status_code == 202


def test_type_create_takes_the_type_access_key_not_a_bare_is_public(double, admin):
    types = f"{admin.block_storage.get_endpoint()}/types"
    bare = raw(admin, "POST", types, json={"volume_type": {"name": "bare", "is_public": False}})
    assert bare.status_code == 400
    assert "'is_public' was unexpected" in bare.json()["badRequest"]["message"]
    assert admin.block_storage.find_type("bare", ignore_missing=True) is None
    cli(double.clouds, "volume", "type", "create", "private-type", "--private")
    private = admin.block_storage.find_type("private-type")
    assert private.is_public is False
    update = raw(admin, "PUT", f"{types}/{private.id}", json={"volume_type": {"is_public": True}})
    assert update.status_code == 200 and update.json()["volume_type"]["is_public"] is True


def test_only_the_literal_is_true_spec_makes_a_volume_multiattach(double, admin):
    admin.block_storage.create_type(name="literal-True", extra_specs={"multiattach": "<is> True"})
    lower = admin.block_storage.create_type(name="literal-true", extra_specs={"multiattach": "<is> true"})
    plain = admin.block_storage.create_volume(size=1, name="on-default")
    exact = admin.block_storage.create_volume(size=1, name="on-True", volume_type="literal-True")
    lowered = admin.block_storage.create_volume(size=1, name="on-true", volume_type=lower.id)
    assert admin.block_storage.get_volume(exact.id).is_multiattach is True
    assert admin.block_storage.get_volume(lowered.id).is_multiattach is False
    assert admin.block_storage.get_volume(plain.id).volume_type == "lvmdriver-1"
    for created in (plain, exact, lowered):
        wait_volume(admin, created.id, "available")
        admin.block_storage.delete_volume(created.id)
    for created in (plain, exact, lowered):
        wait_gone(admin, created.id)


def test_a_type_in_use_cannot_be_deleted_until_its_volume_is_gone(double, admin):
    volume_type = admin.block_storage.create_type(name="in-use-type", extra_specs={"multiattach": "<is> True"})
    volume = admin.block_storage.create_volume(size=1, name="keeps-the-type", volume_type="in-use-type")
    wait_volume(admin, volume.id, "available")
    url = f"{admin.block_storage.get_endpoint()}/types/{volume_type.id}"
    refused = raw(admin, "DELETE", url)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == "Target volume type is still in use."
    specs = raw(admin, "POST", f"{url}/extra_specs", json={"extra_specs": {"multiattach": "<is> False"}})
    assert specs.status_code == 400 and specs.json()["badRequest"]["message"] == "Volume Type is currently in use."
    admin.block_storage.delete_volume(volume.id)
    wait_gone(admin, volume.id)
    assert raw(admin, "DELETE", url).status_code == 202
    assert raw(admin, "GET", url).status_code == 404


def test_volumes_go_through_creating_and_deleting(tmp_path):
    """A second double with every delay x2: a volume is creating 0.6 s and deleting 0.6 s."""
    with OpenStackDouble(port=0, state_dir=tmp_path / "state", delay_scale=2.0, passwords=PASSWORDS) as slow:
        clouds = write_clouds_yaml(tmp_path / "clouds.yaml", slow.base_url, PASSWORDS)
        conn = connect_with(clouds, "devstack-admin")
        volume_type = conn.block_storage.create_type(name="slow-type")
        started = time.monotonic()
        volume = conn.block_storage.create_volume(size=2, name="slow", volume_type="slow-type")
        assert volume.status == "creating"
        assert conn.block_storage.get_volume(volume.id).status == "creating"
        early = raw(conn, "DELETE", f"{conn.block_storage.get_endpoint()}/volumes/{volume.id}")
        assert early.status_code == 400  # Cinder refuses to delete a volume still creating
        wait_volume(conn, volume.id, "available", timeout=15)
        assert time.monotonic() - started >= 0.55
        assert [v.id for v in conn.block_storage.volumes(all_projects=True)] == [volume.id]
        assert list(connect_with(clouds, "devstack").block_storage.volumes()) == []  # another project's
        conn.block_storage.delete_volume(volume.id)
        assert conn.block_storage.get_volume(volume.id).status == "deleting"
        type_url = f"{conn.block_storage.get_endpoint()}/types/{volume_type.id}"
        in_use = raw(conn, "DELETE", type_url)  # a deleting volume still holds its type
        assert in_use.status_code == 400 and "still in use" in in_use.text
        wait_gone(conn, volume.id, timeout=15)
        assert raw(conn, "DELETE", type_url).status_code == 202


def test_os_extend_of_an_attached_volume_needs_microversion_3_42(double, admin):
    volume = admin.block_storage.create_volume(size=1, name="grown")
    wait_volume(admin, volume.id, "available")
    server = next(s for s in admin.compute.servers() if s.name == "worker2")
    attachments = f"{admin.compute.get_endpoint()}/servers/{server.id}/os-volume_attachments"
    assert raw(admin, "POST", attachments, json={"volumeAttachment": {"volumeId": volume.id}}).status_code == 200
    wait_volume(admin, volume.id, "in-use")
    url = f"{admin.block_storage.get_endpoint()}/volumes/{volume.id}/action"
    body = {"os-extend": {"new_size": 2}}
    refused = raw(admin, "POST", url, json=body, headers={"OpenStack-API-Version": "volume 3.41"})
    assert refused.status_code == 400 and "to extend, currently in-use" in refused.text
    accepted = raw(admin, "POST", url, json=body, headers={"OpenStack-API-Version": "volume 3.42"})
    assert accepted.status_code == 202, accepted.text
    assert admin.block_storage.get_volume(volume.id).status == "extending"
    grown = wait_volume(admin, volume.id, "in-use")
    assert grown.size == 2 and [a["server_id"] for a in grown.attachments] == [server.id]
    smaller = raw(admin, "POST", url, json={"os-extend": {"new_size": 2}},
                  headers={"OpenStack-API-Version": "volume 3.42"})
    assert smaller.status_code == 400 and "must be greater than current size" in smaller.text
    assert raw(admin, "DELETE", f"{attachments}/{volume.id}").status_code == 202
    wait_volume(admin, volume.id, "available")
    admin.block_storage.delete_volume(volume.id)
    wait_gone(admin, volume.id)
