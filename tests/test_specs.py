"""The plain spec-building functions of the components, called directly."""

from __future__ import annotations

from types import SimpleNamespace as Obj

import pytest

from components.load_balancer import external_address, service_spec, service_url
from components.storage import access_mode, claim_spec, storage_class_parameters
from components.webserver import pod_labels, pod_spec, replication_controller_spec


def test_access_mode_follows_multiattach():
    assert access_mode(True) == "ReadWriteMany"
    assert access_mode(False) == "ReadWriteOnce"


def test_storage_class_parameters_name_the_type_only_when_given():
    assert storage_class_parameters("multiattach-type") == {"type": "multiattach-type"}
    assert storage_class_parameters(None) == {}


def test_claim_spec():
    assert claim_spec("sc", 3, False) == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "sc",
        "resources": {"requests": {"storage": "3Gi"}},
    }


def test_pod_spec_without_control_plane_has_no_tolerations():
    spec = pod_spec("nginx:1.27.4", "claim1", pod_labels("server"), shared_volume=True, schedule_on_control_plane=False)
    assert "tolerations" not in spec
    assert spec["volumes"] == [{"name": "shared-content", "persistentVolumeClaim": {"claimName": "claim1"}}]


def test_replication_controller_spec_labels_its_template():
    labels = pod_labels("server")
    spec = replication_controller_spec(3, labels, {"containers": []})
    assert spec == {"replicas": 3, "selector": labels, "template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}
    spec["selector"]["app"] = "changed"
    assert labels == {"app": "server"}, "the spec must not share the caller's dict"


def test_service_spec():
    assert service_spec({"app": "server"}, 8080, 80) == {
        "type": "LoadBalancer",
        "selector": {"app": "server"},
        "ports": [{"name": "http", "port": 8080, "targetPort": 80, "protocol": "TCP"}],
    }


@pytest.mark.parametrize(
    "status,expected",
    [
        (None, None),
        (Obj(load_balancer=Obj(ingress=None)), None),
        (Obj(load_balancer=Obj(ingress=[])), None),
        (Obj(load_balancer=Obj(ingress=[Obj(ip="172.24.4.10", hostname=None)])), "172.24.4.10"),
        (Obj(load_balancer=Obj(ingress=[Obj(ip=None, hostname="lb.example.org")])), "lb.example.org"),
    ],
)
def test_external_address(status, expected):
    assert external_address(status) == expected


def test_service_url():
    assert service_url(None, 80) is None
    assert service_url("172.24.4.10", 80) == "http://172.24.4.10:80/"
    assert service_url("2001:db8::5", 8080) == "http://[2001:db8::5]:8080/"
