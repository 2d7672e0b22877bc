"""probe/pulumi_cli.py: the pulumi CLI asked for JSON, with a stand-in `pulumi` on PATH that
prints, fails or hangs as a real one can."""

from __future__ import annotations

import os

import pytest

from probe import pulumi_cli
from probe.pulumi_cli import PulumiCliError, pulumi_config, pulumi_json, pulumi_stack_outputs, stack_args

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pulumi_script(tmp_path, monkeypatch):
    """Put a `pulumi` running the given shell body first on PATH; it records its arguments."""

    def install(body: str) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        script = bin_dir / "pulumi"
        script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/pulumi-args\n{body}\n')
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    return install


def test_the_json_printed_is_returned_and_the_stack_is_named(pulumi_script, tmp_path):
    pulumi_script("""echo '{"url": "http://127.0.0.1/"}'""")
    assert pulumi_stack_outputs("devstack") == {"url": "http://127.0.0.1/"}
    assert (tmp_path / "pulumi-args").read_text().split() == ["stack", "output", "--json", "--stack", "devstack"]
    pulumi_config(None)
    assert (tmp_path / "pulumi-args").read_text().split() == ["config", "--json"], "no --stack: the selected one"


def test_a_failure_says_the_command_and_the_last_line(pulumi_script):
    pulumi_script("echo 'warning: something' >&2; echo 'error: no stack named devstack found' >&2; exit 255")
    with pytest.raises(PulumiCliError) as raised:
        pulumi_json(["stack", "output", "--json", "--stack", "devstack"])
    error = raised.value
    assert error.kind == pulumi_cli.FAILED and error.no_such_stack
    assert str(error) == "`pulumi stack output --json --stack devstack` failed: error: no stack named devstack found"
    assert "warning: something" in error.detail, "the whole output is kept"


def test_a_failing_backend_is_not_an_unknown_stack(pulumi_script):
    pulumi_script("echo 'error: could not reach the backend' >&2; exit 1")
    with pytest.raises(PulumiCliError) as raised:
        pulumi_json(["config", "--json"])
    assert raised.value.kind == pulumi_cli.FAILED and not raised.value.no_such_stack


def test_output_that_is_not_json(pulumi_script):
    pulumi_script("echo 'Current stack outputs (0):'")
    with pytest.raises(PulumiCliError) as raised:
        pulumi_json(["stack", "output", "--json"])
    assert raised.value.kind == pulumi_cli.NOT_JSON
    assert str(raised.value) == "`pulumi stack output --json` printed no JSON: 'Current stack outputs (0):\\n'"


def test_a_cli_that_hangs_is_cut_at_the_timeout(pulumi_script):
    pulumi_script("exec sleep 30")
    with pytest.raises(PulumiCliError) as raised:
        pulumi_json(["stack", "output", "--json"], timeout=0.5)
    assert raised.value.kind == pulumi_cli.TIMED_OUT
    assert str(raised.value) == "`pulumi stack output --json` did not finish within 0.5s"


def test_no_cli_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PulumiCliError) as raised:
        pulumi_json(["stack", "output", "--json"])
    assert raised.value.kind == pulumi_cli.MISSING and str(raised.value) == "the pulumi CLI is not on PATH"


def test_stack_args():
    assert stack_args("devstack-single") == ["--stack", "devstack-single"]
    assert stack_args(None) == [] and stack_args("") == []
