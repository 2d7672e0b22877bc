"""lab/cinder_csi.py: what the CSI double decides for claims, attachments and PVs, and its
operations against a fake Cinder/Nova and a fake API server (no Go tools)."""
from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
from kubernetes import client

from lab import cinder_csi as csi
from lab.cinder_csi import CloudError

CLASS = {"metadata": {"name": "csi-sc"}, "provisioner": csi.DRIVER, "parameters": {"type": "multiattach-type"}}


def claim(**spec) -> dict:
    return {"metadata": {"name": "claim1", "namespace": "default", "uid": "u-1", "resourceVersion": "3",
                         "annotations": {"volume.kubernetes.io/storage-provisioner": csi.DRIVER}},
            "spec": {"storageClassName": "csi-sc", "accessModes": ["ReadWriteMany"],
                     "resources": {"requests": {"storage": "1500Mi"}}, **spec},
            "status": {"phase": "Pending"}}


def test_only_pending_claims_handed_to_the_driver_are_provisioned():
    classes = {"csi-sc": CLASS}
    assert csi.wants_provisioning(claim(), classes)
    assert not csi.wants_provisioning(claim(volumeName="pvc-x"), classes)
    other = claim()
    other["metadata"]["annotations"] = {}
    assert not csi.wants_provisioning(other, classes)
    late = {"csi-sc": {**CLASS, "volumeBindingMode": "WaitForFirstConsumer"}}
    assert not csi.wants_provisioning(claim(), late)


def test_the_request_rounds_up_to_gib_and_carries_the_type_and_metadata():
    request = csi.volume_request(claim(), CLASS)
    assert (request["name"], request["size"], request["volume_type"]) == ("pvc-u-1", 2, "multiattach-type")
    assert request["metadata"]["csi.storage.k8s.io/pvc/name"] == "claim1"
    assert csi.volume_request(claim(), {**CLASS, "parameters": {}})["volume_type"] is None


def test_an_existing_volume_is_returned_as_it_is_even_in_error_and_a_size_mismatch_is_refused():
    broken = {"id": "v1", "size": 2, "status": "error"}
    assert csi.existing_volume([broken], 2) is broken
    assert csi.existing_volume([], 2) is None
    with pytest.raises(CloudError, match="different capacity"):
        csi.existing_volume([broken], 3)
    with pytest.raises(CloudError, match="Multiple volumes"):
        csi.existing_volume([broken, broken], 2)


def test_the_pv_gets_the_zone_topology_and_no_fstype_for_block():
    volume = {"id": "v1", "size": 2, "availability_zone": "nova"}
    pv = csi.pv_manifest(claim(), CLASS, volume, "identity")
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "topology.cinder.csi.openstack.org/zone", "operator": "In",
                               "values": ["nova"]}]}]
    assert pv["spec"]["csi"]["fsType"] == "ext4" and pv["spec"]["capacity"] == {"storage": "2Gi"}
    block = csi.pv_manifest(claim(volumeMode="Block"), CLASS, volume, "identity")
    assert "fsType" not in block["spec"]["csi"] and block["spec"]["volumeMode"] == "Block"


def test_detach_decisions_follow_the_driver():
    in_use = {"id": "v1", "name": "pvc-1", "status": "in-use", "attachments": [{"server_id": "s1"}]}
    assert csi.detach_step(in_use, "s1") == csi.DETACH
    assert csi.detach_step(in_use, "s2") == csi.ALREADY_DETACHED
    assert csi.detach_step({**in_use, "status": "available"}, "s1") == csi.ALREADY_DETACHED
    assert csi.detach_step({**in_use, "status": "detaching"}, "s1") == csi.WAIT_DETACHED
    assert csi.detach_step(None, "s1") == csi.ALREADY_DETACHED
    with pytest.raises(CloudError, match="its status is attaching"):
        csi.detach_step({**in_use, "status": "attaching"}, "s1")


def test_the_device_path_needs_an_in_use_volume_attached_to_the_server():
    volume = {"id": "v1", "name": "pvc-1", "status": "in-use",
              "attachments": [{"server_id": "s1", "device": "/dev/vdb"}]}
    assert csi.device_path(volume, "s1") == "/dev/vdb"
    with pytest.raises(CloudError):
        csi.device_path(volume, "s2")
    with pytest.raises(CloudError, match="attaching"):
        csi.device_path({**volume, "status": "attaching"}, "s1")


