"""lab/kube/workqueue.py: backoff, Retry, one operation per key and version."""
from __future__ import annotations

import threading

from lab.kube.workqueue import Retry, Workers, backoff_delay


def test_backoff_doubles_from_the_start_up_to_the_cap():
    assert [backoff_delay(n, 1.0, 300.0) for n in range(0, 11)] == [
        0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _workers(clock):
    done = threading.Event()
    workers = Workers(done.set, size=1, backoff_start=1.0, backoff_cap=300.0, clock=clock)
    return workers, done


def _run(workers, done, key, operation, version=None) -> bool:
    done.clear()
    started = workers.submit(key, operation, version)
    if started:
        assert done.wait(5)
    return started


def test_a_failure_backs_off_and_a_success_is_not_repeated_for_the_same_version():
    clock = _Clock()
    workers, done = _workers(clock)
    calls = []

    def failing():
        calls.append("fail")
        raise RuntimeError("Cinder said 400")

    assert _run(workers, done, "va/x", failing, ("attach", "1"))
    assert workers.not_before["va/x"] == 101.0 and workers.failures["va/x"] == 1
    assert not _run(workers, done, "va/x", failing, ("attach", "1"))  # still backing off
    clock.now = 101.0
    assert _run(workers, done, "va/x", failing, ("attach", "1"))
    assert workers.not_before["va/x"] == 103.0  # 2 s after the second failure
    clock.now = 103.0
    assert _run(workers, done, "va/x", lambda: calls.append("ok"), ("attach", "1"))
    assert not _run(workers, done, "va/x", lambda: calls.append("again"), ("attach", "1"))
    assert _run(workers, done, "va/x", lambda: calls.append("new version"), ("attach", "2"))
    assert calls == ["fail", "fail", "ok", "new version"]
    workers.shutdown()


def test_retry_waits_its_delay_without_counting_a_failure_and_end_forgets_unasked_keys():
    clock = _Clock()
    workers, done = _workers(clock)

    def later():
        raise Retry("the PV is not there yet", 0.5)

    workers.begin()
    assert _run(workers, done, "k", later)
    workers.end()
    assert workers.not_before["k"] == 100.5 and "k" not in workers.failures
    workers.begin()
    workers.end()  # nobody asked for "k" in this pass
    assert "k" not in workers.not_before
    workers.shutdown()
