"""lab/kube/backoff.py: wait.ExponentialBackoff's schedule and checks, as the doubles use them."""
from __future__ import annotations

import threading

import pytest

from lab.kube.backoff import backoff_seconds, backoff_sleeps, check_on_backoff, sleeps_within


def test_the_sleeps_grow_by_the_factor_between_the_checks():
    assert backoff_sleeps(1.0, 1.2, 4) == pytest.approx([1.0, 1.2, 1.44])
    assert backoff_sleeps(1.0, 1.2, 1) == [] and backoff_seconds(1.0, 2.0, 3) == 7.0


def test_the_sleeps_within_a_total_stop_before_it():
    assert list(sleeps_within(3.0)) == pytest.approx([1.0, 1.2])
    assert list(sleeps_within(0.5)) == []


def test_a_check_runs_at_once_then_after_each_sleep_until_true_or_stopped():
    slept, answers = [], iter([None, None, "ok"])
    assert check_on_backoff(lambda: next(answers), [1.0, 1.2, 1.44], slept.append) == "ok"
    assert slept == [1.0, 1.2]
    assert check_on_backoff(lambda: False, [1.0, 1.2], slept.append) is None
    stop = threading.Event()
    stop.set()
    calls = []
    assert check_on_backoff(lambda: calls.append(1), [1.0, 1.2], stop.wait) is None and calls == [1]