def test_a_node_gets_its_servers_zone_once():
    node = {"metadata": {"name": "worker1", "labels": {}}}
    assert csi.zone_label_patch(node, "nova") == {"metadata": {"labels": {csi.TOPOLOGY_KEY: "nova"}}}
    assert csi.zone_label_patch({"metadata": {"labels": {csi.TOPOLOGY_KEY: "nova"}}}, "nova") is None
    assert csi.zone_label_patch(node, None) is None


def test_only_released_pvs_of_ours_with_delete_are_deleted():
    pv = {"metadata": {"name": "pvc-1", "annotations": {csi.PROVISIONED_BY: csi.DRIVER},
                       "finalizers": [csi.PROVISIONER_FINALIZER]},
          "spec": {"csi": {"driver": csi.DRIVER}, "persistentVolumeReclaimPolicy": "Delete"},
          "status": {"phase": "Released"}}
    assert csi.wants_deletion(pv)
    assert not csi.wants_deletion({**pv, "status": {"phase": "Bound"}})
    assert not csi.wants_deletion({**pv, "spec": {**pv["spec"], "persistentVolumeReclaimPolicy": "Retain"}})


# --- the operations, against fakes ------------------------------------------------------------

class _Answer:
    def __init__(self, body: dict):
        self.data = json.dumps(body).encode()


class FakeCloud:
    def __init__(self, volumes: dict | None = None):
        self.volumes = volumes or {}
        self.calls: list[tuple] = []
        self.attach_errors: list[str] = []

    def volume(self, volume_id):
        self.calls.append(("get", volume_id))
        return self.volumes.get(volume_id)

    def volumes_named(self, name):
        return [v for v in self.volumes.values() if v["name"] == name]

    def create_volume(self, name, size, volume_type, metadata):
        self.calls.append(("create", name))
        volume = {"id": "v-new", "name": name, "size": size, "status": "creating", "availability_zone": "nova"}
        self.volumes["v-new"] = volume
        return dict(volume)

    def attach(self, server_id, volume_id, multiattach):
        self.calls.append(("attach", server_id, multiattach))
        if self.attach_errors:
            raise CloudError(self.attach_errors.pop(0))
        volume = self.volumes[volume_id]
        volume["attachments"] = [*volume.get("attachments", []), {"server_id": server_id, "device": "/dev/vdb"}]
        volume["status"] = "in-use"

    def detach(self, server_id, volume_id):
        self.calls.append(("detach", server_id))


class FakeApi:
    """The few client calls the double makes, answering with what it was sent."""

    def __init__(self):
        self.created, self.va_status, self.events = [], [], []

    def create_persistent_volume(self, body, **_):
        self.created.append(body)
        return _Answer({**body, "metadata": {**body["metadata"], "resourceVersion": "1"}})

    def create_namespaced_event(self, namespace, body, **_):
        self.events.append((body["reason"], body["message"]))

    def patch_volume_attachment(self, name, body, **_):
        return _Answer({"metadata": {"name": name, "resourceVersion": "2", **body["metadata"]},
                        "spec": VA["spec"]})

    def patch_volume_attachment_status(self, name, body, **_):
        self.va_status.append(body["status"])
        return _Answer({"metadata": {"name": name, "resourceVersion": "3"}, **body})


VA = {"metadata": {"name": "csi-1", "resourceVersion": "1"},
      "spec": {"attacher": csi.DRIVER, "nodeName": "worker1", "source": {"persistentVolumeName": "pvc-1"}}}
NODE = {"metadata": {"name": "worker1"}, "spec": {"providerID": "openstack:///s1"}}
PV = {"metadata": {"name": "pvc-1", "resourceVersion": "1"},
      "spec": {"csi": {"driver": csi.DRIVER, "volumeHandle": "v1"}}}


