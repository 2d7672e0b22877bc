"""An interrupted `pulumi up` while Octavia's amphora boots (issue 15 item 5), and the recovery
the README gives for it, followed step by step: SIGINT (Ctrl-C) and SIGKILL of the `pulumi` CLI.

What the file backend does (pulumi/pulumi pkg v3.274.1, read and then run here):
- SIGINT: the CLI cancels ("^C received; cancelling") and waits for the steps in flight: here the
  program's own waits (components/ready_waits.py), which Pulumi's Python dynamic provider host
  cannot cancel (pulumi/dynamic/__main__.py: Cancel does nothing), so they go on until the load
  balancer is ready or fails; then the update ends "update canceled", the state is saved, the lock
  released, no pending operation: the next `pulumi up` creates what is missing and converges.
- SIGKILL: nothing is cleaned up. The stack's lock file stays (backend/diy/lock.go: the next up
  fails "the stack is currently locked"; `pulumi cancel` deletes the lock files,
  backend/diy/backend.go CancelCurrentUpdate). The in-flight creates stay as pending "creating"
  operations, which every later up and non-interactive refresh keeps (backend/snapshot.go) until
  `pulumi refresh --clear-pending-creates` drops them. Their objects exist in Kubernetes
  without being in the state, and re-creating them over a server-side-apply owner of the killed
  run fails with a field conflict, so they are deleted first (the Service's deletion makes the
  cloud controller delete the Octavia load balancer and its floating IP).

The lab runs the `devstack` profile scaled down (the amphora boots for tens of seconds).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, converge, lab_pulumi, run
from kubernetes import client
from test_deploy import cloud, kube, leftovers

STACK = "devstack"
SERVICE = "lb-webserver"
DELAY_SCALE = 0.1  # the devstack profile's 240 s amphora boot becomes 24 s: time to interrupt
# Pending creates whose resources live only in the Pulumi state: nothing to delete outside.
STATE_ONLY_TYPES = ("pulumi-python:dynamic/",)
LOAD_BALANCER_READY = "pulumi-python:dynamic/network:LoadBalancerReady"


@pytest.fixture(scope="module")
def devstack_lab(make_lab):
    return make_lab("interrupted-up", profile="devstack", delay_scale=DELAY_SCALE)


@pytest.fixture
def env(devstack_lab, tmp_path) -> dict[str, str]:
    """The lab's shell environment with a Pulumi state folder of the test's own."""
    state = tmp_path / "pulumi-state"
    state.mkdir()
    return {**devstack_lab.env(), "PULUMI_BACKEND_URL": f"file://{state}"}


# --------------------------------------------------------------------------- processes

def parent_and_state(pid: int) -> tuple[int, str] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def alive(pid: int) -> bool:
    found = parent_and_state(pid)
    return found is not None and found[1] != "Z"


def argv_of(pid: int) -> list[str]:
    try:
        return [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if part]
    except OSError:
        return []


def children(pid: int) -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and (parent_and_state(int(entry.name)) or (0, ""))[0] == pid]


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def pulumi_up_cli(parent: int) -> int | None:
    """The `pulumi ... up` the Automation API started (its preview is another, earlier CLI)."""
    for child in children(parent):
        argv = argv_of(child)
        if argv and Path(argv[0]).name == "pulumi" and "up" in argv[1:]:
            return child
    return None


def wait_until(condition, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------- the interrupted up

def octavia_booting(env: dict) -> bool:
    """The Service exists and its Octavia load balancer is still PENDING_CREATE."""
    names = [s.metadata.name for s in client.CoreV1Api(kube(env)).list_namespaced_service("default").items]
    return SERVICE in names and any(lb.provisioning_status == "PENDING_CREATE"
                                    for lb in cloud(env).load_balancer.load_balancers())


def wait_in_flight(env: dict, resource_type: str = LOAD_BALANCER_READY) -> bool:
    """The running up's last checkpoint (the file backend's stack file, rewritten at each step)
    holds a pending create of ``resource_type``: the engine has started that step. Octavia can go
    PENDING_CREATE a moment before the program registers the wait, so the kill waits for both."""
    state = Path(env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    for path in state.glob(f".pulumi/stacks/**/{STACK}.json"):
        try:
            latest = json.loads(path.read_text())["checkpoint"].get("latest") or {}
        except (OSError, ValueError, KeyError, AttributeError):
            continue  # being rewritten, or not written yet
        if any(op.get("type") == "creating" and op.get("resource", {}).get("type") == resource_type
               for op in latest.get("pending_operations") or []):
            return True
    return False


def interrupted_up(project: Path, env: dict, tmp_path: Path, signum: int) -> tuple[int, dict, list[int]]:
    """`lab-pulumi up` in its own process group, its `pulumi` CLI sent ``signum`` while the
    amphora boots. Returns (lab-pulumi's exit code, its JSON document, the CLI's plugin pids)."""
    stdout, stderr = tmp_path / f"up-{signum}.json", tmp_path / f"up-{signum}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        up = subprocess.Popen([sys.executable, "-m", "lab.inline_pulumi", "up", "--stack", STACK,
                               "--cwd", str(project), "--json"], cwd=REPO, env=env, stdout=out, stderr=err,
                              start_new_session=True)
    try:
        wait_until(lambda: up.poll() is not None or (octavia_booting(env) and wait_in_flight(env)), 300,
                   "the amphora to boot with the load balancer's wait in flight")
        assert up.poll() is None, f"up ended before Octavia booted:\n{stderr.read_text()[-3000:]}"
        cli = wait_until(lambda: pulumi_up_cli(up.pid), 30, "the pulumi up CLI")
        plugins = descendants(cli)
        signal_sent = time.monotonic()
        os.kill(cli, signum)
        wait_until(lambda: not alive(cli), 120, "the pulumi CLI to exit")
        print(f"\n{signal.Signals(signum).name}: the CLI exited {time.monotonic() - signal_sent:.1f} s later")
        code = up.wait(timeout=300)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    return code, json.loads(stdout.read_text()), plugins


# --------------------------------------------------------------------------- state commands

def pulumi(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """The real CLI for state commands (they need no language host)."""
    return run(["pulumi", *args, "--stack", STACK], env=env, cwd=project)


def exported(project: Path, env: dict) -> dict:
    result = pulumi(project, env, "stack", "export")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["deployment"]


def pending_creates(deployment: dict) -> list[dict]:
    return [op["resource"] for op in deployment.get("pending_operations") or [] if op["type"] == "creating"]


def lock_files(env: dict) -> list[Path]:
    state = Path(env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    return sorted(state.glob(".pulumi/locks/**/*.json"))


def kubectl_target(resource_type: str, inputs: dict) -> list[str]:
    """`kubectl delete` arguments for a pending create's Kubernetes object:
    kubernetes:<group>/<version>:<Kind> -> <kind>[.<group>]/<name> -n <namespace>."""
    _, group_version, kind = resource_type.split(":")
    group = group_version.split("/")[0]
    metadata = inputs.get("metadata") or {}
    plural = kind.lower() if group == "core" else f"{kind.lower()}.{group}"
    return [f"{plural}/{metadata['name']}", "-n", metadata.get("namespace") or "default"]


def delete_what_pending_creates_made(env: dict, resources: list[dict]) -> None:
    """README step 2: delete each object a pending create may have made, waiting until it is gone."""
    for resource in resources:
        kind = resource["type"]
        if kind.startswith("kubernetes:"):
            result = run(["kubectl", "delete", "--ignore-not-found", "--wait", "--timeout=600s",
                          *kubectl_target(kind, resource["inputs"])], env=env, timeout=660)
        elif kind == "openstack:blockstorage/volumeTypeV3:VolumeTypeV3":
            name = resource["inputs"]["name"]
            if not any(t.name == name for t in cloud(env).block_storage.types()):
                continue
            result = run(["openstack", "volume", "type", "delete", name], env=env)
        elif kind.startswith(STATE_ONLY_TYPES):
            continue
        else:
            pytest.fail(f"the recovery procedure has no step for a pending create of {kind}")
        assert result.returncode == 0, result.stderr


def converge_then_destroy_leaves_nothing(project: Path, env: dict) -> None:
    """ONE more up converges (the user's preview, up, preview that plans nothing); destroy then
    leaves nothing in Kubernetes, Cinder or Octavia."""
    outputs = converge(project, env, STACK)["outputs"]
    assert outputs.get("externalIp") and outputs.get("loadBalancerId"), outputs
    code, document, stderr = lab_pulumi(project, env, "destroy", "--stack", STACK)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    assert leftovers(env) == []


def stop_orphans(pids: list[int]) -> list[int]:
    """The killed CLI's provider plugins outlive it: stop them, by pid. Returns those found alive."""
    orphans = [pid for pid in pids if alive(pid)]
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return orphans


# --------------------------------------------------------------------------- the two cases

def test_sigint_saves_the_state_and_one_more_up_converges(project, env, tmp_path):
    code, document, _ = interrupted_up(project, env, tmp_path, signal.SIGINT)
    assert code == 1 and not document["succeeded"], document
    assert "update canceled" in document["error"], document["error"][-2000:]

    deployment = exported(project, env)
    assert deployment.get("pending_operations") in (None, []), deployment["pending_operations"]
    assert lock_files(env) == []
    saved = {r["type"] for r in deployment["resources"]}
    assert {"kubernetes:core/v1:Service", LOAD_BALANCER_READY} <= saved, "the waits in flight were not saved"

    # The procedure: nothing but the usual sequence.
    converge_then_destroy_leaves_nothing(project, env)


def test_sigkill_leaves_a_lock_and_pending_creates_that_the_procedure_clears(project, env, tmp_path):
    code, document, plugins = interrupted_up(project, env, tmp_path, signal.SIGKILL)
    assert code == 1 and not document["succeeded"], document
    orphans = stop_orphans(plugins)
    print(f"provider plugins left running by the killed CLI: {len(orphans)}")

    # The state after the kill: the lock stays, the in-flight creates are pending.
    assert lock_files(env), "no lock left behind"
    pending = pending_creates(exported(project, env))
    # The Service exists in the state; its wait was in flight.
    assert LOAD_BALANCER_READY in [r["type"] for r in pending], pending
    code, document, _ = lab_pulumi(project, env, "up", "--stack", STACK)
    assert code == 1 and "the stack is currently locked" in document["error"], document.get("error")

    # 1. Remove the lock the killed CLI left (file backend: deletes the lock files only).
    result = pulumi(project, env, "cancel", "--yes")
    assert result.returncode == 0, result.stderr
    assert lock_files(env) == []
    # 2. Delete what the pending creates made (listed by `pulumi stack export`).
    delete_what_pending_creates_made(env, pending_creates(exported(project, env)))
    # 3. Drop the pending creates from the state.
    result = pulumi(project, env, "refresh", "--clear-pending-creates", "--yes")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert pending_creates(exported(project, env)) == []
    # 4. The usual sequence.
    converge_then_destroy_leaves_nothing(project, env)
