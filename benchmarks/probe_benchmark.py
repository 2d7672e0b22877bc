"""Time to verdict and requests used by the probe, 8 pods on 2 nodes behind haproxy (TCP).

    venv/bin/python benchmarks/probe_benchmark.py [--runs N]

Prints one line per scenario (balanced; one dead member, no health monitor) with the
median and spread over N runs, so figures compare from run to run. Needs nginx and
haproxy (./scripts/test installs them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]

from loopback_lb import haproxy, nginx_servers, pod_answers  # noqa: E402 - after the sys.path insert

from lab.ports import free_port  # noqa: E402 - after the sys.path insert
from probe.check import ProbeOptions, run_probe  # noqa: E402 - after the sys.path insert
from probe.cli import in_range  # noqa: E402 - after the sys.path insert

PODS = [(f"server-{i}", "worker1" if i % 2 else "master1") for i in range(8)]


def measure(url: str, runs: int) -> tuple[list[float], list[int], set[str]]:
    seconds, counts, verdicts = [], [], set()
    for _ in range(runs):
        result = run_probe(ProbeOptions(url=url, min_pods=len(PODS) - 1, min_nodes=2, deadline=60))
        seconds.append(result.elapsed_seconds)
        counts.append(result.tally.requests)
        verdicts.add(result.verdict)
    return seconds, counts, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # At least one run: the median of no runs is undefined.
    parser.add_argument("--runs", type=in_range(1), default=5, help="runs per scenario (default 5)")
    runs = parser.parse_args().runs
    print(f"probe --min-pods {len(PODS) - 1} --min-nodes 2, 8 pods on 2 nodes, haproxy roundrobin, {runs} runs")
    with tempfile.TemporaryDirectory() as workdir:
        pods = pod_answers(PODS)
        with nginx_servers(Path(workdir) / "nginx", pods):
            for scenario, members in (("balanced", list(pods)), ("one dead member", [free_port(), *list(pods)[1:]])):
                port = free_port()
                with haproxy(Path(workdir) / scenario.replace(" ", "-"), port, members):
                    seconds, counts, verdicts = measure(f"http://127.0.0.1:{port}/", runs)
                print(f"{scenario:16} time to verdict median {statistics.median(seconds):.3f}s "
                      f"(min {min(seconds):.3f}, max {max(seconds):.3f}); requests median "
                      f"{statistics.median(counts):g} (min {min(counts)}, max {max(counts)}); "
                      f"verdicts {sorted(verdicts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
