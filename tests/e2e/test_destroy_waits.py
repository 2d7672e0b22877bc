"""`pulumi destroy` returns when nothing of the stack is left (issue 16, part 3), in a
devstack-profile lab: on each shipped stack, Kubernetes (no PV, no claim), Cinder (no volume of
the claim) and Octavia are checked right after `destroy` returns, with no sleep; a PV kept by
reclaimPolicy Retain, a Cinder delete that ends in `error_deleting` and a stopped CSI controller
make destroy fail naming what remains. The wait is components/claim_release.py."""
from __future__ import annotations

import pytest
from conftest import config_set, lab_pulumi
from kubernetes import client
from storage_scenarios import claim_volumes, cloud_admin, lab_fault
from test_deploy import claim_volume_id, kube, leftovers

DELAY_SCALE = 0.1  # the devstack profile: Cinder deletes in 2 s, Octavia in 1 s


@pytest.fixture(scope="module")
def devstack_lab(make_lab):
    return make_lab("destroy-waits", profile="devstack", delay_scale=DELAY_SCALE)


@pytest.fixture
def env(devstack_lab, tmp_path) -> dict[str, str]:
    state = tmp_path / "pulumi-state"
    state.mkdir()
    return {**devstack_lab.env(), "PULUMI_BACKEND_URL": f"file://{state}"}


def up(project, env, stack: str) -> dict:
    code, document, stderr = lab_pulumi(project, env, "up", "--stack", stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    return document["outputs"]


def destroy(project, env, stack: str) -> tuple[int, dict, str]:
    return lab_pulumi(project, env, "destroy", "--stack", stack)


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
def test_destroy_returns_when_the_pv_the_cinder_volume_and_the_load_balancer_are_gone(stack, project, env):
    outputs = up(project, env, stack)
    code, document, stderr = destroy(project, env, stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert leftovers(env) == []  # no sleep: PVs, claims, Cinder volumes, Octavia, floating IPs
    claim = f"claim {outputs['namespace']}/{outputs['claimName']}"
    said = [d["message"] for d in document["diagnostics"] if claim in d["message"]]
    print(f"\n[destroy {stack}] " + " | ".join(said))
    assert any(f"{claim}: no PersistentVolume and no Cinder volume" in m for m in said), said


def test_retain_then_error_deleting_fail_destroy_naming_what_remains(project, env):
    stack = "devstack-single"
    outputs = up(project, env, stack)
    api = kube(env)
    core = client.CoreV1Api(api)
    volume_id = claim_volume_id(api, outputs["claimName"], outputs["namespace"])
    pv_name = core.read_namespaced_persistent_volume_claim(outputs["claimName"], outputs["namespace"]).spec.volume_name
    try:
        core.patch_persistent_volume(pv_name, {"spec": {"persistentVolumeReclaimPolicy": "Retain"}})
        code, document, _ = destroy(project, env, stack)
        assert code != 0
        assert f"PersistentVolume {pv_name} has reclaimPolicy Retain" in document["error"], document["error"][-3000:]
        assert "after" not in document["error"].split("reclaimPolicy Retain")[1][:200]  # said at once, no timeout

        lab_fault(env, "volume_delete", {"ends_in": "error_deleting"})
        core.patch_persistent_volume(pv_name, {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})
        code, document, _ = destroy(project, env, stack)
        assert code != 0
        assert f"Cinder failed to delete volume {volume_id}" in document["error"], document["error"][-3000:]
        assert "error_deleting" in document["error"]
        assert [v.status for v in claim_volumes(env, outputs["claimName"])] == ["error_deleting"]
    finally:
        lab_fault(env, "volume_delete", {"ends_in": "deleted"})
    # What an admin does once the backend is fixed; then destroy finishes.
    conn = cloud_admin(env)
    volume = conn.block_storage.get_volume(volume_id)
    conn.block_storage.reset_volume_status(volume, status="available", attach_status=None, migration_status=None)
    conn.block_storage.delete_volume(volume_id)
    code, document, stderr = destroy(project, env, stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert leftovers(env) == []


def test_a_stopped_csi_controller_fails_destroy_naming_the_released_pv(devstack_lab, project, env):
    stack = "devstack-single"
    up(project, env, stack)
    config_set(project, env, stack, "volumeReleaseTimeoutMinutes", "1")  # the stack exists now
    outputs = up(project, env, stack)  # the release step takes the new bound
    pv_name = client.CoreV1Api(kube(env)).read_namespaced_persistent_volume_claim(
        outputs["claimName"], outputs["namespace"]).spec.volume_name
    devstack_lab.stop_part("cinder-csi")
    try:
        code, document, _ = destroy(project, env, stack)
        assert code != 0
        error = document["error"]
        assert "after 60s still left" in error and f"PersistentVolume {pv_name} (Released" in error, error[-3000:]
        assert "Cinder CSI controller (its external-provisioner) is not answering" in error, error[-3000:]
    finally:
        devstack_lab.restart("cinder-csi")
    code, document, stderr = destroy(project, env, stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert leftovers(env) == []
