"""`pulumi up` fails within 60 s of a definitive failure of the Service's load balancer or of the
storage pods' volume, naming the object, the cloud's or the cluster's words and the command to look
further; a failure the real system retries through does not fail it (components/ready_waits.py).

Each case runs one `up` of a fresh stack in the lab's `devstack` profile (scaled), injects the
failure while `up` waits, and times the exit from the injection; then `destroy` leaves nothing.
- Octavia ERROR: the lab's fault hook puts the load balancer in ERROR during PENDING_CREATE
  (where Octavia leaves one whose amphora died without failover).
- Multi-Attach: a real one, made with kubectl as the article met it: on `devstack-single` (RWO,
  storage pods on the workers) a pod of our own on master1 uses the claim first, so the volume
  attaches there and the storage pods get the attach/detach controller's "Multi-Attach error".
- A cloud-controller retry: every worker labelled out of the load balancer's members, so the cloud
  controller fails its syncs with "There are no available nodes for LoadBalancer" and retries;
  once the label is gone it builds the load balancer and `up` succeeds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, openstack_fault
from kubernetes import client
from storage_scenarios import WORKERS, attached_to, blocking_pod, hold_workers, multi_attach_seen
from test_deploy import cloud, kube, leftovers

from components.ready_checks import MULTI_ATTACH_PREFIX
from policy.devstack_domain import load_balancer_name

DELAY_SCALE = 0.25  # amphora 60 s, pod start 22 s: each case runs in about 2-3 minutes
FAIL_WITHIN_SECONDS = 60
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


@pytest.fixture(scope="module")
def devstack_lab(make_lab):
    return make_lab("fail-fast", profile="devstack", delay_scale=DELAY_SCALE)


@pytest.fixture
def env(devstack_lab, tmp_path) -> dict[str, str]:
    state = tmp_path / "pulumi-state"
    state.mkdir()
    return {**devstack_lab.env(), "PULUMI_BACKEND_URL": f"file://{state}"}


class Run:
    """A lab-pulumi command in the background, its output in files (a pipe would fill and stall it)."""

    def __init__(self, project: Path, env: dict, folder: Path, *args: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = folder / "stdout.json", folder / "stderr.txt"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lab.inline_pulumi", *args, "--cwd", str(project), "--json"],
                cwd=REPO, env=env, stdout=stdout, stderr=stderr, text=True)

    def ended(self) -> bool:
        return self.process.poll() is not None

    def finish(self, timeout: float = 900) -> tuple[int, dict, str, float]:
        """(exit code, the JSON document, stdout and stderr as one text, when it exited)."""
        self.process.wait(timeout=timeout)
        exited = time.monotonic()
        stdout, stderr = self.stdout_path.read_text(), self.stderr_path.read_text()
        try:
            document = json.loads(stdout)
        except json.JSONDecodeError:
            document = {}
        return self.process.returncode, document, f"{stdout}\n{stderr}", exited


def until(what: str, found: Callable[[], object], run: Run, timeout: float = 300) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if run.ended():
            pytest.fail(f"`up` ended (exit {run.process.returncode}) before {what}:\n"
                        f"{run.stderr_path.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout:.0f}s")


def destroy_leaves_nothing(project: Path, env: dict, stack: str) -> None:
    code, _, output, _ = Run(project, env, project.parent / "destroy", "destroy", "--stack", stack).finish()
    assert code == 0, output[-4000:]
    assert leftovers(env) == []  # right after destroy returns


def test_octavia_error_fails_up_within_a_minute_with_octavias_words(project, env):
    conn = cloud(env)
    name = load_balancer_name("default", "lb-webserver")
    up = Run(project, env, project.parent / "up", "up", "--stack", "devstack")
    lb = until("a load balancer in PENDING_CREATE",
               lambda: next((x for x in conn.load_balancer.load_balancers(name=name)
                             if x.provisioning_status == "PENDING_CREATE"), None), up)
    openstack_fault(env, f"/lab/faults/loadbalancers/{lb.id}", {"provisioning_status": "ERROR"})
    injected = time.monotonic()
    code, _, output, exited = up.finish()
    assert code != 0, output[-4000:]
    for part in ("Service default/lb-webserver", f"load balancer {lb.id}", "provisioning_status ERROR",
                 "operating_status ERROR", f"openstack loadbalancer status show {lb.id}"):
        assert part in output, (part, output[-4000:])
    assert exited - injected < FAIL_WITHIN_SECONDS, f"`up` exited {exited - injected:.0f}s after the injection"
    destroy_leaves_nothing(project, env, "devstack")


def test_multi_attach_held_by_a_running_pod_fails_up_within_a_minute(project, env):
    namespace, stack = "devstack-single", "devstack-single"
    api = kube(env)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    # The holder on master1 must attach first: it is made with nodeName (no scheduler), the storage
    # pods wait on the tainted workers until its attachment is made, so the order is not a race.
    hold_workers(core, True)
    try:
        up = Run(project, env, project.parent / "up", "up", "--stack", stack)
        until("the stack's namespace",
              lambda: any(n.metadata.name == namespace for n in core.list_namespace().items), up)
        core.create_namespaced_pod(namespace, blocking_pod(namespace, "claim1"))
        until("the claim's volume attached to master1", lambda: attached_to(storage, "master1"), up)
    finally:
        hold_workers(core, False)
    try:
        pod = until("a Multi-Attach error on a storage pod", lambda: multi_attach_seen(core, namespace), up)
        reported = time.monotonic()
        code, _, output, exited = up.finish()
        assert code != 0, output[-4000:]
        for part in (f"pod {pod}", "node master1", "holds-the-volume", MULTI_ATTACH_PREFIX,
                     f"kubectl describe pod {pod} -n {namespace}"):
            assert part in output, (part, output[-4000:])
        assert exited - reported < FAIL_WITHIN_SECONDS, f"`up` exited {exited - reported:.0f}s after the event"
    finally:
        core.delete_namespaced_pod("holds-the-volume", namespace, grace_period_seconds=0)
    destroy_leaves_nothing(project, env, stack)


def test_a_cloud_controller_retry_does_not_fail_up(project, env):
    api = kube(env)
    core = client.CoreV1Api(api)

    def label_workers(value: str | None) -> None:
        for node in WORKERS:
            core.patch_node(node, {"metadata": {"labels": {EXCLUDE_LABEL: value}}})

    label_workers("true")
    try:
        up = Run(project, env, project.parent / "up", "up", "--stack", "devstack")
        until("the cloud controller's retry", lambda: any(
            "There are no available nodes" in (e.message or "")
            for e in core.list_namespaced_event("default", field_selector="involvedObject.name=lb-webserver").items),
            up)
        time.sleep(10)  # a few retries, while `up` must keep waiting
        assert not up.ended(), f"`up` ended during a cloud-controller retry:\n{up.finish()[2][-4000:]}"
    finally:
        label_workers(None)
    code, document, output, _ = up.finish()
    assert code == 0, output[-4000:]
    assert document["outputs"]["externalIp"], document["outputs"]
    destroy_leaves_nothing(project, env, "devstack")
