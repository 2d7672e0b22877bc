"""Cinder's rules, directly on the models (lab/openstack/block_storage)."""
from __future__ import annotations

import threading
import time

import pytest

from lab import profiles
from lab.openstack.block_storage import volumes as cinder
from lab.openstack.block_storage.models import BlockStorageBackend
from lab.openstack.block_storage.volume_types import VolumeTypes
from lab.openstack.core.errors import ApiError
from lab.openstack.core.ticker import Ticker

PROJECT = "demo-project"


def backend() -> BlockStorageBackend:
    lock = threading.RLock()
    return BlockStorageBackend(lock, Ticker(lock), {"volume_create": 0.0, "volume_delete": 0.0})


def refusal(call) -> ApiError:
    with pytest.raises(ApiError) as error:
        call()
    return error.value


def volume(multiattach: bool, status: str) -> dict:
    return {"id": "v1", "multiattach": multiattach, "status": status, "attachments": [], "updated_at": None}


def test_create_takes_the_type_access_key_and_refuses_a_bare_is_public():
    types = VolumeTypes()
    private = types.create({"name": "private", "os-volume-type-access:is_public": False})
    assert private["is_public"] is False
    bare = refusal(lambda: types.create({"name": "bare", "is_public": False}))
    assert bare.status == 400
    assert "Additional properties are not allowed ('is_public' was unexpected)" in bare.body["badRequest"]["message"]
    assert [t["name"] for t in types.by_id.values()] == ["lvmdriver-1", "private"]
    assert refusal(lambda: types.create({"name": "private"})).status == 409


def test_update_takes_is_public_and_nothing_else():
    types = VolumeTypes()
    volume_type = types.create({"name": "t"})
    types.update(volume_type, {"is_public": "false", "description": "d"})
    assert volume_type["is_public"] is False and volume_type["description"] == "d"
    assert refusal(lambda: types.update(volume_type, {"os-volume-type-access:is_public": True})).status == 400
    assert refusal(lambda: types.update(volume_type, {"extra_specs": {}})).status == 400


def test_types_are_found_by_id_only_except_for_a_new_volume():
    types = VolumeTypes()
    volume_type = types.create({"name": "by-name"})
    assert types.get(volume_type["id"], PROJECT, False) is volume_type
    assert refusal(lambda: types.get("by-name", PROJECT, False)).status == 404
    assert types.for_new_volume("by-name", PROJECT, False) is volume_type
    assert types.for_new_volume(volume_type["id"], PROJECT, False) is volume_type
    assert types.for_new_volume(None, PROJECT, False)["name"] == "lvmdriver-1"


def test_a_private_type_is_visible_to_admins_and_projects_given_access():
    types = VolumeTypes()
    private = types.create({"name": "p", "os-volume-type-access:is_public": "False"})
    assert refusal(lambda: types.get(private["id"], PROJECT, False)).status == 404
    assert types.get(private["id"], "other", True) is private
    VolumeTypes.add_access(private, PROJECT)
    assert types.get(private["id"], PROJECT, False) is private
    assert refusal(lambda: VolumeTypes.add_access(private, PROJECT)).status == 409


def test_qos_specs_id_and_backend_specs_are_for_admins_only():
    volume_type = VolumeTypes().create({"name": "t", "extra_specs": {"multiattach": "<is> True",
                                                                    "volume_backend_name": "lvm"}})
    assert VolumeTypes.view(volume_type, is_admin=True)["qos_specs_id"] is None
    assert VolumeTypes.view(volume_type, is_admin=True)["extra_specs"]["volume_backend_name"] == "lvm"
    user_view = VolumeTypes.view(volume_type, is_admin=False)
    assert "qos_specs_id" not in user_view
    assert user_view["extra_specs"] == {"multiattach": "<is> True"}


def test_a_type_in_use_cannot_be_deleted_even_by_a_deleting_volume():
    storage = backend()
    volume_type = storage.create_type({"name": "in-use"})
    created = storage.create_volume({"size": 1, "volume_type": "in-use"}, PROJECT, "user", False)
    created["status"] = "deleting"
    in_use = refusal(lambda: storage.delete_type(volume_type))
    assert in_use.body["badRequest"]["message"] == "Target volume type is still in use."
    assert refusal(lambda: storage.change_specs(volume_type)).body["badRequest"]["message"] == \
        "Volume Type is currently in use."
    del storage.volumes[created["id"]]
    storage.delete_type(volume_type)
    assert volume_type["id"] not in storage.types.by_id
    assert refusal(lambda: storage.delete_type(storage.types.default)).status == 400


def test_only_the_literal_is_true_spec_makes_a_multiattach_volume():
    storage = backend()
    storage.create_type({"name": "True", "extra_specs": {"multiattach": "<is> True"}})
    storage.create_type({"name": "true", "extra_specs": {"multiattach": "<is> true"}})
    assert storage.create_volume({"size": 1, "volume_type": "True"}, PROJECT, "u", False)["multiattach"] is True
    assert storage.create_volume({"size": 1, "volume_type": "true"}, PROJECT, "u", False)["multiattach"] is False
    assert refusal(lambda: storage.create_volume({"size": 0}, PROJECT, "u", False)).status == 400


