"""probe/target.py: the URL from --url or the stack's `url` output (a fake pulumi CLI), and the
usage errors when it is unusable or does not resolve."""

from __future__ import annotations

import socket

import pytest
from probe_helpers import UNRESOLVABLE_HOST, probe

pytestmark = pytest.mark.timeout(60)


def test_url_comes_from_the_stack_output(balanced, fake_pulumi, tmp_path):
    env = fake_pulumi({"url": balanced, "externalIp": "127.0.0.1"})
    code, report, _ = probe("--stack", "devstack", "--json", env=env)
    assert code == 0 and report["url"] == balanced
    assert (tmp_path / "pulumi-args").read_text().split() == ["stack", "output", "--json", "--stack", "devstack"]


def test_stack_without_url_is_a_usage_error(fake_pulumi):
    code, _, stderr = probe("--stack", "devstack", env=fake_pulumi({"externalIp": None}))
    assert code == 2 and "no `url` output" in stderr


def test_failing_pulumi_is_a_usage_error(fake_pulumi):
    code, _, stderr = probe("--stack", "devstack", env=fake_pulumi({}, exit_code=255))
    assert code == 2 and "no stack named devstack" in stderr


def test_missing_pulumi_cli_is_a_usage_error():
    code, _, stderr = probe(env={"PATH": "/nonexistent"})
    assert code == 2 and "pulumi CLI is not on PATH" in stderr


def test_a_host_that_does_not_resolve_is_a_usage_error_at_once():
    with pytest.raises(socket.gaierror) as resolver:
        socket.getaddrinfo(UNRESOLVABLE_HOST, None)
    # Without the check it would wait the whole deadline; the timeout bounds the test either way.
    code, _, stderr = probe("--url", f"http://{UNRESOLVABLE_HOST}:8080/", "--deadline", "20", timeout=40)
    assert code == 2, stderr
    assert f"the host '{UNRESOLVABLE_HOST}' of http://{UNRESOLVABLE_HOST}:8080/ does not resolve" in stderr
    assert resolver.value.strerror in stderr
    assert "waiting for" not in stderr


def test_a_stack_url_that_does_not_resolve_is_a_usage_error(fake_pulumi):
    env = fake_pulumi({"url": f"http://{UNRESOLVABLE_HOST}/"})
    code, _, stderr = probe("--stack", "devstack", "--deadline", "20", env=env, timeout=40)
    assert code == 2 and "does not resolve" in stderr and "waiting for" not in stderr
