"""Each policy of the pack over the program's own resources: the stacks comply, and each
rule's violation, made in those resources, draws its message (test_policy_rules.py tests
each rule on a small dict)."""

from __future__ import annotations

import pytest
from devstack_policies import POLICIES
from harness import STACKS, run_program
from policy_harness import check, find, mandatory, stack_resources

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
RC = "kubernetes:core/v1:ReplicationController"
SERVICE = "kubernetes:core/v1:Service"


def resources_of(stack: str = "devstack", preview: bool = True, **overrides):
    return stack_resources(run_program(stack, preview, overrides))


def messages(violations, policy: str) -> list[str]:
    return [v.message for v in violations if v.policy == policy]


def pod(resources, app: str = "server"):
    return find(resources, RC, app).props["spec"]["template"]["spec"]


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "update"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_every_mandatory_policy(stack, preview):
    violations = check(resources_of(stack, preview))
    assert mandatory(violations) == []
    # Only the health monitor is left to the user (it needs the cloud's OCCM config in mind).
    assert {v.policy for v in violations} == {"load-balancer-health-monitor"}


def test_policy_names_are_unique_and_described():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 12
    assert all(p.description for p in POLICIES)


# 1. multiattach extra spec
@pytest.mark.parametrize("specs", [{"multiattach": "<is> true"}, {"multiattach": "True"},
                                   {"multiattach": "<is>True"}, {"Multiattach": "<is> True"}])
def test_malformed_multiattach_spec_is_rejected(specs):
    resources = resources_of()
    find(resources, VOLUME_TYPE).props["extraSpecs"] = specs
    (message,) = messages(check(resources), "cinder-multiattach-extra-spec")
    assert 'multiattach="<is> True"' in message and "capital T" in message


def test_volume_type_without_multiattach_spec_is_not_this_rules_business():
    resources = resources_of()
    find(resources, VOLUME_TYPE).props["extraSpecs"] = {"volume_backend_name": "lvmdriver-1"}
    assert messages(check(resources), "cinder-multiattach-extra-spec") == []


# 2. CSI provisioner
def test_in_tree_cinder_provisioner_is_rejected():
    resources = resources_of()
    find(resources, STORAGE_CLASS).props["provisioner"] = "kubernetes.io/cinder"
    (message,) = messages(check(resources), "cinder-csi-provisioner")
    assert "retired in-tree" in message and "cinder.csi.openstack.org" in message


def test_allowed_provisioners_come_from_policy_config():
    resources = resources_of()
    find(resources, STORAGE_CLASS).props["provisioner"] = "cinder.csi.example.com"
    assert messages(check(resources), "cinder-csi-provisioner")
    config = {"cinder-csi-provisioner": {"allowedProvisioners": ["cinder.csi.openstack.org", "cinder.csi.example.com"]}}
    assert messages(check(resources, config), "cinder-csi-provisioner") == []


def test_non_cinder_provisioners_are_left_alone():
    resources = resources_of("devstack-single")
    find(resources, STORAGE_CLASS).props["provisioner"] = "nfs.csi.k8s.io"
    assert messages(check(resources), "cinder-csi-provisioner") == []


# 3. ReadWriteMany needs a multi-attach type declared in the stack
def test_rwx_claim_on_a_type_without_the_spec():
    resources = resources_of()
    find(resources, VOLUME_TYPE).props["extraSpecs"] = {}
    (message,) = messages(check(resources), "rwx-claim-on-multiattach-type")
    assert "claim 'claim1' is ReadWriteMany" in message and "multiattach spec is None" in message


def test_rwx_claim_on_an_undeclared_type():
    resources = [r for r in resources_of() if r.resource_type != VOLUME_TYPE]
    (message,) = messages(check(resources), "rwx-claim-on-multiattach-type")
    assert "'multiattach-type', which this stack does not declare" in message


