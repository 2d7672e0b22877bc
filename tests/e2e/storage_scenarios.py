"""Storage fault scenarios on a running lab, shared by the lab tests and the fail-fast benchmark
(benchmarks/fail_fast_benchmark.py: `volume_error_scenario(project, env)`, and the Multi-Attach
setup: `hold_workers`, `blocking_pod`, `attached_to`, `multi_attach_seen`). Self-contained: it
runs `python -m lab.inline_pulumi` (scripts/lab-pulumi) and calls the OpenStack double's fault
hooks (lab/openstack/lab_faults.py, admin only, not OpenStack APIs)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client
from openstack import config as os_config
from openstack import connection

from components.ready_checks import MULTI_ATTACH_PREFIX
from components.storage_reads import PVC_NAME_METADATA

REPO = Path(__file__).resolve().parents[2]
WORKERS = ("worker1", "worker2")


def cloud_admin(env: dict) -> connection.Connection:
    clouds = os_config.OpenStackConfig(config_files=[env["OS_CLIENT_CONFIG_FILE"]])
    return connection.Connection(config=clouds.get_one("devstack-admin"))


def lab_fault(env: dict, path: str, body: dict) -> dict:
    """PUT a fault hook of the OpenStack double as admin; its JSON answer."""
    conn = cloud_admin(env)
    base = conn.load_balancer.get_endpoint().split("/load-balancer")[0]
    response = conn.session.put(f"{base}/lab/faults/{path}", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"fault {path} refused: {response.status_code} {response.text}")
    return response.json()


def lab_pulumi(project: Path, env: dict, *args: str, timeout: float = 900) -> tuple[int, dict, str]:
    result = subprocess.run([sys.executable, "-m", "lab.inline_pulumi", *args, "--cwd", str(project), "--json"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    try:
        return result.returncode, json.loads(result.stdout), result.stderr
    except json.JSONDecodeError:
        raise RuntimeError(f"lab-pulumi printed no JSON (exit {result.returncode}):\n{result.stderr[-4000:]}") from None


def claim_volumes(env: dict, claim: str) -> list:
    """Every project's Cinder volumes cinder-csi made for a claim of that name."""
    return [v for v in cloud_admin(env).block_storage.volumes(details=True, all_projects=True)
            if (v.metadata or {}).get(PVC_NAME_METADATA) == claim]


def user_messages(env: dict, volume_id: str) -> list[dict]:
    response = cloud_admin(env).block_storage.get(f"/messages?resource_uuid={volume_id}", microversion="3.5")
    return response.json()["messages"]


@dataclass
class VolumeErrorRun:
    code: int  # lab-pulumi's exit code
    error: str  # the update's error text
    volume_id: str | None  # the claim's Cinder volume, in error
    seconds_to_exit: float  # from Cinder putting the volume in error (its user message) to `up`'s exit
    seconds_up: float  # the whole `up` (preview included)


def volume_error_scenario(project: Path, env: dict, stack: str = "devstack-single",
                          claim: str = "claim1") -> VolumeErrorRun:
    """`up` of `stack` while Cinder's scheduler finds no backend: the claim's volume goes
    `error` (with the scheduler's user message) as soon as it is created. The fault is healed
    before returning; the stack is left as `up` left it (destroy it after)."""
    lab_fault(env, "volume_create", {"ends_in": "error"})
    started = time.monotonic()
    try:
        code, document, stderr = lab_pulumi(project, env, "up", "--stack", stack)
        exited_at, seconds_up = time.time(), time.monotonic() - started
    finally:
        lab_fault(env, "volume_create", {"ends_in": "available"})
    errored = [v for v in claim_volumes(env, claim) if v.status == "error"]
    volume_id = errored[0].id if errored else None
    messages = user_messages(env, volume_id) if volume_id else []
    reported_at = (datetime.strptime(messages[-1]["created_at"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
                   .timestamp() if messages else float("nan"))
    return VolumeErrorRun(code, document.get("error") or stderr[-4000:], volume_id, exited_at - reported_at,
                          seconds_up)


HOLD_TAINT = {"key": "lab.test/hold", "value": "true", "effect": "NoSchedule"}


def hold_workers(core: client.CoreV1Api, held: bool) -> None:
    """Keep the stack's pods off the workers (they do not run on master1) until the holder has the volume."""
    for node in WORKERS:
        taints = [t for t in (core.read_node(node).spec.taints or []) if t.key != HOLD_TAINT["key"]]
        core.patch_node(node, {"spec": {"taints": [*(t.to_dict() for t in taints), *([HOLD_TAINT] if held else [])]}})


def attached_to(storage: client.StorageV1Api, node: str) -> bool:
    return any(a.spec.node_name == node and a.status and a.status.attached
               for a in storage.list_volume_attachment().items)


def blocking_pod(namespace: str, claim: str) -> dict:
    """A pod on master1 that uses the claim: the volume attaches there first."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "holds-the-volume", "namespace": namespace},
            "spec": {"nodeName": "master1", "containers": [{"name": "c", "image": "nginx:1.27.4"}],
                     "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}


def multi_attach_seen(core: client.CoreV1Api, namespace: str) -> str | None:
    for event in core.list_namespaced_event(namespace, field_selector="reason=FailedAttachVolume").items:
        if (event.message or "").startswith(MULTI_ATTACH_PREFIX) and event.involved_object.name.startswith("server-"):
            return event.involved_object.name
    return None


if __name__ == "__main__":  # python tests/e2e/storage_scenarios.py PROJECT (in a lab shell: scripts/lab env)
    import os

    run = volume_error_scenario(Path(sys.argv[1]), dict(os.environ))
    print(json.dumps(run.__dict__, indent=2))
