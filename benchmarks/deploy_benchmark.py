"""`pulumi up` wall time in the lab against the critical path of the graph, where the time goes,
and how it grows with the replicas.

    venv/bin/python benchmarks/deploy_benchmark.py [--stack devstack] [--profile devstack]
        [--delay-scale 0.1] [--runs 1] [--breakdown] [--scaling 8,32,128]

Each run starts a lab (lab/environment.py) with the Devstack-like profile (volume create/delete 20 s,
amphora boot 240 s, each Octavia change 5 s, pod start 90 s) scaled by --delay-scale, on a copy of
the project (lab/inline_pulumi.py, as scripts/lab-pulumi) runs `preview` (nothing deployed), `up`
(which previews first, as the CLI does), `preview` again (plans nothing), then `destroy`, and prints
each one's wall time, the critical path (the longest chain of the doubles' delays through the graph)
and the ratio of `up` to it. A ratio near 1 means the graph waits for nothing it could have done
meanwhile.

Each run also times the same path's `preview` and `up` of a program that declares nothing: what
Pulumi itself spends (CLI, engine and language-host starts, twice, and the checkpoint). It is
serial with the critical path, so (critical path + that up) / critical path is the least ratio
any program can reach here.

--breakdown: where the median run's `up` went, from the engine events' arrival times (the
timeline lab/inline_pulumi.py --json gives): the process start and the CLI's stack selection, per
phase (the preview, then the update) the CLI's, engine's and language host's start up to the
program's evaluation, the evaluation itself (settings, the preflight's reads of the cluster and
the cloud, the registrations), each provider plugin's start and configuration, each resource's
step from its start to its outputs, the chain of steps that ended the phase with the wait before
each (the engine's and the event log's latency between one step's outputs and the next step's start),
and the tail from the last outputs to the CLI's exit.

--scaling 8,32,128: for each count a lab of its own (no destroy: the lab goes), the stack with
that many replicas per app: `up`'s wall time, `python -m verify`'s, and the probe's time to a
verdict that every load-balanced pod answered (python -m probe --min-pods N --min-nodes 2), then
the curve's growth exponent between points (1 is linear).

Critical path, from the graph and the real services' own behaviour: the Service's load balancer
(the amphora boot of a fully populated create, seen by the cloud controller's ACTIVE polling on its
1 s x1.2 backoff) runs beside the storage chain (the claim's Cinder volume, one attach seen by the
driver's WaitDiskAttached on the same backoff, the storage pods' start) and the load-balanced pods'
start; `up` ends when the slowest of the three ends. The multi-attach volume's later attaches,
refused while another is in progress and retried, are not counted.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import profiles  # noqa: E402 - after the sys.path line, so it runs from any folder
from lab.cinder_csi import ATTACH_BACKOFF  # noqa: E402 - same
from lab.cloud_controller import ACTIVE_BACKOFF  # noqa: E402 - same

PROFILE = "devstack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


def first_check_at_or_after(seconds: float, sleeps: Iterable[float]) -> float:
    """When a controller polling on ``sleeps`` (check at once, then after each sleep) first sees
    a state that arrives ``seconds`` after its wait began."""
    elapsed = 0.0
    for pause in sleeps:
        if elapsed >= seconds:
            return elapsed
        elapsed += pause
    return elapsed


def critical_path_seconds(scale: float, profile: str = PROFILE) -> tuple[float, dict[str, float]]:
    """The longest chain of the real services' own delays, with each controller's polling as the
    doubles play it (nothing of Pulumi, the program or the lab's start in it)."""
    delays = profiles.delays(profile, scale)
    chains = {
        # OCCM 2.36 creates the load balancer fully populated (listeners, pools, members in the one
        # POST) and polls it for ACTIVE on its backoff (1 s, x1.2): it sees the booted amphora late.
        "load balancer (amphora boot, seen by the cloud controller's ACTIVE polling)":
            first_check_at_or_after(delays.amphora_boot, ACTIVE_BACKOFF),
        "storage (Cinder volume + one attach seen by WaitDiskAttached + pod start)":
            delays.volume_create + first_check_at_or_after(delays.volume_attach, ATTACH_BACKOFF) + delays.pod_start,
        "load-balanced pods (pod start)": delays.pod_start,
    }
    return max(chains.values()), chains


# --------------------------------------------------------------------------- the breakdown (pure)

@dataclass(frozen=True)
class Step:
    """One resource step of a phase, in seconds from the phase's start; end None: no outputs came."""

    urn: str
    type: str
    op: str
    custom: bool
    start: float
    end: float | None
    failed: bool = False

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def is_provider(self) -> bool:
        return self.type.startswith(PROVIDER_TYPE_PREFIX)


@dataclass(frozen=True)
class ChainLink:
    step: Step
    wait_before: float  # from the previous link's outputs (or the program's evaluation's end) to this start


@dataclass(frozen=True)
class PhaseBreakdown:
    phase: str
    seconds: float
    engine_start: float | None  # phase start -> the program's evaluation starts
    program: float | None  # the program's evaluation (top-level code)
    steps: list[Step] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)
    tail: float | None = None  # the last outputs -> the phase ends (the CLI's exit)

    @property
    def providers(self) -> list[Step]:
        return [s for s in self.steps if s.is_provider]

    @property
    def resources(self) -> list[Step]:
        """The resources a provider works on (not components, the stack or providers)."""
        return [s for s in self.steps if s.custom and not s.is_provider]


