"""Helpers of the probe's tests: the CLI as a subprocess, scripted fetches and a fake clock."""

from __future__ import annotations

import json
import subprocess
import sys

from harness import PROJECT_DIR

from lab.ports import free_port
from probe.check import Outcome

EIGHT_PODS_TWO_NODES = [(f"server-{i}", "worker1" if i % 2 else "master1") for i in range(8)]
NUMERIC_FLAGS = ["--min-pods", "--min-nodes", "--requests", "--deadline", "--concurrency", "--max-error-ratio",
                 "--connect-timeout", "--read-timeout"]
UNRESOLVABLE_HOST = "no-such-host.invalid"  # RFC 6761: names under .invalid never resolve


def probe(*args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, dict | str, str]:
    """Run the CLI; returns exit code, the parsed JSON (or text) and stderr."""
    result = subprocess.run([sys.executable, "-m", "probe", *args], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=timeout, env=env)
    out = json.loads(result.stdout) if "--json" in args and result.stdout else result.stdout
    return result.returncode, out, result.stderr


def unreachable_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/"


def scripted_fetch(outcomes: list[Outcome]):
    """A fetch that answers the outcomes in turn, then the last one again; records its timeouts."""
    calls = []

    def fetch(url, connect_timeout, read_timeout):
        calls.append((connect_timeout, read_timeout))
        return outcomes[min(len(calls), len(outcomes)) - 1]

    return fetch, calls


class FakeTime:
    """A clock that only sleeping moves: the waiting phase runs at once, and the same way every time."""

    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
