"""The signal that wakes the load balancer's poll when the Service changes (no cluster)."""

import threading
import time

from components import change_signal
from components.change_signal import ChangeSignal


def test_a_wait_returns_at_the_event_not_at_the_interval():
    release = threading.Event()

    def one_event_then_hold():
        release.wait(5)
        yield "MODIFIED"
        release.wait(5)

    with ChangeSignal(one_event_then_hold) as changes:
        started = time.monotonic()
        threading.Timer(0.2, release.set).start()
        changes.wait(5)
        assert time.monotonic() - started < 2


def test_without_an_event_a_wait_lasts_the_interval():
    hold = threading.Event()

    def no_events():
        hold.wait(5)
        return iter(())

    with ChangeSignal(no_events) as changes:
        started = time.monotonic()
        changes.wait(0.3)
        assert 0.3 <= time.monotonic() - started < 2
    hold.set()


def test_an_event_is_consumed_by_one_wait():
    def one_event():
        yield "ADDED"
        time.sleep(5)

    with ChangeSignal(one_event) as changes:
        changes.wait(5)  # the event
        started = time.monotonic()
        changes.wait(0.3)  # nothing new: the interval
        assert time.monotonic() - started >= 0.3


def test_a_failing_watch_is_reopened_and_the_waits_go_on(monkeypatch):
    monkeypatch.setattr(change_signal, "RETRY_SECONDS", 0.05)
    opened = []

    def fails_then_reports():
        opened.append(time.monotonic())
        if len(opened) < 3:
            raise ConnectionError("API server restarting")
        yield "ADDED"
        time.sleep(5)

    with ChangeSignal(fails_then_reports) as changes:
        started = time.monotonic()
        changes.wait(5)
        assert len(opened) == 3 and time.monotonic() - started < 2


def test_a_watch_that_ends_at_once_is_not_reopened_in_a_busy_loop(monkeypatch):
    monkeypatch.setattr(change_signal, "RETRY_SECONDS", 0.2)
    opened = []

    def empty():
        opened.append(1)
        return iter(())

    with ChangeSignal(empty) as changes:
        changes.wait(0.5)
    assert 1 <= len(opened) <= 4


def test_stop_ends_the_thread_at_the_next_event():
    def events():
        while True:
            yield "MODIFIED"
            time.sleep(0.05)

    signal = ChangeSignal(events)
    with signal:
        signal.wait(1)
    signal._thread.join(2)
    assert not signal._thread.is_alive()
