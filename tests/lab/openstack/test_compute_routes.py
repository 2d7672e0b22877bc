"""Nova through the double's routes: attach rules, Cinder's attachment states, the CLI's volume list."""
from __future__ import annotations

from openstack_double_testing import cli, raw, wait_gone, wait_volume


def test_nova_attach_rules_and_the_cli_volume_list(double, admin):
    servers = {s.name: s for s in admin.compute.servers()}
    assert sorted(servers) == ["master1", "worker1", "worker2"]
    assert all(s.status == "ACTIVE" for s in servers.values())
    assert servers["worker1"].addresses["private"][0]["addr"] == "127.0.1.2"
    compute = admin.compute.get_endpoint()

    def attach(server, volume, version):
        return raw(admin, "POST", f"{compute}/servers/{server.id}/os-volume_attachments",
                   json={"volumeAttachment": {"volumeId": volume.id}},
                   headers={"X-OpenStack-Nova-API-Version": version})

    def detach(server, volume):
        return raw(admin, "DELETE", f"{compute}/servers/{server.id}/os-volume_attachments/{volume.id}")

    single = admin.block_storage.create_volume(size=1, name="single")
    multi_type = admin.block_storage.create_type(name="multiattach-type", extra_specs={"multiattach": "<is> True"})
    shared = admin.block_storage.create_volume(size=1, name="shared", volume_type=multi_type.id)
    wait_volume(admin, single.id, "available")
    wait_volume(admin, shared.id, "available")

    first = attach(servers["worker1"], single, "2.60")
    assert first.status_code == 200, first.text
    assert first.json()["volumeAttachment"]["device"] == "/dev/vdb"
    assert admin.block_storage.get_volume(single.id).status in ("reserved", "attaching")
    assert admin.block_storage.get_volume(single.id).attachments == []  # not complete yet
    busy = attach(servers["master1"], single, "2.60")
    assert busy.status_code == 400 and "to reserve, but the current status is" in busy.text
    wait_volume(admin, single.id, "in-use")
    second = attach(servers["master1"], single, "2.60")
    assert second.status_code == 400
    assert "already attached to another instance" in second.json()["badRequest"]["message"]

    old = attach(servers["master1"], shared, "2.59")
    assert old.status_code == 400
    assert old.json()["badRequest"]["message"] == \
        "Multiattach volumes are only supported starting with compute API version 2.60."
    assert admin.block_storage.get_volume(shared.id).status == "available"
    assert attach(servers["master1"], shared, "2.60").status_code == 200
    concurrent = attach(servers["worker1"], shared, "2.60")  # the first attach is still in flight
    assert concurrent.status_code == 400
    assert "must be available or in-use or downloading to reserve" in concurrent.json()["badRequest"]["message"]
    wait_volume(admin, shared.id, "in-use")
    assert attach(servers["worker1"], shared, "2.60").status_code == 200
    wait_volume(admin, shared.id, "in-use")
    volume = admin.block_storage.get_volume(shared.id)
    assert sorted(a["server_id"] for a in volume.attachments) == sorted([servers["master1"].id,
                                                                         servers["worker1"].id])
    assert all(a["attachment_id"] and a["host_name"] for a in volume.attachments)
    listed = raw(admin, "GET", f"{compute}/servers/{servers['worker1'].id}/os-volume_attachments").json()
    assert sorted(a["volumeId"] for a in listed["volumeAttachments"]) == sorted([single.id, shared.id])

    table = cli(double.clouds, "volume", "list", "--fit-width").stdout
    row = next(line for line in table.splitlines() if shared.id in line)
    assert "in-use" in row
    assert "Attached to master1 on /dev/vdb" in row and "Attached to worker1 on /dev/vdc" in row
    shown = cli(double.clouds, "volume", "show", shared.id).stdout
    assert "multiattach-type" in shown
    assert servers["master1"].id in shown and servers["worker1"].id in shown

    assert raw(admin, "DELETE", f"{admin.block_storage.get_endpoint()}/volumes/{shared.id}").status_code == 400
    assert detach(servers["master1"], shared).status_code == 202
    assert admin.block_storage.get_volume(shared.id).status == "detaching"
    serialized = detach(servers["worker1"], shared)
    assert serialized.status_code == 400 and "must be 'in-use'" in serialized.text
    wait_volume(admin, shared.id, "in-use")
    assert detach(servers["worker1"], shared).status_code == 202
    assert detach(servers["worker1"], single).status_code == 202
    for created in (single, shared):
        assert wait_volume(admin, created.id, "available").attachments == []
        admin.block_storage.delete_volume(created.id)
    for created in (single, shared):
        wait_gone(admin, created.id)
    assert raw(admin, "GET", f"{compute}/servers/{servers['worker1'].id}/os-volume_attachments").json() == \
        {"volumeAttachments": []}