def phase_entries(timeline: Sequence[dict], phase: str) -> list[dict]:
    """The timeline entries from the phase's start to its end (both included)."""
    entries, inside = [], False
    for entry in timeline:
        if entry["event"] == "phase-start" and entry.get("phase") == phase:
            inside = True
        if inside:
            entries.append(entry)
            if entry["event"] == "phase-end" and entry.get("phase") == phase:
                break
    return entries


def steps_of(entries: Iterable[dict], origin: float) -> list[Step]:
    """Each step-start paired with its URN's next step-end or step-failed, in order of start."""
    started: dict[str, dict] = {}
    steps: list[Step] = []
    for entry in entries:
        event = entry["event"]
        if event == "step-start":
            started[entry["urn"]] = entry
        elif event in ("step-end", "step-failed") and entry["urn"] in started:
            begun = started.pop(entry["urn"])
            steps.append(Step(begun["urn"], begun["type"], begun["op"], begun.get("custom", True),
                              begun["t"] - origin, entry["t"] - origin, failed=event == "step-failed"))
    steps += [Step(e["urn"], e["type"], e["op"], e.get("custom", True), e["t"] - origin, None)
              for e in started.values()]
    return sorted(steps, key=lambda s: s.start)


def ending_chain(steps: Sequence[Step], registered: float = 0.0) -> list[ChainLink]:
    """The steps that ended the phase, first to last: from the step whose outputs came last, back
    through, for each, the step whose outputs came last before it started (what it most likely
    waited for). Only the resources and providers count: a component's or the stack's outputs
    wait for their children, they hold nothing up. ``registered``: when the first link could have
    started (the SDK sends the registrations once the program's evaluation has ended)."""
    candidates = [s for s in steps if s.custom and s.end is not None]
    if not candidates:
        return []
    current = max(candidates, key=lambda s: s.end)
    links: list[ChainLink] = []
    while True:
        before = [s for s in candidates if s is not current and s.end <= current.start]
        if not before:
            links.append(ChainLink(current, max(0.0, current.start - registered)))
            return links[::-1]
        previous = max(before, key=lambda s: s.end)
        links.append(ChainLink(current, current.start - previous.end))
        current = previous


def phase_breakdown(timeline: Sequence[dict], phase: str) -> PhaseBreakdown | None:
    """Where the phase's time went; None when the timeline has no such phase."""
    entries = phase_entries(timeline, phase)
    if not entries or entries[-1]["event"] != "phase-end":
        return None
    origin, finish = entries[0]["t"], entries[-1]["t"]

    def first(event: str) -> float | None:
        return next((e["t"] - origin for e in entries if e["event"] == event), None)

    program_start, program_end = first("program-start"), first("program-end")
    steps = steps_of(entries, origin)
    ends = [s.end for s in steps if s.custom and s.end is not None]
    return PhaseBreakdown(
        phase=phase, seconds=finish - origin, engine_start=program_start,
        program=None if program_start is None or program_end is None else program_end - program_start,
        steps=steps, chain=ending_chain(steps, program_end or program_start or 0.0),
        tail=(finish - origin - max(ends)) if ends else None)


