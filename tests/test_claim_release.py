"""The destroy-time wait of the claim (components/claim_release.py): decisions and loop, no cluster."""
from __future__ import annotations

import pytest

from components.claim_release import (
    DONE,
    FAILED,
    WAITING,
    ClaimReleaseError,
    Leftover,
    decide_release,
    leftovers_of,
    wait_for_claim_release,
)
from components.storage_reads import CinderVolume, Event
from components.volume_release import TransientError


def pv(name="pvc-u1", phase="Released", policy="Delete", handle="v1") -> dict:
    return {"metadata": {"name": name}, "status": {"phase": phase},
            "spec": {"persistent_volume_reclaim_policy": policy, "csi": {"volume_handle": handle}}}


def test_leftovers_carry_the_pvs_failed_deletes_and_the_cinder_volumes():
    events = {"pvc-u1": [Event("Warning", "VolumeFailedDelete", "rpc error: DeleteVolume failed"),
                         Event("Normal", "Other", "x")]}
    left = leftovers_of([pv()], events, [CinderVolume("v1", "pvc-u1", "available")])
    assert left[0] == Leftover("pv", "pvc-u1", "Released", "v1", "Delete", ("rpc error: DeleteVolume failed",))
    assert left[1] == Leftover("volume", "pvc-u1", "available", "v1")


def test_nothing_left_is_done_and_a_pending_delete_waits():
    assert decide_release([])[0] == DONE
    verdict, detail = decide_release(leftovers_of([pv()], {}, [CinderVolume("v1", "pvc-u1", "deleting")]))
    assert verdict == WAITING and "pvc-u1" in detail and "deleting" in detail


def test_error_deleting_and_retain_fail_at_once_saying_so():
    verdict, detail = decide_release([Leftover("volume", "pvc-u1", "error_deleting", "v1")])
    assert verdict == FAILED and "error_deleting" in detail and "openstack volume show v1" in detail
    verdict, detail = decide_release(leftovers_of([pv(policy="Retain")], {}, []))
    assert verdict == FAILED and "reclaimPolicy Retain" in detail and "kubectl delete pv pvc-u1" in detail
    assert "after" not in detail  # not a timeout


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def wait(observations, timeout=30.0):
    clock, lines = Clock(), []
    feed = iter(observations)

    def observe():
        item = next(feed)
        if isinstance(item, Exception):
            raise item
        return item

    return wait_for_claim_release(observe, "ns/claim1", timeout, log=lines.append, sleep=clock.sleep,
                                  clock=clock), lines, clock.now


def test_the_loop_waits_with_progress_through_transient_errors_until_nothing_is_left():
    polls, lines, _ = wait([[Leftover("pv", "pvc-u1", "Released", "v1", "Delete")], TransientError("HTTP 503"),
                            [Leftover("volume", "pvc-u1", "deleting", "v1")], []])
    assert polls == 4
    assert any("PersistentVolume pvc-u1" in line for line in lines) and "no PersistentVolume" in lines[-1]


@pytest.mark.parametrize("left, cause", [
    (Leftover("pv", "pvc-u1", "Released", "v1", "Delete"), "Cinder CSI controller (its external-provisioner) is not"),
    (Leftover("pv", "pvc-u1", "Released", "v1", "Delete", ("DeleteVolume failed with error 500",)),
     "delete keeps failing: DeleteVolume failed with error 500"),
    (Leftover("volume", "pvc-u1", "deleting", "v1"), "Cinder is still deleting it"),
])
def test_at_the_bound_it_fails_naming_what_remains_and_why(left, cause):
    with pytest.raises(ClaimReleaseError) as error:
        wait([[left]] * 100, timeout=30.0)
    assert "after 30s still left" in str(error.value) and cause in str(error.value)


def test_error_deleting_ends_the_wait_at_once():
    with pytest.raises(ClaimReleaseError) as error:
        wait([[Leftover("volume", "pvc-u1", "deleting", "v1")], [Leftover("volume", "pvc-u1", "error_deleting", "v1")]])
    assert "error_deleting" in str(error.value) and "still left" not in str(error.value)


def attachment(detach_error: str | None) -> dict:
    return {"metadata": {"name": "csi-1"},
            "spec": {"node_name": "worker1", "source": {"persistent_volume_name": "pvc-u1"}},
            "status": {"detach_error": {"message": detach_error} if detach_error else None}}


def test_an_attachment_the_driver_cannot_detach_from_a_volume_in_error_fails_at_once():
    refusal = "can not detach volume pvc-u1, its status is error"
    left = leftovers_of([pv(phase="Released")], {}, [CinderVolume("v1", "pvc-u1", "error")], [attachment(refusal)])
    assert left[0] == Leftover("attachment", "csi-1", "worker1", "v1", detach_error=refusal)
    verdict, detail = decide_release(left)
    assert verdict == FAILED and "VolumeAttachment csi-1" in detail and refusal in detail
    assert "openstack volume set --state available v1" in detail
    # the same refusal while Cinder is still detaching the volume (another node's detach) waits
    busy = leftovers_of([pv()], {}, [CinderVolume("v1", "pvc-u1", "detaching")], [attachment("busy")])
    assert decide_release(busy)[0] == WAITING


def test_the_loop_polls_every_second_and_logs_a_state_once_until_it_changes():
    deleting = [Leftover("volume", "pvc-u1", "deleting", "v1")]
    polls, lines, elapsed = wait([deleting] * 5 + [[]])
    assert polls == 6 and elapsed == 5.0  # done within a second of the volume's deletion
    assert len([line for line in lines if "deleting" in line]) == 1, lines
