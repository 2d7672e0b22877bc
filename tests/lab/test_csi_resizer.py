"""lab/csi_resizer.py: when the external-resizer acts on a claim, the size it expands to, the
claim status it and the kubelet write, and its operation against a fake API and expander."""
from __future__ import annotations

import json

import pytest

from lab import csi_resizer as resizer
from lab.kube.informer import Cache

DRIVER = "cinder.csi.openstack.org"
GIB = 1024 ** 3


def claim(request: str = "2Gi", has: str = "1Gi", status: str | None = None, allocated: str | None = None,
          conditions: list | None = None, phase: str = "Bound") -> dict:
    found = {"phase": phase, "capacity": {"storage": has}, "conditions": conditions or []}
    if status:
        found["allocatedResourceStatuses"] = {"storage": status}
    if allocated:
        found["allocatedResources"] = {"storage": allocated}
    return {"metadata": {"name": "claim1", "namespace": "default", "uid": "u-1", "resourceVersion": "7"},
            "spec": {"volumeName": "pvc-u-1", "resources": {"requests": {"storage": request}}},
            "status": found}


def pv(size: str = "1Gi", driver: str = DRIVER, uid: str = "u-1") -> dict:
    return {"metadata": {"name": "pvc-u-1", "resourceVersion": "5"},
            "spec": {"capacity": {"storage": size}, "csi": {"driver": driver, "volumeHandle": "vol-1"},
                     "claimRef": {"namespace": "default", "name": "claim1", "uid": uid}}}


def test_only_a_bound_claim_asking_for_more_than_it_has_needs_a_resize():
    assert resizer.claim_needs_resize(claim())
    assert not resizer.claim_needs_resize(claim(request="1Gi"))
    assert not resizer.claim_needs_resize(claim(request="1024Mi"))  # the same size, written otherwise
    assert not resizer.claim_needs_resize(claim(phase="Pending"))


def test_only_a_pv_of_this_driver_bound_to_the_claim_is_expanded():
    assert resizer.pv_can_be_expanded(claim(), pv(), DRIVER)
    assert not resizer.pv_can_be_expanded(claim(), pv(driver="other.csi.example.com"), DRIVER)
    assert not resizer.pv_can_be_expanded(claim(), pv(uid="someone-else"), DRIVER)
    assert not resizer.pv_can_be_expanded(claim(), None, DRIVER)


def test_the_size_is_the_request_and_nothing_while_the_node_has_its_turn():
    assert resizer.target_size(claim(), pv()) == 2 * GIB
    # The PV is grown, the kubelet has not finished: the resizer leaves it alone.
    assert resizer.target_size(claim(status=resizer.NODE_RESIZE_PENDING, allocated="2Gi"), pv("2Gi")) is None
    assert resizer.target_size(claim(status=resizer.NODE_RESIZE_IN_PROGRESS, allocated="2Gi"), pv("2Gi")) is None
    # A grown PV without any status: resume (ControllerExpandVolume is idempotent) ...
    assert resizer.target_size(claim(), pv("2Gi")) == 2 * GIB
    # ... unless the old-style condition says the node is pending.
    pending = [resizer.condition(resizer.FILE_SYSTEM_RESIZE_PENDING)]
    assert resizer.target_size(claim(conditions=pending), pv("2Gi")) is None
    # An interrupted controller resize goes on at the size it had allocated.
    assert resizer.target_size(claim(request="3Gi", status=resizer.CONTROLLER_RESIZE_IN_PROGRESS,
                                     allocated="2Gi"), pv()) == 2 * GIB


def test_quantities_are_written_as_the_api_server_prints_them():
    assert resizer.binary_quantity(2 * GIB) == "2Gi"
    assert resizer.binary_quantity(1500 * 1024 ** 2) == "1500Mi"
    assert resizer.binary_quantity(1000) == "1000"


