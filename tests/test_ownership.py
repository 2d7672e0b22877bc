"""The preflight: what a stack refuses (another stack's objects, a smaller volume) before registering anything."""

from __future__ import annotations

import pytest
from harness import CSI_DRIVER_FOUND, ORGANIZATION, PROJECT, ProgramFailed, run_program

from components.ownership import (
    LiveObject,
    ObjectRef,
    Plan,
    preflight,
    volume_type_description,
    volume_type_owner,
)

ME = f"{ORGANIZATION}/{PROJECT}/devstack"
OTHER = f"{ORGANIZATION}/{PROJECT}/staging"
CLAIM = ObjectRef("PersistentVolumeClaim", "claim1", "default")
CLASS = ObjectRef("StorageClass", "csi-sc-cinderplugin")
PLAN = Plan(identity=ME, objects=(CLASS, CLAIM, ObjectRef("Service", "lb-webserver", "default"),
                                  ObjectRef("VolumeType", "multiattach-type")),
            namespace="default", apps=("server", "lbserver"), claim=CLAIM, volume_size_gi=2)


def test_nothing_found_nothing_said():
    findings = preflight(PLAN, [])
    assert findings.problems == [] and findings.warnings == []


CSI_DRIVER = ObjectRef("CSIDriver", "cinder.csi.openstack.org")
NEEDS_CSI = Plan(identity=ME, objects=PLAN.objects, namespace="default", apps=PLAN.apps, claim=CLAIM,
                 volume_size_gi=2, required=(CSI_DRIVER,))


def test_a_cluster_without_the_cinder_csi_driver_is_refused_with_the_way_to_check():
    (problem,) = preflight(NEEDS_CSI, [LiveObject(CLASS, ME)]).problems
    assert "CSIDriver cinder.csi.openstack.org is not in the cluster" in problem
    assert "kubectl get csidrivers" in problem
    assert preflight(NEEDS_CSI, [LiveObject(CSI_DRIVER, None)]).problems == []
    assert preflight(NEEDS_CSI, [LiveObject(CSI_DRIVER, None)]).warnings == [], "nobody owns the driver: no adoption"


def test_our_own_objects_are_fine():
    live = [LiveObject(CLASS, ME), LiveObject(CLAIM, ME, requested_gi=2.0),
            LiveObject(ObjectRef("ReplicationController", "server-1", "default"), ME, app="server")]
    assert preflight(PLAN, live).problems == []


@pytest.mark.parametrize("found", [CLASS, CLAIM, ObjectRef("VolumeType", "multiattach-type")], ids=str)
def test_another_stacks_object_of_one_of_our_names_is_refused_with_the_way_out(found):
    (problem,) = preflight(PLAN, [LiveObject(found, OTHER)]).problems
    assert str(found) in problem and OTHER in problem
    assert "namespace" in problem and "storageClassName" in problem and "Pulumi.devstack-single.yaml" in problem


def test_another_stacks_pods_of_our_apps_in_our_namespace_are_refused():
    found = LiveObject(ObjectRef("ReplicationController", "lbserver-abc", "default"), OTHER, app="lbserver")
    (problem,) = preflight(PLAN, [found]).problems
    assert "app=lbserver" in problem and "would balance them too" in problem


def test_an_object_without_an_owner_is_a_warning_not_a_refusal():
    findings = preflight(PLAN, [LiveObject(CLASS, None)])
    assert findings.problems == []
    (warning,) = findings.warnings
    assert "StorageClass csi-sc-cinderplugin" in warning and "Adopting" in warning


def test_an_unowned_namespace_is_never_taken_over():
    namespace = ObjectRef("Namespace", "team")
    plan = Plan(identity=ME, objects=(namespace,), namespace="team", apps=("server",), claim=CLAIM,
                volume_size_gi=1)
    (problem,) = preflight(plan, [LiveObject(namespace, None)]).problems
    assert "createNamespace false" in problem


@pytest.mark.parametrize("owner", [ME, None], ids=["ours", "unannotated"])
def test_a_smaller_volume_is_refused_naming_both_sizes(owner):
    problems = preflight(PLAN, [LiveObject(CLAIM, owner, requested_gi=5.0)]).problems
    (problem,) = [p for p in problems if "cannot shrink" in p]
    assert "volumeSizeGi = 2" in problem and "5Gi" in problem and "set volumeSizeGi to 5 or more" in problem


def test_the_same_or_a_bigger_volume_passes():
    assert preflight(PLAN, [LiveObject(CLAIM, ME, requested_gi=2.0)]).problems == []
    assert preflight(PLAN, [LiveObject(CLAIM, ME, requested_gi=1.0)]).problems == []


def test_the_volume_types_owner_round_trips_through_its_description():
    assert volume_type_owner(volume_type_description(ME)) == ME
    assert volume_type_owner("Cinder volumes that several Kubernetes nodes can attach at once") is None
    assert volume_type_owner(None) is None


# --- through the program: refused before anything is registered --------------------------

def test_the_program_refuses_another_stacks_class_and_registers_nothing():
    live = [CSI_DRIVER_FOUND, LiveObject(ObjectRef("StorageClass", "csi-sc-cinderplugin"), OTHER)]
    with pytest.raises(ProgramFailed) as failed:
        run_program("devstack", True, live=live)
    assert "StorageClass csi-sc-cinderplugin belongs to the Pulumi stack" in str(failed.value.error)
    assert failed.value.registrations == []


def test_the_program_refuses_a_smaller_volume_and_registers_nothing():
    live = [CSI_DRIVER_FOUND, LiveObject(ObjectRef("PersistentVolumeClaim", "claim1", "default"), ME, requested_gi=3.0)]
    with pytest.raises(ProgramFailed) as failed:
        run_program("devstack", True, {"volumeSizeGi": 2}, live=live)
    assert "volumeSizeGi = 2 is smaller than the 3Gi" in str(failed.value.error)
    assert failed.value.registrations == []


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
def test_the_program_refuses_a_cluster_without_the_cinder_csi_driver_and_registers_nothing(stack):
    with pytest.raises(ProgramFailed) as failed:
        run_program(stack, True, live=[])
    assert "CSIDriver cinder.csi.openstack.org is not in the cluster" in str(failed.value.error)
    assert failed.value.registrations == []


def test_the_program_names_its_stack_on_what_it_makes(any_stack):
    identity = f"{ORGANIZATION}/{PROJECT}/{any_stack.stack}"
    for registration in any_stack.registrations:
        if registration.type.startswith("kubernetes:") and registration.read_id is None:
            assert registration.inputs["metadata"]["annotations"]["devstack-k8s-apps/stack"] == identity
    for registration in any_stack.registrations:
        if registration.type == "openstack:blockstorage/volumeTypeV3:VolumeTypeV3":
            assert volume_type_owner(registration.inputs["description"]) == identity


def test_the_stacks_values_win_over_hand_edits_on_every_object(any_stack):
    """`kubectl scale` takes spec.replicas over: the repairing up must force it back, not conflict."""
    for registration in any_stack.registrations:
        if registration.type.startswith("kubernetes:") and registration.read_id is None:
            assert registration.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