def test_rwx_claim_on_the_default_type():
    resources = resources_of("devstack-single")
    find(resources, CLAIM).props["spec"]["accessModes"] = ["ReadWriteMany"]
    (message,) = messages(check(resources), "rwx-claim-on-multiattach-type")
    assert "names no volume type" in message and "default (single-attach)" in message


# 4. the article's Multi-Attach error
def test_program_keeps_single_attach_pods_together_even_on_the_control_plane():
    resources = resources_of("devstack-single", scheduleOnControlPlane=True, serverReplicas=4)
    assert messages(check(resources), "rwo-claim-on-one-node") == []


def test_rwo_claim_with_control_plane_tolerations_hangs():
    resources = resources_of("devstack-single", scheduleOnControlPlane=True, serverReplicas=4)
    del pod(resources)["affinity"]
    (message,) = messages(check(resources), "rwo-claim-on-one-node")
    assert "tolerates the control-plane taint" in message and "Multi-Attach error" in message
    assert "4 pods" in message and "'claim1'" in message


def test_rwo_claim_with_spread_over_hosts_hangs():
    resources = resources_of("devstack-single")
    spec = pod(resources)
    del spec["affinity"]
    spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                          "whenUnsatisfiable": "DoNotSchedule",
                                          "labelSelector": {"matchLabels": {"app": "server"}}}]
    (message,) = messages(check(resources), "rwo-claim-on-one-node")
    assert "spreads over hosts" in message


def test_one_replica_on_a_rwo_claim_is_fine():
    resources = resources_of("devstack-single", scheduleOnControlPlane=True, serverReplicas=1)
    del pod(resources)["affinity"]
    assert messages(check(resources), "rwo-claim-on-one-node") == []


# 5. selector matches template
def test_selector_not_matching_template_labels():
    resources = resources_of()
    find(resources, RC, "server").props["spec"]["selector"] = {"app": "lbserver"}
    (message,) = messages(check(resources), "workload-selector-matches-template")
    assert "selects {'app': 'lbserver'}" in message and "{'app': 'server', 'pod-template-hash'" in message


# 6. the LoadBalancer reaches the pods
def test_service_selecting_no_pods():
    resources = resources_of()
    find(resources, SERVICE).props["spec"]["selector"] = {"app": "webserver"}
    (message,) = messages(check(resources), "load-balancer-selects-workload-pods")
    assert "no workload of this stack" in message


def test_service_targeting_a_port_the_pods_do_not_expose():
    resources = resources_of()
    find(resources, SERVICE).props["spec"]["ports"][0]["targetPort"] = 8080
    (message,) = messages(check(resources), "load-balancer-selects-workload-pods")
    assert "targets 8080" in message


def test_service_targeting_a_named_port_is_fine():
    resources = resources_of()
    find(resources, SERVICE).props["spec"]["ports"][0]["targetPort"] = "http"
    assert messages(check(resources), "load-balancer-selects-workload-pods") == []


# 7. pinned images
@pytest.mark.parametrize("image", ["nginx", "nginx:latest", "docker.io/library/nginx"])
def test_unpinned_image(image):
    resources = resources_of()
    pod(resources)["containers"][0]["image"] = image
    (message,) = messages(check(resources), "image-pinned")
    assert repr(image) in message and "pin a tag" in message


def test_digest_pinned_image_is_fine():
    resources = resources_of()
    pod(resources)["containers"][0]["image"] = "nginx@sha256:" + "0" * 64
    assert messages(check(resources), "image-pinned") == []


# 8. advisories
def test_missing_limits_is_advisory():
    resources = resources_of()
    del pod(resources)["containers"][0]["resources"]["limits"]
    violations = [v for v in check(resources) if v.policy == "container-resource-limits"]
    assert len(violations) == 1 and not violations[0].mandatory
    assert "no cpu or memory limit" in violations[0].message


def test_health_monitor_annotation_silences_the_advisory():
    annotations = {"loadbalancer.openstack.org/enable-health-monitor": "true"}
    resources = resources_of(loadBalancerAnnotations=annotations)
    assert messages(check(resources), "load-balancer-health-monitor") == []