def test_in_progress_then_node_pending_then_finished_is_what_the_claim_shows():
    other = {"type": "ModifyingVolume", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    started = resizer.controller_resize_in_progress(claim(conditions=[other]), 2 * GIB, now="2026-01-02T00:00:00Z")
    status = started["status"]
    assert [c["type"] for c in status["conditions"]] == ["ModifyingVolume", "Resizing"]
    assert status["allocatedResources"] == {"storage": "2Gi"}
    assert status["allocatedResourceStatuses"] == {"storage": "ControllerResizeInProgress"}
    assert status["capacity"] == {"storage": "1Gi"}  # unchanged until the end
    pending = resizer.node_resize_pending(started)["status"]
    assert [c["type"] for c in pending["conditions"]] == ["ModifyingVolume", "FileSystemResizePending"]
    assert pending["conditions"][1]["message"] == resizer.FS_RESIZE_PENDING_MESSAGE
    assert pending["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    on_node = resizer.node_resize_in_progress({**started, "status": pending})["status"]
    assert on_node["allocatedResourceStatuses"] == {"storage": "NodeResizeInProgress"}
    assert [c["type"] for c in on_node["conditions"]] == ["ModifyingVolume", "FileSystemResizePending"]
    done = resizer.expansion_finished({**started, "status": on_node}, 2 * GIB)["status"]
    assert done["capacity"] == {"storage": "2Gi"}
    assert done["allocatedResourceStatuses"] is None
    assert [c["type"] for c in done["conditions"]] == ["ModifyingVolume"]


def test_a_condition_already_there_keeps_its_transition_time():
    old = resizer.condition(resizer.RESIZING, now="2026-01-01T00:00:00Z")
    again = resizer.controller_resize_in_progress(claim(conditions=[old]), 2 * GIB, now="2026-01-05T00:00:00Z")
    assert again["status"]["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_the_kubelet_expands_only_a_node_pending_claim_smaller_than_its_pv():
    pending = claim(status=resizer.NODE_RESIZE_PENDING, allocated="2Gi")
    assert resizer.node_expansion_due(pending, pv("2Gi"))
    assert resizer.node_expansion_due(claim(status=resizer.NODE_RESIZE_IN_PROGRESS, allocated="2Gi"), pv("2Gi"))
    assert not resizer.node_expansion_due(pending, pv("1Gi"))  # the PV is not grown yet
    assert not resizer.node_expansion_due(claim(status=resizer.CONTROLLER_RESIZE_IN_PROGRESS), pv("2Gi"))
    assert not resizer.node_expansion_due(claim(), pv("2Gi"))  # no status: an older resizer's claim
    assert not resizer.node_expansion_due(None, pv("2Gi"))


# --- the operation, against fakes ---------------------------------------------------------------

class _Answer:
    def __init__(self, body: dict):
        self.data = json.dumps(body).encode()


class FakeApi:
    def __init__(self):
        self.statuses, self.pv_patches, self.events = [], [], []

    def replace_namespaced_persistent_volume_claim_status(self, name, namespace, body, **_):
        self.statuses.append(body["status"])
        version = str(int(body["metadata"]["resourceVersion"]) + 1)
        return _Answer({**body, "metadata": {**body["metadata"], "resourceVersion": version}})

    def patch_persistent_volume(self, name, body, **_):
        self.pv_patches.append(body)
        return _Answer({**pv(body["spec"]["capacity"]["storage"]), "metadata": {"name": name, "resourceVersion": "6"}})

    def create_namespaced_event(self, namespace, body, **_):
        self.events.append((body["type"], body["reason"], body["message"]))


class Store:
    """An informer's cache without the watch."""

    def __init__(self, key, objects):
        self.cache = Cache(key)
        self.cache.replace(objects)

    def snapshot(self):
        return list(self.cache.items.values())

    def get(self, key):
        return self.cache.items.get(key)

    def put(self, obj):
        self.cache.put(obj)


def sidecar(expand, the_claim=None, the_pv=None):
    from lab.kube.client import name_key, namespaced_key
    from lab.kube.events import Recorder

    api = FakeApi()
    claims = Store(namespaced_key, [the_claim or claim()])
    volumes = Store(name_key, [the_pv or pv()])
    return resizer.Resizer(api, claims, volumes, Recorder(api, "external-resizer"), expand, DRIVER), api, claims


def test_a_resize_marks_the_claim_expands_grows_the_pv_and_leaves_the_capacity_to_the_node():
    calls = []

    def expand(handle, size):
        calls.append((handle, size))
        return size, True  # the Cinder driver always asks for node expansion

    side, api, claims = sidecar(expand)
    assert [(c["metadata"]["name"], v["metadata"]["name"]) for c, v in side.due()] == [("claim1", "pvc-u-1")]
    side.resize("default/claim1")
    assert calls == [("vol-1", 2 * GIB)]
    assert api.pv_patches == [{"spec": {"capacity": {"storage": "2Gi"}}}]
    assert [s["allocatedResourceStatuses"]["storage"] for s in api.statuses] == [
        "ControllerResizeInProgress", "NodeResizePending"]
    assert claims.get("default/claim1")["status"]["capacity"] == {"storage": "1Gi"}
    assert [(t, r) for t, r, _ in api.events] == [("Normal", "Resizing"), ("Normal", "FileSystemResizeRequired")]
    assert api.events[0][2] == "External resizer is resizing volume pvc-u-1"


def test_without_node_expansion_the_resizer_finishes_the_claim_itself():
    side, api, claims = sidecar(lambda handle, size: (size, False))
    side.resize("default/claim1")
    assert claims.get("default/claim1")["status"]["capacity"] == {"storage": "2Gi"}
    assert api.statuses[-1]["allocatedResourceStatuses"] is None
    assert api.events[-1][:2] == ("Normal", "VolumeResizeSuccessful")


def test_a_failed_expansion_is_reported_and_raised_for_the_retry():
    def refuse(handle, size):
        raise RuntimeError("volume cannot be resized, when status is extending")

    side, api, claims = sidecar(refuse)
    with pytest.raises(RuntimeError):
        side.resize("default/claim1")
    assert api.pv_patches == []
    event_type, reason, message = api.events[-1]
    assert (event_type, reason) == ("Warning", "VolumeResizeFailed")
    assert message.startswith('resize volume "pvc-u-1" by resizer "cinder.csi.openstack.org" failed')
    status = claims.get("default/claim1")["status"]
    assert [c["type"] for c in status["conditions"]] == ["ControllerResizeError"]
    assert status["allocatedResourceStatuses"] == {"storage": "ControllerResizeInProgress"}