def before_first_phase(timeline: Sequence[dict], launched: float) -> tuple[float | None, float | None]:
    """(process start: launch -> the SDK imported, stack selection: -> the first phase starts)."""
    ready = next((e["t"] for e in timeline if e["event"] == "process-ready"), None)
    begun = next((e["t"] for e in timeline if e["event"] == "phase-start"), None)
    if ready is None or begun is None:
        return None, None
    return ready - launched, begun - ready


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render_breakdown(timeline: Sequence[dict], launched: float, total: float, label: str = "`up`") -> list[str]:
    """The lines --breakdown prints for one lab-pulumi run of ``total`` wall seconds."""
    process_start, selection = before_first_phase(timeline, launched)
    lines = [f"{label} {total:.1f} s, of which:",
             f"  python + SDK imports: {_seconds(process_start)}; stack selection (pulumi CLI): {_seconds(selection)}"]
    for phase in ("preview", "update", "destroy", "refresh"):
        part = phase_breakdown(timeline, phase)
        if part is None:
            continue
        lines.append(f"  {phase} {part.seconds:.1f} s: CLI + engine + language host start {_seconds(part.engine_start)}"
                     f", program evaluation {_seconds(part.program)}, after the last outputs {_seconds(part.tail)}")
        for step in part.providers:
            lines.append(f"    plugin {step.name:<38} start+configure {_seconds(step.seconds)}")
        for step in part.resources:
            lines.append(f"    {step.op:<8} {step.type.split(':')[-1] + ' ' + step.name:<44} "
                         f"at {step.start:5.1f} s, {_seconds(step.seconds)}{' FAILED' if step.failed else ''}")
        if part.chain:
            lines.append("    chain that ended it (wait since the previous outputs -> step):")
            lines += [f"      +{link.wait_before:4.1f} s -> {link.step.name} {_seconds(link.step.seconds)}"
                      for link in part.chain]
            waited = sum(link.wait_before for link in part.chain[1:])
            lines.append(f"    waits between the chain's steps: {waited:.1f} s")
    ends = [e["t"] for e in timeline if e["event"] == "phase-end"]
    if ends:
        lines.append(f"  from the last phase's end to the process's exit: {launched + total - ends[-1]:.1f} s")
    return lines


def growth_exponents(points: Sequence[tuple[int, float]]) -> list[float | None]:
    """log(t2/t1) / log(n2/n1) between successive (count, seconds) points: 1 is linear, below is
    better; None where a time is not above 0."""
    exponents: list[float | None] = []
    for (n1, t1), (n2, t2) in zip(points, points[1:], strict=False):
        exponents.append(math.log(t2 / t1) / math.log(n2 / n1) if t1 > 0 and t2 > 0 and n2 != n1 else None)
    return exponents


