"""The double's Cinder faults (lab/openstack/lab_faults.py) and user messages (GET /messages, 3.3),
read back through the readers the claim's waits use (components/storage_reads.py)."""
from __future__ import annotations

import pytest
from openstack_double_testing import raw, wait_gone, wait_volume

from components.storage_reads import PVC_NAME_METADATA, PVC_NAMESPACE_METADATA, CinderReader
from lab.openstack.block_storage.volumes import NO_VALID_BACKEND_MESSAGE


@pytest.fixture
def reader(double, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(double.clouds))
    return CinderReader("devstack-admin")


def fault(double, conn, what: str, body: dict):
    return raw(conn, "PUT", f"{double.base_url}/lab/faults/{what}", json=body)


def test_an_armed_create_ends_in_error_with_the_schedulers_user_message(double, admin, demo, reader):
    assert fault(double, demo, "volume_create", {"ends_in": "error"}).status_code == 403
    assert fault(double, admin, "volume_create", {"ends_in": "lost"}).status_code == 400
    assert fault(double, admin, "volume_create", {"ends_in": "error"}).status_code == 200
    try:
        volume = demo.block_storage.create_volume(size=1, name="doomed")
        wait_volume(demo, volume.id, "error")
    finally:
        assert fault(double, admin, "volume_create", {"ends_in": "available"}).status_code == 200
    endpoint = demo.block_storage.get_endpoint()
    assert raw(demo, "GET", f"{endpoint}/messages").status_code == 404  # before 3.3
    listed = raw(demo, "GET", f"{endpoint}/messages?resource_uuid={volume.id}",
                 headers={"OpenStack-API-Version": "volume 3.5"}).json()["messages"]
    assert [(m["user_message"], m["resource_type"], m["event_id"]) for m in listed] == [
        (NO_VALID_BACKEND_MESSAGE, "VOLUME", "VOLUME_VOLUME_001_002")]
    assert reader.messages(volume.id) == [NO_VALID_BACKEND_MESSAGE]  # the admin sees every project's
    assert reader.volume(volume.id).status == "error"
    healed = demo.block_storage.create_volume(size=1)
    wait_volume(demo, healed.id, "available")
    assert reader.messages(healed.id) == []
    for created in (volume, healed):
        demo.block_storage.delete_volume(created.id)
        wait_gone(demo, created.id)


def test_an_armed_delete_ends_in_error_deleting_and_the_volume_stays(double, admin, reader):
    metadata = {PVC_NAME_METADATA: "claim1", PVC_NAMESPACE_METADATA: "web"}
    volume = admin.block_storage.create_volume(size=1, name="pvc-x", metadata=metadata)
    other = admin.block_storage.create_volume(size=1, name="pvc-y", metadata={PVC_NAME_METADATA: "claim1"})
    wait_volume(admin, volume.id, "available")
    assert [v.id for v in reader.volumes_of_claim("web", "claim1")] == [volume.id]
    assert fault(double, admin, "volume_delete", {"ends_in": "error_deleting"}).status_code == 200
    try:
        admin.block_storage.delete_volume(volume.id)
        wait_volume(admin, volume.id, "error_deleting")
    finally:
        assert fault(double, admin, "volume_delete", {"ends_in": "deleted"}).status_code == 200
    assert [v.status for v in reader.volumes_of_claim("web", "claim1")] == ["error_deleting"]
    # what an admin does once the backend is fixed: reset the status, delete again
    admin.block_storage.reset_volume_status(volume, status="available", attach_status=None, migration_status=None)
    wait_volume(admin, other.id, "available")
    for leftover in (volume, other):
        admin.block_storage.delete_volume(leftover.id)
        wait_gone(admin, leftover.id)


def test_a_503_burst_answers_exactly_that_many_requests_then_cinder_is_back(double, admin, demo):
    url = f"{demo.block_storage.get_endpoint()}/volumes"
    assert fault(double, demo, "cinder_errors", {"count": 2}).status_code == 403
    assert fault(double, admin, "cinder_errors", {"count": -1}).status_code == 400
    assert fault(double, admin, "cinder_errors", {"count": 2}).status_code == 200
    assert [raw(demo, "GET", url).status_code for _ in range(3)] == [503, 503, 200]
    assert fault(double, admin, "cinder_errors", {"count": 0}).json()["cinder_errors"]["previous_still_to_come"] == 0
