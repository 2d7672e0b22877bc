"""The preflight's reading of the API server's JSON (components/live_state.py): which path each
kind is read from, and what of an object or a controller list the ownership rules get."""
from __future__ import annotations

import pytest

from components.live_state import live_controllers, live_object, object_path
from components.ownership import STACK_ANNOTATION, ObjectRef

OWNER = "organization/devstack-k8s-apps/devstack"


@pytest.mark.parametrize("ref, path", [
    (ObjectRef("Namespace", "apps"), "/api/v1/namespaces/apps"),
    (ObjectRef("StorageClass", "csi-sc"), "/apis/storage.k8s.io/v1/storageclasses/csi-sc"),
    (ObjectRef("CSIDriver", "cinder.csi.openstack.org"), "/apis/storage.k8s.io/v1/csidrivers/cinder.csi.openstack.org"),
    (ObjectRef("PersistentVolumeClaim", "claim1", "apps"), "/api/v1/namespaces/apps/persistentvolumeclaims/claim1"),
    (ObjectRef("Service", "lb-webserver", "default"), "/api/v1/namespaces/default/services/lb-webserver"),
    (ObjectRef("VolumeType", "multiattach-type"), None),  # Cinder's, not the cluster's
])
def test_each_kind_is_read_from_its_api_path(ref, path):
    assert object_path(ref) == path


def test_a_name_cannot_reach_another_path():
    assert object_path(ObjectRef("Service", "a/../b", "default")) == "/api/v1/namespaces/default/services/a%2F..%2Fb"


def test_an_object_gives_its_owner_annotation():
    ref = ObjectRef("Service", "lb-webserver", "default")
    found = live_object(ref, {"metadata": {"name": "lb-webserver", "annotations": {STACK_ANNOTATION: OWNER}}})
    assert (found.ref, found.owner, found.requested_gi) == (ref, OWNER, None)
    assert live_object(ref, {"metadata": {"name": "lb-webserver"}}).owner is None


def test_a_claim_gives_its_requested_size_in_gib():
    ref = ObjectRef("PersistentVolumeClaim", "claim1", "default")
    found = live_object(ref, {"metadata": {}, "spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    assert found.requested_gi == pytest.approx(2.0)
    assert live_object(ref, {"metadata": {}, "spec": {}}).requested_gi is None
    assert live_object(ref, {"spec": {"resources": {"requests": {"storage": "lots"}}}}).requested_gi is None


def test_controllers_give_name_owner_and_app():
    listing = {"items": [
        {"metadata": {"name": "server-1", "labels": {"app": "server"}, "annotations": {STACK_ANNOTATION: OWNER}}},
        {"metadata": {"name": "by-hand", "labels": {"app": "lbserver"}}},
    ]}
    found = live_controllers("default", listing)
    assert [(f.ref, f.owner, f.app) for f in found] == [
        (ObjectRef("ReplicationController", "server-1", "default"), OWNER, "server"),
        (ObjectRef("ReplicationController", "by-hand", "default"), None, "lbserver"),
    ]
    assert live_controllers("default", {"items": []}) == []
    assert live_controllers("default", {}) == []
