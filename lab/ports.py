"""Small network and waiting helpers, one home for the lab, its doubles and the tests."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(what: str, check: Callable[[], object], timeout: float, interval: float = 0.2,
               still_worth_waiting: Callable[[], str | None] | None = None):
    """Poll ``check`` until it returns something truthy, and return that.

    ``still_worth_waiting`` may name a reason to give up at once (a process that died); the
    TimeoutError names ``what`` and the time waited.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if still_worth_waiting is not None:
            reason = still_worth_waiting()
            if reason:
                raise RuntimeError(f"gave up waiting for {what}: {reason}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
