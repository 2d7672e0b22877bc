"""Fixtures for the end-to-end tests: the real tools, labs (lab/environment.py), a project copy.

Nothing here skips: a missing tool is built (scripts/tools), and a build or a lab that fails
fails the tests that need it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.environment import Lab
from lab.project_copy import copy_project

REPO = Path(__file__).resolve().parents[2]


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path = REPO,
        timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def lab_pulumi(project: Path, env: dict, *args: str) -> tuple[int, dict, str]:
    result = run([sys.executable, "-m", "lab.inline_pulumi", *args, "--cwd", str(project), "--json"],
                 env=env, timeout=600)
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"lab-pulumi printed no JSON (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return result.returncode, document, result.stderr


def planned_changes(document: dict) -> list[dict]:
    """The steps of a preview that would change something."""
    return [step for step in document["steps"] if step["op"] not in ("same", "read")]


def converge(project: Path, env: dict, stack: str) -> dict:
    """The user's sequence: `pulumi preview`, `pulumi up` (which previews first), then a preview that
    must plan nothing. Returns the up's document."""
    code, document, stderr = lab_pulumi(project, env, "preview", "--stack", stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    code, document, stderr = lab_pulumi(project, env, "up", "--stack", stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert "preview" in document, "lab-pulumi up did not preview first"
    code, after, stderr = lab_pulumi(project, env, "preview", "--stack", stack)
    assert code == 0 and after["succeeded"], after.get("error") or stderr[-4000:]
    assert planned_changes(after) == [], f"the preview after up still plans: {planned_changes(after)}"
    return document


def config_set(project: Path, env: dict, stack: str, key: str, value: str) -> None:
    result = run(["pulumi", "config", "set", "--stack", stack, key, value], env=env, cwd=project)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    """The pinned tools, built now if this machine has not built them yet (never skipped)."""
    result = run([sys.executable, "-m", "toolchain.build"], timeout=5400)
    assert result.returncode == 0, f"scripts/tools failed:\n{result.stderr[-4000:]}"
    return Path(result.stdout.strip().splitlines()[-1])


def shell_env(lab_dir: Path) -> dict[str, str]:
    """The environment a shell gets from `eval "$(scripts/lab env --dir DIR)"` (the CLI itself)."""
    result = run([sys.executable, "-m", "lab", "env", "--dir", str(lab_dir)])
    assert result.returncode == 0, result.stderr
    env = dict(os.environ)
    for line in result.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = subprocess.run(["sh", "-c", f"printf %s {value}"], capture_output=True,
                                  text=True, check=True).stdout
    return env


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@pytest.fixture(scope="module")
def make_lab(tools_bin, tmp_path_factory):
    """Start labs for this module: ``make_lab("name", parts=[...], profile=..., delay_scale=...,
    extra_args={part: [...]})`` returns a started ``Lab`` (lab/environment.py); every lab made
    is stopped, by pid, when the module ends."""
    made: list[Lab] = []

    def make(name: str, **options) -> Lab:
        lab = Lab(tmp_path_factory.mktemp(name), bin_dir=tools_bin, progress=_say, **options)
        made.append(lab)
        return lab.start()

    try:
        yield make
    finally:
        for lab in reversed(made):
            lab.stop()


@pytest.fixture(scope="session")
def lab(tools_bin, tmp_path_factory):
    """One whole lab for the session (every part, fast profile), stopped at the end."""
    with Lab(tmp_path_factory.mktemp("lab"), bin_dir=tools_bin, progress=_say) as whole:
        yield whole


def openstack_fault(env: dict, path: str, body: dict) -> None:
    """Call the OpenStack double's fault hook (``/lab/faults/...``, not an OpenStack API) as admin."""
    from openstack import config as os_config
    from openstack import connection

    conn = connection.Connection(config=os_config.OpenStackConfig(
        config_files=[env["OS_CLIENT_CONFIG_FILE"]]).get_one("devstack-admin"))
    base = conn.load_balancer.get_endpoint().split("/load-balancer")[0]
    response = conn.session.put(f"{base}{path}", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def engine_env(lab, tmp_path) -> dict[str, str]:
    """The lab's environment (its clouds.yaml names the OpenStack double) with a Pulumi state
    folder of the test's own: stacks of one test never meet another's."""
    env = lab.env()
    state = tmp_path / "pulumi-state"
    state.mkdir()
    return {**env, "PULUMI_BACKEND_URL": f"file://{state}"}


def pytest_collection_modifyitems(items):
    """End-to-end tests run whole deployments: give them more than the unit tests' timeout."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.timeout(900))
