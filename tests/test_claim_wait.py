"""The claim's wait (components/claim_wait.py): its decisions and its loop, with no cluster."""
from __future__ import annotations

import pytest

from components.claim_wait import (
    FAILED,
    POLL_SECONDS,
    READY,
    WAITING,
    ClaimFailed,
    ClaimState,
    ClaimWaitTimeout,
    changed_inputs,
    decide,
    wait_for_claim,
)
from components.volume_release import TransientError

NO_BACKEND = "schedule allocate volume:Could not find any available weighted backend."


def claim(phase: str = "Bound", capacity: str | None = "1Gi") -> dict:
    return {"metadata": {"uid": "u1"}, "spec": {"volume_name": "pvc-u1"},
            "status": {"phase": phase, "capacity": {"storage": capacity} if capacity else None}}


def test_a_bound_claim_of_the_asked_size_on_a_usable_volume_is_ready():
    for status in ("available", "in-use"):
        verdict, detail = decide(ClaimState(claim(), "v1", status), "ns", "claim1", 1)
        assert verdict == READY and "v1" in detail


def test_a_volume_in_error_fails_naming_the_claim_the_volume_cinders_words_and_the_commands():
    state = ClaimState(claim(), "v1", "error", (NO_BACKEND,), ("FailedAttachVolume: attach refused",))
    verdict, detail = decide(state, "ns", "claim1", 1)
    assert verdict == FAILED
    for part in ("claim ns/claim1", "v1", f'Cinder says: "{NO_BACKEND}"', "`openstack volume show v1`",
                 "volume message list", "kubectl describe pvc claim1 -n ns", "FailedAttachVolume"):
        assert part in detail, part
    # even before the claim binds (the PV names the volume): error_extending too
    assert decide(ClaimState(claim("Pending", None), "v1", "error_extending"), "ns", "c", 1)[0] == FAILED


def test_pending_resizing_creating_and_unread_volumes_wait():
    pending = ClaimState(claim("Pending", None), warnings=("ProvisioningFailed: HTTP 503",))
    verdict, detail = decide(pending, "ns", "c", 1)
    assert verdict == WAITING and "Pending" in detail and "HTTP 503" in detail  # retried by the provisioner
    assert decide(ClaimState(claim(capacity="1Gi"), "v1", "in-use"), "ns", "c", 2)[0] == WAITING
    assert decide(ClaimState(claim(), "v1", "creating"), "ns", "c", 1)[0] == WAITING
    assert decide(ClaimState(claim(), None, None), "ns", "c", 1)[0] == WAITING
    assert decide(ClaimState(None), "ns", "c", 1)[0] == WAITING
    # 1024Mi is 1Gi
    assert decide(ClaimState(claim(capacity="1024Mi"), "v1", "available"), "ns", "c", 1)[0] == READY


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(states, timeout=60.0, others_failed=lambda: False):
    clock, failures, lines = Clock(), [], []
    feed = iter(states)

    def observe():
        state = next(feed)
        if isinstance(state, Exception):
            raise state
        return state

    try:
        return wait_for_claim(observe, "ns", "c", 1, timeout, log=lines.append, sleep=clock.sleep, clock=clock,
                              others_failed=others_failed, on_failure=lambda: failures.append(clock.now)), \
            failures, lines
    except ClaimFailed as error:
        return error, failures, lines


def test_the_loop_retries_transient_reads_and_returns_when_ready():
    result, failures, lines = run([TransientError("HTTP 503"), ClaimState(claim("Pending", None)),
                                   ClaimState(claim(), "v1", "available")])
    assert isinstance(result, str) and "Bound" in result and failures == []
    assert any("HTTP 503" in line for line in lines) and any("Pending" in line for line in lines)


def test_the_loop_fails_at_the_first_error_and_tells_the_other_waits():
    result, failures, _ = run([ClaimState(claim("Pending", None)), ClaimState(claim(), "v1", "error", (NO_BACKEND,))])
    assert isinstance(result, ClaimFailed) and not isinstance(result, ClaimWaitTimeout)
    assert NO_BACKEND in str(result) and failures == [POLL_SECONDS]  # one poll after the first look


def test_the_loop_is_bounded_and_stops_when_another_wait_failed():
    result, failures, _ = run([ClaimState(claim("Pending", None))] * 100, timeout=10.0)
    assert isinstance(result, ClaimWaitTimeout) and "after 10s" in str(result) and failures == [10.0]
    result, failures, _ = run([ClaimState(claim("Pending", None))], others_failed=lambda: True)
    assert isinstance(result, ClaimFailed) and "another wait" in str(result) and failures == []


def test_a_new_size_or_a_replaced_claim_is_a_change_and_nothing_else_is():
    olds = {"namespace": "ns", "claim_name": "c", "claim_uid": "u1", "size_gi": 1, "admin_cloud": "a",
            "kubeconfig": None, "context": None, "timeout_seconds": 600}
    assert changed_inputs(olds, dict(olds)) == []
    assert changed_inputs(olds, {**olds, "size_gi": 2}) == ["size_gi"]
    assert changed_inputs(olds, {**olds, "claim_uid": "u2"}) == ["claim_uid"]


@pytest.mark.parametrize("status", ["error", "error_extending"])
def test_messages_are_optional(status):
    verdict, detail = decide(ClaimState(claim(), "v1", status), "ns", "c", 1)
    assert verdict == FAILED and "no user message" in detail
