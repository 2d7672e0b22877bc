"""Each rule of the pack on a small dict: what passes, what is flagged, and what the message says."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from devstack_policies import (
    csi_provisioner,
    health_monitor,
    images_pinned,
    kubernetes_schema_problems,
    kubernetes_version_problem,
    load_balancer_selects_pods,
    multiattach_extra_spec,
    resource_limits,
    rwo_claim_on_one_node,
    rwx_claim_on_multiattach_type,
    rwx_filesystem_corruption_risk,
    selector_matches_template,
    traffic_policy_cluster,
)

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
RC = "kubernetes:core/v1:ReplicationController"
SERVICE = "kubernetes:core/v1:Service"
POD = "kubernetes:core/v1:Pod"


@dataclass
class Resource:
    """The three fields of a PolicyResource the stack rules read."""

    resource_type: str
    props: dict
    urn: str = field(default="")

    def __post_init__(self):
        self.urn = self.urn or f"urn:{self.resource_type}::{self.props.get('metadata', {}).get('name', 'x')}"


def rc(labels=None, selector=None, replicas=2, pod=None) -> dict:
    labels = {"app": "server"} if labels is None else labels
    return {"metadata": {"name": "server"},
            "spec": {"replicas": replicas, "selector": labels if selector is None else selector,
                     "template": {"metadata": {"labels": labels}, "spec": pod or {"containers": []}}}}


def nginx(image="nginx:1.27.4", limits=None, port=80) -> dict:
    return {"name": "nginx", "image": image, "ports": [{"name": "http", "containerPort": port}],
            "resources": {"limits": {"cpu": "1", "memory": "64Mi"} if limits is None else limits}}


def claim(modes, class_name="sc", volume_mode=None, name="claim1") -> Resource:
    spec = {"accessModes": modes, "storageClassName": class_name}
    if volume_mode:
        spec["volumeMode"] = volume_mode
    return Resource(CLAIM, {"metadata": {"name": name}, "spec": spec})


def cinder_class(type_name=None, name="sc") -> Resource:
    return Resource(STORAGE_CLASS, {"metadata": {"name": name}, "provisioner": "cinder.csi.openstack.org",
                                    "parameters": {"type": type_name} if type_name else {}})


# --- resource rules --------------------------------------------------------------------

def test_multiattach_extra_spec():
    assert multiattach_extra_spec({"name": "t", "extraSpecs": {"multiattach": "<is> True"}}, {}) == []
    assert multiattach_extra_spec({"name": "t", "extraSpecs": {"volume_backend_name": "lvm"}}, {}) == []
    (message,) = multiattach_extra_spec({"name": "t", "extraSpecs": {"multiattach": "<is> true"}}, {})
    assert "'t'" in message and "capital T" in message


def test_csi_provisioner():
    assert csi_provisioner({"provisioner": "cinder.csi.openstack.org"}, {}) == []
    assert csi_provisioner({"provisioner": "nfs.csi.k8s.io"}, {}) == []
    (message,) = csi_provisioner({"metadata": {"name": "sc"}, "provisioner": "kubernetes.io/cinder"}, {})
    assert "retired in-tree" in message
    assert csi_provisioner({"provisioner": "cinder.example"}, {"allowedProvisioners": ["cinder.example"]}) == []


def test_selector_matches_template():
    assert selector_matches_template(RC, rc()) == []
    (message,) = selector_matches_template(RC, rc(selector={"app": "other"}))
    assert "selects {'app': 'other'}" in message


def test_images_pinned():
    assert images_pinned(RC, rc(pod={"containers": [nginx()]})) == []
    (message,) = images_pinned(RC, rc(pod={"containers": [nginx("nginx:latest")]}))
    assert "'nginx:latest'" in message and "moving tag latest" in message


def test_resource_limits():
    assert resource_limits(RC, rc(pod={"containers": [nginx()]})) == []
    (message,) = resource_limits(POD, {"metadata": {"name": "p"}, "spec": {"containers": [nginx(limits={"cpu": "1"})]}})
    assert "no memory limit" in message


def test_health_monitor():
    annotated = {"metadata": {"annotations": {"loadbalancer.openstack.org/enable-health-monitor": "true"}},
                 "spec": {"type": "LoadBalancer"}}
    assert health_monitor(annotated) == []
    assert health_monitor({"spec": {"type": "ClusterIP"}}) == []
    (message,) = health_monitor({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}})
    assert "enable-health-monitor" in message


def test_traffic_policy_cluster():
    assert traffic_policy_cluster({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"}}) == []
    assert traffic_policy_cluster({"spec": {"type": "LoadBalancer"}}) == []
    (message,) = traffic_policy_cluster({"metadata": {"name": "lb"},
                                         "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}})
    assert "'lb'" in message and "exclude-from-external-load-balancers" in message and "use Cluster" in message


SERVICE_DICT = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80.0, "targetPort": 80.0}]}}


def test_kubernetes_schema_valid_object_passes():
    assert kubernetes_schema_problems(SERVICE, SERVICE_DICT, {}) == []


def test_kubernetes_schema_unknown_field_is_named():
    bad = {**SERVICE_DICT, "spec": {**SERVICE_DICT["spec"], "externalTrafficPolcy": "Cluster"}}
    (message,) = kubernetes_schema_problems(SERVICE, bad, {"kubernetesVersion": "1.36.0"})
    assert "Service 'lb'" in message and "'externalTrafficPolcy' was unexpected" in message
    assert "object: spec: Additional properties are not allowed" in message


def test_kubernetes_schema_wrong_type_is_named_with_its_path():
    bad = {**SERVICE_DICT, "metadata": {"name": "lb", "annotations": {"x.example/n": 3}}}
    (message,) = kubernetes_schema_problems(SERVICE, bad, {})
    assert "metadata.annotations.x.example/n" in message


def test_kubernetes_schema_takes_kind_and_version_from_the_type_when_absent():
    props = {key: value for key, value in SERVICE_DICT.items() if key not in ("apiVersion", "kind")}
    assert kubernetes_schema_problems(SERVICE, props, {}) == []
    (message,) = kubernetes_schema_problems(STORAGE_CLASS, {"metadata": {"name": "sc"}}, {})
    assert "'provisioner' is a required property" in message


def test_kubernetes_schema_leaves_patches_and_custom_resources_alone():
    assert kubernetes_schema_problems("kubernetes:core/v1:ServicePatch", {"spec": {"bogus": 1}}, {}) == []
    assert kubernetes_schema_problems("kubernetes:example.com/v1:Widget", {"spec": {"bogus": 1}}, {}) == []


@pytest.mark.parametrize("version", ["1.36", "1.36.0", "1.36.3", "1.35.0"])
def test_known_kubernetes_versions(version):
    assert kubernetes_version_problem(version) is None


@pytest.mark.parametrize("version", ["v1.36.0", "1.99.0", "2.0", "1.36.0-rc1", 136, None])
def test_unknown_kubernetes_versions_are_named(version):
    assert f"kubernetesVersion = {version!r}" in kubernetes_version_problem(version)


# --- stack rules -----------------------------------------------------------------------

def test_rwx_claim_on_multiattach_type():
    good_type = Resource(VOLUME_TYPE, {"name": "mt", "extraSpecs": {"multiattach": "<is> True"}})
    assert rwx_claim_on_multiattach_type([good_type, cinder_class("mt"), claim(["ReadWriteMany"])], {}) == []
    assert rwx_claim_on_multiattach_type([cinder_class(), claim(["ReadWriteOnce"])], {}) == []
    rwx = claim(["ReadWriteMany"])
    ((message, urn),) = rwx_claim_on_multiattach_type([cinder_class(), rwx], {})
    assert urn == rwx.urn and "names no volume type" in message
    ((message, _),) = rwx_claim_on_multiattach_type([cinder_class("mt"), rwx], {})
    assert "'mt', which this stack does not declare" in message


def test_rwo_claim_on_one_node():
    tolerating = {"containers": [], "volumes": [{"persistentVolumeClaim": {"claimName": "claim1"}}],
                  "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule",
                                   "operator": "Exists"}]}
    workload = Resource(RC, rc(pod=tolerating, replicas=4))
    ((message, urn),) = rwo_claim_on_one_node([claim(["ReadWriteOnce"]), workload], {})
    assert urn == workload.urn and "Multi-Attach error" in message and "4 pods" in message
    together = {**tolerating, "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "server"}}}]}}}
    assert rwo_claim_on_one_node([claim(["ReadWriteOnce"]), Resource(RC, rc(pod=together, replicas=4))], {}) == []
    assert rwo_claim_on_one_node([claim(["ReadWriteMany"]), workload], {}) == []
    assert rwo_claim_on_one_node([claim(["ReadWriteOnce"]), Resource(RC, rc(pod=tolerating, replicas=1))], {}) == []


def test_load_balancer_selects_pods():
    service = Resource(SERVICE, {"metadata": {"name": "lb"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "lbserver"}, "ports": [{"port": 80, "targetPort": 80}]}})
    pods = Resource(RC, rc(labels={"app": "lbserver"}, pod={"containers": [nginx()]}))
    assert load_balancer_selects_pods([service, pods], {}) == []
    ((message, urn),) = load_balancer_selects_pods([service, Resource(RC, rc(pod={"containers": [nginx()]}))], {})
    assert urn == service.urn and "no workload of this stack" in message
    wrong_port = Resource(RC, rc(labels={"app": "lbserver"}, pod={"containers": [nginx(port=8080)]}))
    ((message, _),) = load_balancer_selects_pods([service, wrong_port], {})
    assert "targets 80" in message


def test_rwx_filesystem_corruption_risk():
    shared_ext4 = claim(["ReadWriteMany"])  # no volumeMode: Kubernetes defaults to Filesystem
    ((message, urn),) = rwx_filesystem_corruption_risk([cinder_class(), shared_ext4], {})
    assert urn == shared_ext4.urn and "ext4" in message and "volumeMode: Block" in message
    assert rwx_filesystem_corruption_risk([cinder_class(), claim(["ReadWriteMany"], volume_mode="Block")], {}) == []
    rwo_ext4 = claim(["ReadWriteOnce"], volume_mode="Filesystem")
    assert rwx_filesystem_corruption_risk([cinder_class(), rwo_ext4], {}) == []


# --- wrongly typed fields: the domain rules say nothing (kubernetes-schema-valid names the path) ---

TOLERATING = {"containers": [], "volumes": [{"persistentVolumeClaim": {"claimName": "claim1"}}],
              "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule",
                               "operator": "Exists"}]}


@pytest.mark.parametrize("replicas", ["eight", {"count": 8}, [8], True, 2.5, None])
def test_a_replica_count_that_is_not_a_count_is_not_guessed(replicas):
    # None (null) is unset, so 1 (SetDefaults_ReplicationController); the rest are the schema's to name.
    workload = Resource(RC, rc(pod=TOLERATING, replicas=replicas))
    assert rwo_claim_on_one_node([claim(["ReadWriteOnce"]), workload], {}) == []


def test_a_replica_count_as_the_engine_sends_it():
    workload = Resource(RC, rc(pod=TOLERATING, replicas=4.0))
    ((message, _),) = rwo_claim_on_one_node([claim(["ReadWriteOnce"]), workload], {})
    assert "runs 4 pods" in message


@pytest.mark.parametrize("bad", [{"a": "b"}, ["multiattach-type"], 1.5, None])
def test_unhashable_or_missing_names_in_the_rwx_chain(bad):
    good_type = Resource(VOLUME_TYPE, {"name": "mt", "extraSpecs": {"multiattach": "<is> True"}})
    for resources in (
        [Resource(VOLUME_TYPE, {"name": bad, "extraSpecs": {"multiattach": "<is> True"}}), cinder_class("mt"),
         claim(["ReadWriteMany"])],
        [good_type, cinder_class(bad), claim(["ReadWriteMany"])],
        [good_type, cinder_class("mt"), claim(["ReadWriteMany"], class_name=bad)],
        [good_type, cinder_class("mt"), claim(["ReadWriteMany", bad])],
        [good_type, Resource(STORAGE_CLASS, {"metadata": {"name": bad}, "provisioner": bad}), claim(bad)],
    ):
        for rule in (rwx_claim_on_multiattach_type, rwx_filesystem_corruption_risk, rwo_claim_on_one_node):
            for message, urn in rule(resources, {}):
                assert isinstance(message, str) and urn in {r.urn for r in resources}


def test_a_volume_type_named_by_a_map_is_not_the_declared_one():
    named_by_a_map = Resource(VOLUME_TYPE, {"name": {"a": "b"}, "extraSpecs": {"multiattach": "<is> True"}})
    ((message, _),) = rwx_claim_on_multiattach_type([named_by_a_map, cinder_class("mt"), claim(["ReadWriteMany"])],
                                                    {})
    assert "'mt', which this stack does not declare" in message


@pytest.mark.parametrize("provisioner", [1.5, {"name": "cinder"}, ["cinder.csi.openstack.org"], None, True])
def test_a_provisioner_that_is_not_a_string_is_the_schemas(provisioner):
    assert csi_provisioner({"metadata": {"name": "sc"}, "provisioner": provisioner}, {}) == []


@pytest.mark.parametrize("allowed", ["cinder.example", [1.5], [{"a": 1}], [""], 3])
def test_a_malformed_provisioner_config_is_named(allowed):
    (message,) = csi_provisioner({"provisioner": "cinder.example"}, {"allowedProvisioners": allowed})
    assert "policy config allowedProvisioners" in message and "not a list of StorageClass provisioner names" in message
    ((stack_message, urn),) = rwx_claim_on_multiattach_type([], {"allowedProvisioners": allowed})
    assert stack_message == message and urn is None


def test_an_empty_rc_selector_defaults_to_the_template_labels():
    assert selector_matches_template(RC, rc(selector={})) == []


@pytest.mark.parametrize("selector", ["app=server", ["app"], 3])
def test_a_selector_that_is_not_a_map_is_the_schemas(selector):
    assert selector_matches_template(RC, rc(selector=selector)) == []
    deployment = {"spec": {"selector": {"matchLabels": selector}, "template": {"metadata": {"labels": {"a": "b"}}}}}
    assert selector_matches_template("kubernetes:apps/v1:Deployment", deployment) == []


@pytest.mark.parametrize("image", [5, {"name": "nginx"}, ["nginx:1.27.4"]])
def test_an_image_that_is_not_a_string_is_the_schemas(image):
    assert images_pinned(RC, rc(pod={"containers": [nginx(image=image)]})) == []
    assert images_pinned(RC, rc(pod={"containers": ["nginx:latest", None, 3]})) == []


def test_a_null_limit_is_no_limit():
    (message,) = resource_limits(RC, rc(pod={"containers": [nginx(limits={"cpu": None, "memory": "64Mi"})]}))
    assert "has no cpu limit" in message


@pytest.mark.parametrize("value", ["True", "TRUE", "yes", True])
def test_only_lower_case_true_enables_the_health_monitor(value):
    # The cloud controller matches "true" exactly (getBoolFromServiceAnnotation), anything else is the default.
    service = {"metadata": {"name": "lb", "annotations": {"loadbalancer.openstack.org/enable-health-monitor": value}},
               "spec": {"type": "LoadBalancer"}}
    (message,) = health_monitor(service)
    assert "exactly, in lower case" in message


def test_target_ports_unset_or_wrongly_typed():
    pods = Resource(RC, rc(labels={"app": "lbserver"}, pod={"containers": [nginx()]}))

    def service(port) -> Resource:
        return Resource(SERVICE, {"metadata": {"name": "lb"}, "spec": {
            "type": "LoadBalancer", "selector": {"app": "lbserver"}, "ports": [port]}})

    assert load_balancer_selects_pods([service({"port": 80.0, "targetPort": None}), pods], {}) == []
    assert load_balancer_selects_pods([service({"port": 80, "targetPort": {"a": 1}}), pods], {}) == []
    ((message, _),) = load_balancer_selects_pods([service({"port": 81.0}), pods], {})
    assert "port 81 targets 81" in message
    assert load_balancer_selects_pods([Resource(SERVICE, {"spec": {"type": "LoadBalancer", "selector": "x"}}),
                                       pods], {}) == []


def test_an_unset_volume_mode_is_a_filesystem():
    null_mode = claim(["ReadWriteMany"])
    null_mode.props["spec"]["volumeMode"] = None  # null is unset: Kubernetes defaults it to Filesystem
    ((message, _),) = rwx_filesystem_corruption_risk([cinder_class(), null_mode], {})
    assert "ext4" in message
    assert rwx_filesystem_corruption_risk([cinder_class(), claim(["ReadWriteMany"], volume_mode=["Block"])], {}) == []


@pytest.mark.parametrize(("field", "value"), [("kind", 3), ("kind", "Pod"), ("apiVersion", {"v": 1})])
def test_kubernetes_schema_names_an_identity_that_contradicts_the_type(field, value):
    (message,) = kubernetes_schema_problems(SERVICE, {**SERVICE_DICT, field: value}, {})
    assert f"has {field} {value!r}" in message and "kubernetes:core/v1:Service" in message


@pytest.mark.parametrize("version", [{"v": "1.36"}, ["1.36"], 1.36, True])
def test_a_kubernetes_version_of_another_type_is_named(version):
    (message,) = kubernetes_schema_problems(SERVICE, SERVICE_DICT, {"kubernetesVersion": version})
    assert f"kubernetesVersion = {version!r}" in message


DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def deployment(selector: dict, labels=None) -> dict:
    return {"metadata": {"name": "web"}, "spec": {"selector": selector, "template": {
        "metadata": {"labels": {"app": "web", "tier": "front"} if labels is None else labels}}}}


@pytest.mark.parametrize("selector", [
    {"matchLabels": {"app": "web"}},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]},
    {"matchLabels": {"tier": "front"}, "matchExpressions": [{"key": "app", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]},
                          {"key": "canary", "operator": "DoesNotExist"}]},
])
def test_a_label_selector_with_expressions_that_select_the_template(selector):
    # LabelSelectorAsSelector (k8s.io/apimachinery pkg/apis/meta/v1/helpers.go): requirements are ANDed.
    assert selector_matches_template(DEPLOYMENT, deployment(selector)) == []


@pytest.mark.parametrize("selector", [
    {},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
    {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
    {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
    {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]},
])
def test_a_label_selector_that_misses_the_template(selector):
    (message,) = selector_matches_template(DEPLOYMENT, deployment(selector))
    assert "'web' selects" in message and "never own its pods" in message


@pytest.mark.parametrize("selector", [{"matchExpressions": "app in (web)"}, {"matchLabels": ["app"]}, "app=web"])
def test_a_malformed_label_selector_is_the_schemas(selector):
    assert selector_matches_template(DEPLOYMENT, deployment(selector)) == []


def test_pods_kept_together_by_an_expression_affinity():
    together = {**TOLERATING, "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname",
         "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["server"]}]}}]}}}
    assert rwo_claim_on_one_node([claim(["ReadWriteOnce"]), Resource(RC, rc(pod=together, replicas=4))], {}) == []
