"""The plain spec-building functions of the components, called directly."""

from __future__ import annotations

from types import SimpleNamespace as Obj

import pytest

from components.load_balancer import service_spec, service_url
from components.ready_checks import external_address, load_balancer_id
from components.storage import access_mode, claim_spec, storage_class_parameters
from components.volume_type import multiattach_extra_specs
from components.webserver import claim_usage, pod_labels, pod_spec, replication_controller_spec


def test_access_mode_follows_multiattach():
    assert access_mode(True) == "ReadWriteMany"
    assert access_mode(False) == "ReadWriteOnce"


def test_storage_class_parameters_name_the_type_only_when_given():
    assert storage_class_parameters("multiattach-type") == {"type": "multiattach-type"}
    assert storage_class_parameters(None) == {}


def test_claim_spec():
    assert claim_spec("sc", 3, False, "Filesystem") == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "sc",
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": "3Gi"}},
    }
    assert claim_spec("sc", 1, True, "Block")["accessModes"] == ["ReadWriteMany"]


def test_volume_type_extra_specs_are_the_capital_t_multiattach():
    assert multiattach_extra_specs() == {"multiattach": "<is> True"}


def test_claim_usage_follows_the_volume_mode():
    assert claim_usage("Block") == {"volumeDevices": [{"name": "shared-content", "devicePath": "/dev/xvda"}]}
    assert claim_usage("Filesystem") == {"volumeMounts": [{"name": "shared-content", "mountPath": "/var/lib/www/html"}]}


def test_pod_spec_without_control_plane_has_no_tolerations():
    spec = pod_spec("nginx:1.27.4", pod_labels("server"), schedule_on_control_plane=False,
                    claim_name="claim1", volume_mode="Block", multiattach=True)
    assert "tolerations" not in spec
    assert spec["volumes"] == [{"name": "shared-content", "persistentVolumeClaim": {"claimName": "claim1"}}]
    assert spec["containers"][0]["volumeDevices"][0]["devicePath"] == "/dev/xvda"
    assert "topologySpreadConstraints" in spec and "affinity" not in spec


def test_pod_spec_keeps_single_attach_pods_on_one_node():
    spec = pod_spec("nginx:1.27.4", pod_labels("server"), schedule_on_control_plane=True,
                    claim_name="claim1", volume_mode="Filesystem", multiattach=False)
    assert spec["affinity"]["podAffinity"] and "topologySpreadConstraints" not in spec
    assert {t["key"] for t in spec["tolerations"]} == {"node-role.kubernetes.io/control-plane",
                                                         "node-role.kubernetes.io/master"}


def test_pod_spec_without_claim_has_no_volume_and_spreads():
    spec = pod_spec("nginx:1.27.4", pod_labels("lbserver"), schedule_on_control_plane=False)
    assert "volumes" not in spec
    assert not {"volumeMounts", "volumeDevices"} & set(spec["containers"][0])
    assert spec["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": {"app": "lbserver"}}


def test_replication_controller_spec_labels_its_template():
    labels = pod_labels("server")
    spec = replication_controller_spec(3, labels, {"containers": []})
    assert spec == {"replicas": 3, "selector": labels,
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}
    spec["selector"]["app"] = "changed"
    assert labels == {"app": "server"}, "the spec must not share the caller's dict"


def test_service_spec():
    assert service_spec({"app": "lbserver"}, 8080, 80) == {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Cluster",
        "selector": {"app": "lbserver"},
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


@pytest.mark.parametrize(
    "metadata,expected",
    [
        (None, None),
        (Obj(annotations=None), None),
        (Obj(annotations={"other": "x"}), None),
        (Obj(annotations={"loadbalancer.openstack.org/load-balancer-id": "lb-1"}), "lb-1"),
    ],
)
def test_load_balancer_id(metadata, expected):
    assert load_balancer_id(metadata) == expected
