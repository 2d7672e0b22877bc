"""Seconds from a definitive failure to `pulumi up`'s exit, per scenario, in the lab.

    venv/bin/python benchmarks/fail_fast_benchmark.py [--delay-scale 0.25] [--scenario NAME]...

Each scenario gets a lab of its own (the `devstack` profile, scaled) and a fresh copy of the
project; `up` starts, the scenario injects its failure while `up` waits and says when the cloud or
the cluster reported it, and the benchmark prints the seconds from then to `up`'s exit and the exit
code, then destroys the stack. The goal (issue 16): under 60 s, exit code not 0.

SCENARIOS: name -> (stack, run). `run(project, env, folder)` runs `up` with the failure and returns
the seconds from its report to `up`'s exit and the exit code; `injected(stack, inject)` makes one
from `inject(env, up_ended)`, which returns the monotonic time at which the failure was reported
(waiting for what it needs, giving up when `up_ended()`) and a cleanup to run before the destroy.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # storage_scenarios: the fault setups the lab tests use too

Inject = Callable[[dict, Callable[[], bool]], tuple[float, Callable[[], None]]]
Run = Callable[[Path, dict, Path], tuple[float, int]]  # (project, lab env, folder) -> (seconds to exit, code)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def poll(what: str, found: Callable[[], object], up_ended: Callable[[], bool], timeout: float = 300) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not up_ended():
        value = found()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"no {what} before `up` ended or {timeout:.0f}s passed")


def admin_cloud(env: dict):
    from openstack import config as os_config
    from openstack import connection

    return connection.Connection(config=os_config.OpenStackConfig(
        config_files=[env["OS_CLIENT_CONFIG_FILE"]]).get_one("devstack-admin"))


def octavia_error(env: dict, up_ended: Callable[[], bool]) -> tuple[float, Callable[[], None]]:
    """The lab's fault hook puts the Service's load balancer in ERROR during PENDING_CREATE."""
    from policy.devstack_domain import load_balancer_name

    conn = admin_cloud(env)
    name = load_balancer_name("default", "lb-webserver")
    lb = poll("load balancer in PENDING_CREATE", lambda: next(
        (x for x in conn.load_balancer.load_balancers(name=name) if x.provisioning_status == "PENDING_CREATE"),
        None), up_ended)
    base = conn.load_balancer.get_endpoint().split("/load-balancer")[0]
    response = conn.session.put(f"{base}/lab/faults/loadbalancers/{lb.id}", json={"provisioning_status": "ERROR"})
    if response.status_code != 200:
        raise SystemExit(f"fault hook: {response.status_code} {response.text}")
    return time.monotonic(), lambda: None


def multi_attach(env: dict, up_ended: Callable[[], bool]) -> tuple[float, Callable[[], None]]:
    """devstack-single: a pod on master1 uses the claim first (the workers are held by a taint until
    its attachment is made, so the order is not a race); the storage pods get Multi-Attach."""
    from kubernetes import client, config
    from storage_scenarios import attached_to, blocking_pod, hold_workers, multi_attach_seen

    namespace = "devstack-single"
    api = config.new_client_from_config(config_file=env["KUBECONFIG"])
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    hold_workers(core, True)
    try:
        poll("the stack's namespace", lambda: any(n.metadata.name == namespace for n in core.list_namespace().items),
             up_ended)
        core.create_namespaced_pod(namespace, blocking_pod(namespace, "claim1"))
        poll("the claim's volume attached to master1", lambda: attached_to(storage, "master1"), up_ended)
    finally:
        hold_workers(core, False)
    poll("a Multi-Attach error", lambda: multi_attach_seen(core, namespace), up_ended)
    return time.monotonic(), lambda: core.delete_namespaced_pod("holds-the-volume", namespace, grace_period_seconds=0)


def injected(stack: str, inject: Inject) -> Run:
    """A run that starts `up`, lets `inject` break something while it waits, and times the exit."""
    def run(project: Path, env: dict, folder: Path) -> tuple[float, int]:
        up = lab_pulumi(project, env, folder / "up.log", "up", "--stack", stack)
        reported, cleanup = inject(env, lambda: up.poll() is not None)
        code = up.wait(timeout=1800)
        seconds = time.monotonic() - reported
        cleanup()
        return seconds, code
    return run


def cinder_error(project: Path, env: dict, _folder: Path) -> tuple[float, int]:
    """Cinder's scheduler finds no backend: the claim's volume goes `error`, timed from its user message."""
    from storage_scenarios import volume_error_scenario

    run = volume_error_scenario(project, env, "devstack-single")
    return run.seconds_to_exit, run.code


SCENARIOS: dict[str, tuple[str, Run]] = {
    "octavia-error": ("devstack", injected("devstack", octavia_error)),
    "multi-attach": ("devstack-single", injected("devstack-single", multi_attach)),
    "cinder-error": ("devstack-single", cinder_error),
}


def lab_pulumi(project: Path, env: dict, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lab.inline_pulumi", *args, "--cwd", str(project), "--json"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"), text=True)


def run_scenario(name: str, scale: float) -> tuple[float, int]:
    from lab.environment import Lab
    from lab.project_copy import copy_project

    stack, run = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix="fail-fast-benchmark-") as folder, \
            Lab(Path(folder) / "lab", profile="devstack", delay_scale=scale, progress=say) as lab:
        env = lab.env()
        project = copy_project(Path(folder) / "project")
        seconds, code = run(project, env, Path(folder))
        lab_pulumi(project, env, Path(folder) / "destroy.log", "destroy", "--stack", stack).wait(timeout=1800)
        return seconds, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-scale", type=float, default=0.25)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="run only these (repeatable); default: all")
    args = parser.parse_args()
    results = []
    for name in args.scenario or list(SCENARIOS):
        say(f"scenario {name} ...")
        results.append((name, *run_scenario(name, args.delay_scale)))
    print(f"{'scenario':<16} {'report->exit s':>15} {'exit code':>10}")
    for name, seconds, code in results:
        print(f"{name:<16} {seconds:>15.1f} {code:>10}")
    return 0 if all(code != 0 and seconds < 60 for _, seconds, code in results) else 1


if __name__ == "__main__":
    sys.exit(main())