def controller(cloud: FakeCloud, wait_timeout: float = 5.0) -> tuple[csi.CinderCSI, FakeApi]:
    driver = csi.CinderCSI(client.ApiClient(), cloud, wait_timeout, attach_wait=wait_timeout,
                           detach_wait=wait_timeout)
    api = FakeApi()
    driver.core = driver.storage = driver.recorder.core = api
    for informer, objects in ((driver.claims, [claim()]), (driver.classes, [CLASS]), (driver.nodes, [NODE]),
                              (driver.volumes, [PV]), (driver.attachments, [VA])):
        informer.cache.replace(objects)
    return driver, api


def test_create_volume_returns_right_after_the_post_without_waiting_for_available():
    cloud = FakeCloud()
    driver, api = controller(cloud)
    driver.provision(claim(), {"csi-sc": CLASS})
    assert cloud.calls == [("create", "pvc-u-1")]  # no status poll at all
    (pv,) = api.created
    assert pv["spec"]["csi"]["volumeHandle"] == "v-new"
    assert [reason for reason, _ in api.events] == ["Provisioning", "ProvisioningSucceeded"]


def test_a_same_name_volume_in_error_is_used_as_it_is_not_recreated():
    cloud = FakeCloud({"v-old": {"id": "v-old", "name": "pvc-u-1", "size": 2, "status": "error",
                                 "availability_zone": "nova"}})
    driver, api = controller(cloud)
    driver.provision(claim(), {"csi-sc": CLASS})
    assert not [c for c in cloud.calls if c[0] == "create"]
    assert api.created[0]["spec"]["csi"]["volumeHandle"] == "v-old"


def test_an_attach_refused_while_another_is_in_progress_fails_with_attach_error_then_succeeds():
    cloud = FakeCloud({"v1": {"id": "v1", "name": "pvc-1", "size": 1, "status": "attaching", "is_multiattach": True,
                              "attachments": [{"server_id": "s2"}]}})
    cloud.attach_errors.append("Invalid volume: Volume v1 status must be available or in-use (HTTP 400)")
    driver, api = controller(cloud)
    with pytest.raises(CloudError):
        driver.attach("csi-1")
    assert api.va_status[-1]["attached"] is False and "status must be" in api.va_status[-1]["attachError"]["message"]
    driver.attach("csi-1")  # the sidecar's retry, once the first attach completed
    assert api.va_status[-1] == {"attached": True, "attachmentMetadata": {"DevicePath": "/dev/vdb"},
                                 "attachError": None}
    assert ("attach", "s1", True) in cloud.calls  # microversion 2.60 for a multiattach volume