def test_filesystem_on_the_multiattach_claim_draws_the_corruption_advisory():
    violations = [v for v in check(resources_of(volumeMode="Filesystem"))
                  if v.policy == "rwx-filesystem-corruption-risk"]
    assert len(violations) == 1 and not violations[0].mandatory
    assert "claim 'claim1'" in violations[0].message and "volumeMode: Block" in violations[0].message


def test_block_mode_silences_the_corruption_advisory():
    assert messages(check(resources_of(volumeMode="Block")), "rwx-filesystem-corruption-risk") == []


# 9. strict schemas and Octavia's traffic policy
def test_an_unknown_field_in_a_declared_object_is_a_mandatory_violation():
    resources = resources_of()
    pod(resources, "lbserver")["topology_spread_constraints"] = []
    violations = [v for v in check(resources) if v.policy == "kubernetes-schema-valid"]
    assert len(violations) == 1 and violations[0].mandatory
    assert "'topology_spread_constraints' was unexpected" in violations[0].message
    assert "'lbserver-" in violations[0].message


def test_the_schema_version_comes_from_policy_config():
    config = {"kubernetes-schema-valid": {"kubernetesVersion": "1.99"}}
    found = messages(check(resources_of(), config), "kubernetes-schema-valid")
    assert found and all("kubernetesVersion = '1.99'" in message for message in found)


def test_local_traffic_policy_is_advisory():
    resources = resources_of()
    find(resources, SERVICE).props["spec"]["externalTrafficPolicy"] = "Local"
    violations = [v for v in check(resources) if v.policy == "load-balancer-traffic-policy-cluster"]
    assert len(violations) == 1 and not violations[0].mandatory
    assert "node.kubernetes.io/exclude-from-external-load-balancers" in violations[0].message


# 10. wrongly typed inputs: a policy message, never an exception (issue 16)
def test_a_word_for_the_replica_count_is_named_by_the_schema_policy_alone():
    resources = resources_of("devstack-single", scheduleOnControlPlane=True)
    del pod(resources)["affinity"]  # the Multi-Attach error case, where the count matters
    find(resources, RC, "server").props["spec"]["replicas"] = "eight"
    violations = check(resources)
    assert {v.policy for v in mandatory(violations)} == {"kubernetes-schema-valid"}
    (message,) = messages(violations, "kubernetes-schema-valid")
    assert "'server-" in message and "spec.replicas: 'eight' is not of type 'integer'" in message


@pytest.mark.parametrize(("resource_type", "path", "value", "expected"), [
    # No longer a Cinder class: the claim's class is none of the Cinder rules' business.
    (STORAGE_CLASS, ("provisioner",), 1.5, {"kubernetes-schema-valid"}),
    (STORAGE_CLASS, ("provisioner",), {"name": "cinder.csi.openstack.org"}, {"kubernetes-schema-valid"}),
    (STORAGE_CLASS, ("parameters", "type"), {"name": "multiattach-type"}, {"kubernetes-schema-valid"}),
    (VOLUME_TYPE, ("name",), {"name": "multiattach-type"}, {"rwx-claim-on-multiattach-type"}),
    (CLAIM, ("spec", "storageClassName"), {"name": "csi-sc-cinderplugin"}, {"kubernetes-schema-valid"}),
    (CLAIM, ("spec", "accessModes"), [{"mode": "ReadWriteMany"}], {"kubernetes-schema-valid"}),
    (SERVICE, ("spec", "ports", 0, "targetPort"), [80], {"kubernetes-schema-valid"}),
])
def test_a_value_of_another_type_draws_messages_not_exceptions(resource_type, path, value, expected):
    resources = resources_of()
    parent = find(resources, resource_type).props
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    violations = check(resources)
    assert {v.policy for v in mandatory(violations)} == expected
    assert all(isinstance(v.message, str) and "\n" not in v.message for v in violations)