def counts(text: str) -> list[int]:
    """--scaling's list: whole numbers of at least 1, increasing."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not values or min(values) < 1 or values != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"{text!r}: give increasing whole numbers of at least 1, e.g. 8,32,128")
    return values


# --------------------------------------------------------------------------- runs (the lab)

@dataclass(frozen=True)
class Timed:
    """One lab-pulumi run: when it was launched (wall clock), its wall seconds, its timeline."""

    launched: float
    seconds: float
    timeline: list[dict]


@dataclass(frozen=True)
class Run:
    preview_fresh: Timed
    up: Timed
    preview_after: Timed
    destroy: Timed
    floor_preview: Timed  # the same path's preview and up of a program that declares nothing
    floor_up: Timed


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pulumi(project: Path, env: dict, operation: str, stack: str) -> tuple[Timed, dict]:
    """One lab-pulumi run and its --json document."""
    launched = time.time()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "lab.inline_pulumi", operation, "--stack", stack,
                             "--cwd", str(project), "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"pulumi {operation} printed no JSON (exit {result.returncode}):\n"
                         f"{result.stderr[-3000:]}") from None
    if not document["succeeded"]:
        raise SystemExit(f"pulumi {operation} failed: {document.get('error', '')[-2000:]}")
    return Timed(launched, seconds, document.get("timeline", [])), document


def set_replicas(project: Path, stack: str, replicas: int) -> None:
    """Both apps' replicas in the copy's stack file (before the stack exists: no CLI needed)."""
    import yaml

    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    config = document.setdefault("config", {})
    for key in ("serverReplicas", "lbserverReplicas"):
        config[f"devstack-k8s-apps:{key}"] = replicas
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def one_run(stack: str, profile: str, scale: float) -> Run:
    from lab.environment import Lab
    from lab.project_copy import copy_project

    with tempfile.TemporaryDirectory(prefix="deploy-benchmark-") as folder, \
            Lab(Path(folder) / "lab", profile=profile, delay_scale=scale, progress=say) as lab:
        env = lab.env()
        project = copy_project(Path(folder) / "project")
        preview_fresh, _ = pulumi(project, env, "preview", stack)
        up, _ = pulumi(project, env, "up", stack)
        preview_after, after = pulumi(project, env, "preview", stack)
        planned = [s for s in after["steps"] if s["op"] not in ("same", "read")]
        if planned:
            raise SystemExit(f"the preview after up still plans: {planned}")
        destroy, _ = pulumi(project, env, "destroy", stack)
        floor = empty_project(Path(folder) / "floor")
        floor_preview, _ = pulumi(floor, env, "preview", FLOOR_STACK)
        floor_up, _ = pulumi(floor, env, "up", FLOOR_STACK)
        return Run(preview_fresh, up, preview_after, destroy, floor_preview, floor_up)


FLOOR_STACK = "floor"


def empty_project(folder: Path) -> Path:
    """A Python project that declares no resource: its `up` is what Pulumi itself spends (the CLI's
    and the engine's starts, the language host, a preview then an update, the checkpoint), the
    least any program's `up` can take on this path."""
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text("name: floor\nruntime: python\n")
    (folder / "__main__.py").write_text("import pulumi\n")
    return folder


@dataclass(frozen=True)
class ScalePoint:
    replicas: int
    up: float
    verify: float
    verify_verdict: str
    probe: float
    probe_requests: int
    probe_pods: int  # distinct pods that answered
    probe_verdict: str


def scale_point(stack: str, profile: str, scale: float, replicas: int) -> ScalePoint:
    from lab.environment import Lab
    from lab.project_copy import copy_project

    with tempfile.TemporaryDirectory(prefix="deploy-benchmark-") as folder, \
            Lab(Path(folder) / "lab", profile=profile, delay_scale=scale, progress=say) as lab:
        env = lab.env()
        project = copy_project(Path(folder) / "project")
        set_replicas(project, stack, replicas)
        up, document = pulumi(project, env, "up", stack)
        started = time.monotonic()
        verified = subprocess.run([sys.executable, "-m", "verify", "--stack", stack, "--json"], cwd=project,
                                  env=env, capture_output=True, text=True)
        verify_seconds = time.monotonic() - started
        try:
            verify_verdict = json.loads(verified.stdout)["verdict"]
        except (json.JSONDecodeError, KeyError):
            verify_verdict = f"no JSON (exit {verified.returncode})"
        # Every pod must answer: the coupon collector's n*H(n) requests on average, so room for that.
        probed = subprocess.run([sys.executable, "-m", "probe", "--url", document["outputs"]["url"],
                                 "--min-pods", str(replicas), "--min-nodes", "2",
                                 "--requests", str(max(64, 12 * replicas)), "--concurrency", "8", "--json"],
                                cwd=REPO, env=env, capture_output=True, text=True)
        try:
            result = json.loads(probed.stdout)
            probe = (result["elapsed_seconds"], result["requests"], len(result["pods"]), result["verdict"])
        except (json.JSONDecodeError, KeyError, TypeError):
            probe = (math.nan, 0, 0, f"no JSON (exit {probed.returncode}): {probed.stderr.strip()[-300:]}")
        return ScalePoint(replicas, up.seconds, verify_seconds, verify_verdict, *probe)


def print_scaling(points: Sequence[ScalePoint]) -> None:
    print("scaling (replicas per app: up, verify, probe time to verdict with every pod answering):")
    for p in points:
        print(f"  {p.replicas:4d}: up {p.up:6.1f} s   verify {p.verify:5.1f} s ({p.verify_verdict})   "
              f"probe {p.probe:5.2f} s, {p.probe_requests} requests, {p.probe_pods} pods ({p.probe_verdict})")
    for name, values in (("up", [(p.replicas, p.up) for p in points]),
                         ("verify", [(p.replicas, p.verify) for p in points]),
                         ("probe", [(p.replicas, p.probe) for p in points])):
        exponents = growth_exponents(values)
        shown = ", ".join(f"{a}->{b}: {'-' if e is None else f'{e:.2f}'}"
                          for (a, _), (b, _), e in zip(values, values[1:], exponents, strict=False))
        print(f"  growth exponent of {name} (1 = linear): {shown}")


def median_run(runs: Sequence[Run], key: Callable[[Run], float]) -> Run:
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


OPERATIONS = (("preview, nothing deployed", "preview_fresh"), ("pulumi up", "up"),
              ("preview after up (no change)", "preview_after"), ("destroy", "destroy"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="devstack", choices=["devstack", "devstack-single"])
    parser.add_argument("--profile", default=PROFILE, choices=sorted(profiles.PROFILES),
                        help=f"the doubles' delay profile (default {PROFILE})")
    parser.add_argument("--delay-scale", type=float, default=0.1,
                        help="scale of the profile's delays (default 0.1: the devstack amphora boot 24 s)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="where the median run's `up` went")
    parser.add_argument("--scaling", type=counts, metavar="N,N,...",
                        help="also up, verify and probe at these replicas per app, one lab each")
    args = parser.parse_args()
    if not (args.delay_scale > 0 and args.delay_scale < 100):
        parser.error(f"argument --delay-scale: {args.delay_scale!r} must be above 0 and below 100")
    if args.runs < 1:
        parser.error(f"argument --runs: {args.runs!r} is below the minimum 1")
    critical, chains = critical_path_seconds(args.delay_scale, args.profile)
    runs = [one_run(args.stack, args.profile, args.delay_scale) for _ in range(args.runs)]
    points = [scale_point(args.stack, args.profile, args.delay_scale, n) for n in args.scaling or []]
    measured = statistics.median(r.up.seconds for r in runs)
    print(f"stack {args.stack}, profile {args.profile} x {args.delay_scale}, {args.runs} run(s)")
    for name, seconds in chains.items():
        print(f"  chain {name}: {seconds:.1f} s")
    for label, key in OPERATIONS:
        values = [getattr(r, key).seconds for r in runs]
        print(f"{label} (median): {statistics.median(values):.1f} s   runs: {', '.join(f'{v:.1f}' for v in values)}")
    print(f"critical path:      {critical:.1f} s")
    print(f"ratio up / critical path: {measured / critical:.2f}")
    floor_up = statistics.median(r.floor_up.seconds for r in runs)
    floor_preview = statistics.median(r.floor_preview.seconds for r in runs)
    print(f"Pulumi's own floor, a program that declares nothing, same path (median): preview {floor_preview:.1f} s, "
          f"up {floor_up:.1f} s: up / critical path cannot go below {(critical + floor_up) / critical:.2f}")
    if args.breakdown:
        for label, key in OPERATIONS:
            chosen: Timed = getattr(median_run(runs, lambda r, k=key: getattr(r, k).seconds), key)
            print("\n".join(render_breakdown(chosen.timeline, chosen.launched, chosen.seconds, label=label)))
    if points:
        print_scaling(points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
