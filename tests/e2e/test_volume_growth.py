"""Growing the claim of a live stack in the lab (issue 15, item 2): a bigger `volumeSizeGi` grows
the claim, the PV and the Cinder volume in place, through the lab's external-resizer, the CSI
driver's ControllerExpandVolume (Cinder's os-extend, 3.42 for an attached volume) and the
kubelets' NodeExpandVolume, while the storage pods keep running.

The user's sequence: `up`, `pulumi config set volumeSizeGi 2`, `preview`, `up`, `preview`. The
claim's `pulumi.com/waitFor` (components/storage.py) makes `up` return only once the claim's
capacity shows the new size, so everything is checked right after `up` returns, without waiting.
"""
from __future__ import annotations

import pytest
from conftest import config_set, lab_pulumi, planned_changes
from kubernetes import client
from test_deploy import cloud, kube

RUNNING_STORAGE_PODS = "app=server"


def running_storage_pods(api: client.ApiClient, namespace: str) -> dict[str, str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=RUNNING_STORAGE_PODS).items
    return {pod.metadata.name: pod.status.phase for pod in pods}


def grown_claim_events(api: client.ApiClient, claim: str, namespace: str) -> list[str]:
    events = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={claim}").items
    return [event.reason for event in events]


def succeeded(result: tuple[int, dict, str]) -> dict:
    code, document, stderr = result
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    return document


@pytest.mark.parametrize("stack, volume_mode", [("devstack", "Block"), ("devstack-single", "Filesystem")])
def test_a_bigger_volume_size_grows_claim_pv_and_cinder_volume_in_place(stack, volume_mode, project, engine_env):
    try:
        outputs = succeeded(lab_pulumi(project, engine_env, "up", "--stack", stack))["outputs"]
        api = kube(engine_env)
        core = client.CoreV1Api(api)
        claim_name, namespace = outputs["claimName"], outputs["namespace"]
        before = core.read_namespaced_persistent_volume_claim(claim_name, namespace)
        assert before.spec.volume_mode == volume_mode and before.status.capacity["storage"] == "1Gi"
        pods_before = running_storage_pods(api, namespace)
        assert pods_before and set(pods_before.values()) == {"Running"}, pods_before

        config_set(project, engine_env, stack, "volumeSizeGi", "2")
        preview = succeeded(lab_pulumi(project, engine_env, "preview", "--stack", stack))
        changed = {step["name"] for step in planned_changes(preview)}
        assert "storage-claim" in changed, preview["steps"]
        assert "server" not in changed, preview["steps"]  # the pods are not replaced for a bigger claim
        succeeded(lab_pulumi(project, engine_env, "up", "--stack", stack))

        # Right after `up`: no sleep, the chain must have finished.
        claim = core.read_namespaced_persistent_volume_claim(claim_name, namespace)
        assert claim.spec.resources.requests["storage"] == "2Gi"
        assert claim.status.capacity["storage"] == "2Gi"
        assert not [c.type for c in claim.status.conditions or []], claim.status.conditions
        assert not claim.status.allocated_resource_statuses, claim.status.allocated_resource_statuses
        pv = core.read_persistent_volume(claim.spec.volume_name)
        assert pv.spec.capacity["storage"] == "2Gi"
        volume = cloud(engine_env).block_storage.get_volume(pv.spec.csi.volume_handle)
        assert (volume.size, volume.status) == (2, "in-use")
        assert running_storage_pods(api, namespace) == pods_before  # the same pods, still running
        reasons = grown_claim_events(api, claim_name, namespace)
        assert {"Resizing", "FileSystemResizeRequired"} <= set(reasons), reasons

        after = succeeded(lab_pulumi(project, engine_env, "preview", "--stack", stack))
        assert planned_changes(after) == [], f"the preview after up still plans: {planned_changes(after)}"

        # A smaller size: refused by the preview, naming both sizes; nothing changes.
        config_set(project, engine_env, stack, "volumeSizeGi", "1")
        code, refused, stderr = lab_pulumi(project, engine_env, "up", "--stack", stack)
        assert code != 0 and not refused["succeeded"]
        assert "volumeSizeGi = 1 is smaller than the 2Gi" in refused["error"], refused["error"][-2000:]
        assert "Traceback" not in refused["error"], refused["error"][-2000:]
        assert [s for s in refused["steps"] if s["op"] not in ("same", "read")] == [], refused["steps"]
        claim = core.read_namespaced_persistent_volume_claim(claim_name, namespace)
        assert claim.spec.resources.requests["storage"] == "2Gi" and claim.status.capacity["storage"] == "2Gi"
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", stack)
