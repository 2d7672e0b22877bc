"""Keyed work like the controllers' rate-limited workqueues: one operation per key at a time on
a small thread pool, exponential backoff on failure, and ``Retry`` for "not yet, come back".

client-go's default controller rate limiter starts at 5 ms and doubles up to 1000 s; the CSI
sidecars use 1 s .. 5 min (external-provisioner/external-attacher --retry-interval-start/-max).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class Retry(Exception):
    """Not an error: come back after ``delay`` seconds (waiting on something else)."""

    def __init__(self, message: str, delay: float = 1.0):
        super().__init__(message)
        self.delay = delay


def backoff_delay(failures: int, start: float, cap: float) -> float:
    """The wait after the ``failures``-th failure in a row: start, 2*start, 4*start, ... cap."""
    if failures <= 0:
        return 0.0
    return min(cap, start * 2 ** (failures - 1))


class Workers:
    """``submit(key, operation, version)``: runs ``operation`` unless the key is busy, backing
    off, or already done for that ``version`` (what it was asked for, e.g. (operation,
    resourceVersion)): a cache that has not yet seen our own write does not repeat the work.

    Call ``begin()`` before and ``end()`` after each reconcile pass: keys no pass asks for any
    more are forgotten. ``on_done`` runs after every operation (wake the reconcile loop)."""

    def __init__(self, on_done: Callable[[], None], size: int = 6, backoff_start: float = 1.0,
                 backoff_cap: float = 300.0, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.log = logger or logging.getLogger("workqueue")
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="op")
        self.on_done = on_done
        self.backoff_start, self.backoff_cap = backoff_start, backoff_cap
        self.clock = clock
        self.lock = threading.Lock()
        self.busy: set[str] = set()
        self.not_before: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.done: dict[str, object] = {}
        self.asked: set[str] = set()

    def begin(self) -> None:
        self.asked = set()

    def end(self) -> None:
        with self.lock:
            for table in (self.not_before, self.failures, self.done):
                for key in [k for k in table if k not in self.asked and k not in self.busy]:
                    del table[key]

    def submit(self, key: str, operation: Callable[[], None], version: object = None) -> bool:
        """True when the operation was started."""
        self.asked.add(key)
        with self.lock:
            if key in self.busy or self.clock() < self.not_before.get(key, 0.0):
                return False
            if version is not None and self.done.get(key) == version:
                return False
            self.busy.add(key)
        self.pool.submit(self.run, key, operation, version)
        return True

    def run(self, key: str, operation: Callable[[], None], version: object) -> None:
        delay = 0.0
        try:
            operation()
            with self.lock:
                self.failures.pop(key, None)
                self.done[key] = version
        except Retry as retry:
            delay = retry.delay
            self.log.debug("%s: %s", key, retry)
        except Exception as error:  # noqa: BLE001 - an operation failure is retried with backoff
            with self.lock:
                count = self.failures[key] = self.failures.get(key, 0) + 1
            delay = backoff_delay(count, self.backoff_start, self.backoff_cap)
            self.log.warning("%s failed (attempt %d, retry in %.1f s): %s", key, count, delay, error)
        finally:
            with self.lock:
                self.busy.discard(key)
                if delay:
                    self.not_before[key] = self.clock() + delay
                else:
                    self.not_before.pop(key, None)
            self.on_done()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