def test_a_detach_while_cinder_is_detaching_sends_nothing_and_its_wait_gives_up_for_a_retry():
    cloud = FakeCloud({"v1": {"id": "v1", "name": "pvc-1", "status": "detaching",
                              "attachments": [{"server_id": "s1"}, {"server_id": "s2"}]}})
    driver, api = controller(cloud, wait_timeout=0.2)
    va = {**VA, "metadata": {**VA["metadata"], "finalizers": [csi.ATTACHER_FINALIZER],
                             "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    driver.attachments.cache.replace([va])
    with pytest.raises(CloudError, match="timed out"):
        driver.detach("csi-1")
    assert not [c for c in cloud.calls if c[0] == "detach"]
    assert "detachError" in api.va_status[-1]


def test_attach_and_detach_waits_are_the_real_drivers_backoff():
    # openstack_volumes.go: ExponentialBackoff{1 s, factor 1.2, 15 steps} (attach), 13 (detach).
    assert csi.backoff_seconds(1.0, 1.2, 1) == 1.0
    assert csi.backoff_seconds(1.0, 2.0, 3) == 7.0
    assert 72.0 < csi.ATTACH_WAIT_SECONDS < 72.1
    assert 48.4 < csi.DETACH_WAIT_SECONDS < 48.6


# --- ControllerExpandVolume ---------------------------------------------------------------------

def test_the_extend_microversion_is_342_for_an_in_use_volume_and_none_when_available():
    assert csi.extend_microversion("in-use") == "3.42"
    assert csi.extend_microversion("available") is None
    with pytest.raises(CloudError, match="when status is extending"):
        csi.extend_microversion("extending")


def test_the_extend_wait_is_the_drivers_backoff_and_an_error_state_ends_it():
    # openstack_volumes.go WaitVolumeTargetStatus: {1 s, factor 1.1, 10 steps}: 10 checks, 9 sleeps.
    sleeps = csi.backoff_sleeps(*csi.EXTEND_WAIT)
    assert len(sleeps) == 9 and sleeps[0] == 1.0 and 13.5 < sum(sleeps) < 13.6
    slept = []
    with pytest.raises(CloudError, match="timeout on waiting for v1"):
        csi.wait_with_backoff(lambda: False, csi.EXTEND_WAIT, "v1", slept.append)
    assert slept == sleeps
    assert csi.extend_settled({"status": "in-use"}) and not csi.extend_settled({"status": "extending"})
    with pytest.raises(CloudError, match="Error State : error_extending"):
        csi.extend_settled({"status": "error_extending"})


class ExtendingCloud(FakeCloud):
    """Cinder's extend: `extending` for ``polls`` status reads, then the new size and `in-use`."""

    def __init__(self, polls: int):
        super().__init__({"v1": {"id": "v1", "name": "pvc-1", "size": 1, "status": "in-use"}})
        self.polls = polls

    def extend_volume(self, volume_id, new_size, microversion):
        self.calls.append(("extend", new_size, microversion))
        self.volumes[volume_id]["status"] = "extending"

    def volume(self, volume_id):
        found = super().volume(volume_id)
        if found["status"] == "extending":
            self.polls -= 1
            if self.polls < 0:
                found.update(size=2, status="in-use")
        return dict(found)


def test_expand_extends_an_attached_volume_with_342_waits_and_always_asks_for_node_expansion():
    cloud = ExtendingCloud(polls=2)
    driver, _ = controller(cloud)
    slept = []
    driver.stop_event.wait = lambda seconds: slept.append(seconds) and False
    assert driver.expand_volume("v1", 2 * csi.GIB) == (2 * csi.GIB, True)
    assert ("extend", 2, "3.42") in cloud.calls
    assert slept == [1.0, pytest.approx(1.1)]  # two reads `extending`: the wait's own pace
    # A second call (the resizer's retry) finds the size and calls nothing.
    cloud.calls.clear()
    assert driver.expand_volume("v1", 2 * csi.GIB) == (2 * csi.GIB, True)
    assert [c for c in cloud.calls if c[0] == "extend"] == []


def test_expand_of_a_volume_still_extending_is_refused_for_a_retry():
    cloud = ExtendingCloud(polls=100)
    cloud.volumes["v1"]["status"] = "extending"
    driver, _ = controller(cloud)
    with pytest.raises(CloudError, match="Could not resize volume"):
        driver.expand_volume("v1", 2 * csi.GIB)


def test_the_attach_and_detach_waits_check_no_sooner_than_the_real_drivers_backoff():
    answers, slept = iter([None, None, None, {"id": "v1"}]), []
    found = csi.poll_on_backoff(lambda: next(answers), 72.0, "volume v1 to be attached", threading.Event(),
                                sleep=slept.append)
    assert found == {"id": "v1"} and slept == pytest.approx([1.0, 1.2, 1.44])
    with pytest.raises(csi.CloudError, match="waiting for volume v1 to detach"):
        csi.poll_on_backoff(lambda: None, 3.0, "volume v1 to detach", threading.Event(), sleep=slept.append)


def test_the_driver_authenticates_before_it_serves_and_retries_at_first_use_if_it_cannot():
    asked = []

    def service(name):
        return SimpleNamespace(get_endpoint=lambda: asked.append(name))

    cloud = csi.Cloud(None, "devstack-admin")
    cloud._local.conn = SimpleNamespace(authorize=lambda: asked.append("token"), block_storage=service("block-storage"),
                                        compute=service("compute"))
    cloud.authenticate()
    assert asked == ["token", "block-storage", "compute"] and cloud._local.conn is not None

    def refused():
        raise ConnectionRefusedError("keystone not listening")

    cloud._local.conn = SimpleNamespace(authorize=refused)
    cloud.authenticate()  # logs a warning, does not raise
    assert cloud._local.conn is None  # the next use connects again
