"""The double's clock: timed transitions (creating -> available, PENDING_* -> ACTIVE, ...) run on
ONE long-lived thread, under the state lock, when due."""
from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections.abc import Callable


class Ticker:
    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._stopping = threading.Event()

    def later(self, delay: float, transition: Callable[[], None]) -> None:
        """Run `transition` (under the lock) once `delay` seconds have passed."""
        with self.lock:
            heapq.heappush(self._due, (time.monotonic() + max(0.0, delay), next(self._order), transition))

    def run_due(self) -> None:
        now = time.monotonic()
        with self.lock:
            while self._due and self._due[0][0] <= now:
                _, _, transition = heapq.heappop(self._due)
                try:
                    transition()
                except Exception:
                    traceback.print_exc()

    def run(self, each_tick: Callable[[], None], interval: float = 0.05) -> None:
        """Until stop(): due transitions, then `each_tick` (the amphorae), every `interval` s."""
        while not self._stopping.is_set():
            self.run_due()
            try:
                each_tick()
            except Exception:
                traceback.print_exc()
            self._stopping.wait(interval)

    def stop(self) -> None:
        self._stopping.set()