def test_a_new_attachment_needs_a_reservable_status():
    single = volume(multiattach=False, status="available")
    first = cinder.reserve_attachment(single, "server-1", "/dev/vdb")
    assert single["status"] == "reserved" and first["attach_status"] == "reserved"
    with pytest.raises(cinder.InvalidVolume) as busy:
        cinder.reserve_attachment(single, "server-2", "/dev/vdb")
    assert busy.value.reason == ("Volume v1 status must be available or downloading to reserve, "
                                 "but the current status is reserved.")
    shared = volume(multiattach=True, status="in-use")
    cinder.reserve_attachment(shared, "server-1", "/dev/vdb")
    with pytest.raises(cinder.InvalidVolume) as concurrent:  # the first attach has not completed
        cinder.reserve_attachment(shared, "server-2", "/dev/vdb")
    assert "must be available or in-use or downloading to reserve, but the current status is reserved" in \
        concurrent.value.reason


def test_an_attachment_shows_only_once_complete():
    shared = volume(multiattach=True, status="available")
    attachment = cinder.reserve_attachment(shared, "server-1", "/dev/vdb")
    cinder.attachment_connecting(shared, attachment)
    assert shared["status"] == "attaching" and cinder.attached(shared) == []
    cinder.attachment_complete(shared, attachment)
    assert shared["status"] == "in-use" and cinder.attached(shared) == [attachment]
    assert attachment["attached_at"]


def test_detaches_serialize_and_leave_the_highest_remaining_status():
    shared = volume(multiattach=True, status="available")
    for server in ("s1", "s2"):
        cinder.attachment_complete(shared, cinder.reserve_attachment(shared, server, "/dev/vdb"))
    cinder.begin_detaching(shared)
    assert shared["status"] == "detaching"
    with pytest.raises(cinder.InvalidVolume):
        cinder.begin_detaching(shared)
    cinder.attachment_delete(shared, shared["attachments"][0]["id"])
    assert shared["status"] == "in-use"
    cinder.begin_detaching(shared)
    cinder.attachment_delete(shared, shared["attachments"][0]["id"])
    assert shared["status"] == "available" and shared["attachments"] == []
    assert cinder.status_after_detach([{"attach_status": "reserved"}, {"attach_status": "attaching"}]) == "attaching"


def test_a_volume_with_attachments_or_still_creating_is_not_deleted():
    storage = backend()
    created = storage.create_volume({"size": 1}, PROJECT, "u", False)
    assert refusal(lambda: storage.delete_volume(created)).status == 400  # creating
    storage.ticker.run_due()
    assert created["status"] == "available"
    cinder.reserve_attachment(created, "s1", "/dev/vdb")
    created["status"] = "available"
    assert refusal(lambda: storage.delete_volume(created)).status == 400  # an attachment remains
    created["attachments"] = []
    storage.delete_volume(created)
    assert created["status"] == "deleting"
    storage.ticker.run_due()
    assert created["id"] not in storage.volumes


def test_an_extend_must_grow_the_volume():
    available = {**volume(False, "available"), "size": 2}
    too_small = refusal(lambda: cinder.begin_extend(available, 2, (3, 70)))
    assert too_small.status == 400 and "must be greater than current size. (current: 2, extended: 2)" in \
        too_small.body["badRequest"]["message"]
    assert refusal(lambda: cinder.new_extend_size({"new_size": "x"})).status == 400
    assert refusal(lambda: cinder.new_extend_size({})).status == 400
    assert cinder.new_extend_size({"new_size": 3}) == 3


def test_an_in_use_volume_is_extended_only_from_microversion_3_42():
    in_use = {**volume(True, "in-use"), "size": 1}
    old = refusal(lambda: cinder.begin_extend(in_use, 2, (3, 41)))
    assert old.status == 400 and "status must be '{'status': 'available'}' to extend, currently in-use" in \
        old.body["badRequest"]["message"]
    assert in_use["status"] == "in-use"
    assert cinder.begin_extend(in_use, 2, (3, 42)) == "in-use"
    assert in_use["status"] == "extending" and in_use["size"] == 1  # the size changes at the end
    again = refusal(lambda: cinder.begin_extend(in_use, 3, (3, 42)))
    assert again.status == 400 and "currently extending" in again.body["badRequest"]["message"]


def test_an_extend_takes_the_profiles_time_and_comes_back_to_the_status_it_had():
    lock = threading.RLock()
    storage = BlockStorageBackend(lock, Ticker(lock), {"volume_create": 0.0, "volume_extend": 0.3})
    created = storage.create_volume({"size": 1}, PROJECT, "u", False)
    storage.ticker.run_due()
    storage.extend_volume(created, 2, (3, 0))
    storage.ticker.run_due()
    assert (created["status"], created["size"]) == ("extending", 1)  # 0.3 s are not over yet
    time.sleep(0.35)
    storage.ticker.run_due()
    assert (created["status"], created["size"]) == ("available", 2)


def test_an_extend_takes_time_in_every_profile_and_scales():
    for name in profiles.PROFILES:
        assert profiles.delays(name).volume_extend > 0, name
    assert profiles.delays("devstack").volume_extend >= 1.0  # seconds on a Devstack's LVM, not instant
    assert profiles.delays("fast", 2.0).volume_extend == 2 * profiles.delays("fast").volume_extend
