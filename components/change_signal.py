"""Wakes a poll loop as soon as the object it waits for changes, instead of at its next poll.

The load balancer's wait ends when the cloud controller writes the Service's ingress address: a
watch on the Service tells at once, where the 0.5 s poll found it 0.25 s later on average, at the
end of the longest chain of every `pulumi up`. The poll stays: it is what notices Octavia's ERROR,
which changes no Kubernetes object, and it goes on at its interval whatever the watch does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

# Before reopening a watch that failed (API server restarting, 410 Gone) or ended at once: the
# poll goes on meanwhile, and the next watch starts with the object's state.
RETRY_SECONDS = 1.0


class ChangeSignal:
    """A background watch that sets a flag on every event; `wait` sleeps until it or the interval.

    `open_watch` returns one watch (an iterable of events that ends when the server closes it); it
    is reopened until `stop`. A watch opened without a resource version starts with the object's
    current state, so a change between the poll's read and the watch's start is not missed: at
    worst the poll checks once more than needed.
    """

    def __init__(self, open_watch: Callable[[], Iterable[object]], name: str = "change-signal"):
        self._open_watch = open_watch
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> ChangeSignal:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The watch ends at its next event or when the server closes it (a daemon thread)."""
        self._stopped.set()

    def wait(self, seconds: float) -> None:
        """Return when the object changed since the last wait, or after `seconds`."""
        if self._changed.wait(seconds):
            self._changed.clear()

    def _run(self) -> None:
        while not self._stopped.is_set():
            opened = time.monotonic()
            try:
                for _event in self._open_watch():
                    self._changed.set()
                    if self._stopped.is_set():
                        return
            except Exception:  # noqa: BLE001 - whatever the watch raised, the poll still decides
                self._stopped.wait(RETRY_SECONDS)
                continue
            if time.monotonic() - opened < RETRY_SECONDS:
                self._stopped.wait(RETRY_SECONDS)
