"""Fixtures of the probe's tests: a balanced loopback load balancer, a fake pulumi CLI."""

from __future__ import annotations

import json
import os

import pytest
from loopback_lb import load_balanced, pod_answers
from probe_helpers import EIGHT_PODS_TWO_NODES


@pytest.fixture
def balanced(tmp_path):
    """8 pods on 2 nodes behind haproxy; yields its URL."""
    with load_balanced(tmp_path, pod_answers(EIGHT_PODS_TWO_NODES)) as balancer:
        yield balancer.url


@pytest.fixture
def fake_pulumi(tmp_path):
    """A `pulumi` on PATH that prints the given stack outputs and records its arguments."""

    def install(outputs: dict | None, exit_code: int = 0) -> dict:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        script = bin_dir / "pulumi"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$@" > {tmp_path}/pulumi-args\n'
            f"cat <<'EOF'\n{json.dumps(outputs)}\nEOF\n"
            f"[ {exit_code} -eq 0 ] || echo 'error: no stack named devstack found' >&2\n"
            f"exit {exit_code}\n"
        )
        script.chmod(0o755)
        return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    return install
