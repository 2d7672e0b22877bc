"""`pulumi up` wall time in the lab against the critical path of the graph.

    venv/bin/python benchmarks/deploy_benchmark.py [--stack devstack] [--delay-scale 0.1] [--runs 1]

Starts a lab (lab/environment.py) with the Devstack-like profile (volume create/delete 20 s,
amphora boot 240 s, each Octavia change 5 s, pod start 90 s) scaled by --delay-scale, runs `pulumi up` on a copy of
the project (scripts/lab-pulumi), then `pulumi destroy`, and prints the measured `up` time, the
critical path (the longest chain of the doubles' delays through the graph) and their ratio.
A ratio near 1 means the graph waits for nothing it could have done meanwhile.

Critical path, from the graph: the Service's load balancer (amphora boot, then the cloud
controller's listener, pool and one change per member, each an Octavia update) runs beside the
storage chain (the claim's Cinder volume, then the storage pods' start) and the load-balanced
pods' start; `up` ends when the slowest of the three ends.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import profiles  # noqa: E402 - after the sys.path line, so it runs from any folder
from lab.cluster import ClusterShape  # noqa: E402 - same
from lab.environment import Lab  # noqa: E402 - same
from lab.project_copy import copy_project  # noqa: E402 - same

PROFILE = "devstack"


def critical_path_seconds(scale: float) -> tuple[float, dict[str, float]]:
    delays = profiles.delays(PROFILE, scale)
    members = sum(1 for node in ClusterShape().nodes if not node.control_plane)
    chains = {
        "load balancer (amphora boot + listener + pool + members)":
            delays.amphora_boot + (2 + members) * delays.lb_update,
        "storage (Cinder volume + attach + pod start)":
            delays.volume_create + delays.volume_attach + delays.pod_start,
        "load-balanced pods (pod start)": delays.pod_start,
    }
    return max(chains.values()), chains


def pulumi(project: Path, env: dict, operation: str, stack: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "lab.inline_pulumi", operation, "--stack", stack,
                             "--cwd", str(project), "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    document = json.loads(result.stdout)
    if not document["succeeded"]:
        raise SystemExit(f"pulumi {operation} failed: {document.get('error', '')[-2000:]}")
    return document


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def one_run(stack: str, scale: float) -> float:
    with tempfile.TemporaryDirectory(prefix="deploy-benchmark-") as folder, \
            Lab(Path(folder) / "lab", profile=PROFILE, delay_scale=scale, progress=say) as lab:
        env = lab.env()
        project = copy_project(Path(folder) / "project")
        started = time.monotonic()
        pulumi(project, env, "up", stack)
        seconds = time.monotonic() - started
        pulumi(project, env, "destroy", stack)
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="devstack", choices=["devstack", "devstack-single"])
    parser.add_argument("--delay-scale", type=float, default=0.1,
                        help="scale of the Devstack-like delays (default 0.1: amphora boot 24 s)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if not (args.delay_scale > 0 and args.delay_scale < 100):
        parser.error(f"argument --delay-scale: {args.delay_scale!r} must be above 0 and below 100")
    if args.runs < 1:
        parser.error(f"argument --runs: {args.runs!r} is below the minimum 1")
    critical, chains = critical_path_seconds(args.delay_scale)
    times = [one_run(args.stack, args.delay_scale) for _ in range(args.runs)]
    measured = statistics.median(times)
    print(f"stack {args.stack}, profile {PROFILE} x {args.delay_scale}, {args.runs} run(s)")
    for name, seconds in chains.items():
        print(f"  chain {name}: {seconds:.1f} s")
    print(f"pulumi up (median): {measured:.1f} s   runs: {', '.join(f'{t:.1f}' for t in times)}")
    print(f"critical path:      {critical:.1f} s")
    print(f"ratio up / critical path: {measured / critical:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
