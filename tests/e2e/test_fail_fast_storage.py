"""`pulumi up` and the claim's Cinder volume (issue 16, part 2), in a devstack-profile lab: a volume
Cinder puts in `error` fails `up` within a minute, naming the claim, the volume, Cinder's user
message and the commands to look further; a burst of Cinder 503s, which the CSI provisioner
retries through, does not fail it. The claim's wait is components/claim_wait.py."""
from __future__ import annotations

import pytest
from conftest import converge, lab_pulumi
from storage_scenarios import claim_volumes, cloud_admin, lab_fault, volume_error_scenario
from test_deploy import leftovers

from lab.openstack.block_storage.volumes import NO_VALID_BACKEND_MESSAGE

DELAY_SCALE = 0.1  # the devstack profile: volumes in 2 s, pods in 9 s, the amphora in 24 s
STACK = "devstack-single"


@pytest.fixture(scope="module")
def devstack_lab(make_lab):
    return make_lab("fail-fast-storage", profile="devstack", delay_scale=DELAY_SCALE)


@pytest.fixture
def env(devstack_lab, tmp_path) -> dict[str, str]:
    state = tmp_path / "pulumi-state"
    state.mkdir()
    return {**devstack_lab.env(), "PULUMI_BACKEND_URL": f"file://{state}"}


def destroyed(project, env) -> None:
    code, document, stderr = lab_pulumi(project, env, "destroy", "--stack", STACK)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert leftovers(env) == []  # right after destroy returns


def test_a_claim_volume_in_error_fails_up_within_a_minute_naming_the_cause(project, env):
    run = volume_error_scenario(project, env, STACK)
    print(f"\n[fail fast] volume error -> exit {run.seconds_to_exit:.1f} s (up {run.seconds_up:.1f} s)")
    assert run.code != 0 and run.volume_id, run.error[-3000:]
    for part in ("claim devstack-single/claim1", run.volume_id, f'Cinder says: "{NO_VALID_BACKEND_MESSAGE}"',
                 f"openstack volume show {run.volume_id}"):
        assert part in run.error, (part, run.error[-3000:])
    assert 0 < run.seconds_to_exit < 60, run

    # destroy: a pod that tried to attach the volume left a VolumeAttachment cinder-csi cannot
    # detach while the volume is in error; destroy says so at once, and goes through once an admin
    # resets the volume's status.
    code, document, _ = lab_pulumi(project, env, "destroy", "--stack", STACK)
    if code != 0:
        assert "cannot be detached" in document["error"] and run.volume_id in document["error"], \
            document["error"][-3000:]
    conn = cloud_admin(env)
    if (volume := conn.block_storage.find_volume(run.volume_id, ignore_missing=True)) is not None:
        conn.block_storage.reset_volume_status(volume, status="available", attach_status=None, migration_status=None)
    destroyed(project, env)


def test_a_burst_of_cinder_503s_during_up_does_not_fail_it(project, env):
    try:
        lab_fault(env, "cinder_errors", {"count": 6})
        document = converge(project, env, STACK)
        # every 503 was served (the CSI driver's and the wait's calls), and retried through
        assert lab_fault(env, "cinder_errors", {"count": 0})["cinder_errors"]["previous_still_to_come"] == 0
        assert [v.status for v in claim_volumes(env, "claim1")] == ["in-use"]
        messages = [d["message"] for d in document["diagnostics"]]
        assert any("claim devstack-single/claim1 is Bound with 1Gi" in m for m in messages), messages
    finally:
        lab_fault(env, "cinder_errors", {"count": 0})
        destroyed(project, env)
