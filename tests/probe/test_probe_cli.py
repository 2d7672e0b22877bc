"""python -m probe end to end against real servers on loopback (nginx pods behind haproxy in TCP
mode): verdicts and exit codes, and the options it refuses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from harness import PROJECT_DIR
from loopback_lb import load_balanced, pod_answers
from probe_helpers import EIGHT_PODS_TWO_NODES, NUMERIC_FLAGS, probe, unreachable_url

from lab.ports import free_port
from probe.check import NO_IDENTITY
from probe.cli import build_parser

pytestmark = pytest.mark.timeout(60)


def test_balanced_pods_on_two_nodes_pass(balanced):
    code, report, _ = probe("--url", balanced, "--min-pods", "8", "--min-nodes", "2", "--json")
    assert code == 0, report
    assert report["verdict"] == "pass"
    assert set(report["pods"]) == {pod for pod, _ in EIGHT_PODS_TWO_NODES}
    assert set(report["nodes"]) == {"worker1", "master1"}
    assert report["errors"] == {}
    assert report["waiting"]["requests"] == 0 and report["waiting"]["errors"] == {}
    assert report["url"] == balanced
    assert 8 <= report["requests"] <= 64


def test_stops_as_soon_as_the_criteria_hold(balanced):
    code, report, _ = probe("--url", balanced, "--min-pods", "2", "--requests", "64", "--concurrency", "1", "--json")
    assert code == 0
    assert report["requests"] == 2, "round robin shows two pods on two nodes in two requests"


def test_eight_pods_on_one_node_fail_by_default_and_pass_with_min_nodes_1(tmp_path):
    with load_balanced(tmp_path, pod_answers([(f"server-{i}", "worker1") for i in range(8)])) as balancer:
        code, report, _ = probe("--url", balancer.url, "--requests", "16", "--json")
        single_code, single, _ = probe("--url", balancer.url, "--min-nodes", "1", "--json")
    assert code == 1 and report["verdict"] == "fail"
    assert len(report["pods"]) == 8 and report["nodes"] == {"worker1": 16}
    assert report["reason"] == "1 node answered, at least 2 required"
    assert single_code == 0 and single["verdict"] == "pass"
    assert single["reason"].endswith(f"on 1 node answered {single['requests']} requests")


def test_every_answer_from_one_pod_fails(tmp_path):
    with load_balanced(tmp_path, pod_answers([("server-only", "worker1")])) as balancer:
        code, report, _ = probe("--url", balancer.url, "--requests", "12", "--json")
    assert code == 1
    assert report["verdict"] == "fail"
    assert report["pods"] == {"server-only": 12}, "what was seen is reported even on failure"
    assert "1 pod answered, at least 2 required" in report["reason"]


def test_load_balancer_that_comes_up_while_the_probe_waits(tmp_path):
    with load_balanced(tmp_path, pod_answers(EIGHT_PODS_TWO_NODES), start=False) as balancer, \
            subprocess.Popen([sys.executable, "-m", "probe", "--url", balancer.url, "--deadline", "30", "--json"],
                             cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        # Start the balancer once the probe says it was refused, not after a fixed time: on a busy
        # machine the probe's own start-up can outlast any fixed delay.
        first_progress = process.stderr.readline()
        balancer.start()
        stdout, _ = process.communicate(timeout=40)
    report = json.loads(stdout)
    assert process.returncode == 0, report
    assert first_progress.startswith(f"waiting for {balancer.url}: connection-refused (attempt 1, ")
    waiting = report["waiting"]
    assert waiting["seconds"] > 0 and waiting["requests"] >= 1
    assert waiting["errors"].get("connection-refused", 0) >= 1
    assert waiting["requests"] == sum(waiting["errors"].values())
    assert "connection-refused" not in report["errors"], "refusals while waiting are not the verdict's errors"


def test_nothing_listening_is_unreachable():
    code, report, stderr = probe("--url", unreachable_url(), "--deadline", "1.5", "--json")
    assert code == 3
    assert report["verdict"] == "unreachable"
    assert report["requests"] == 0 and report["pods"] == {} and report["errors"] == {}
    assert report["waiting"]["errors"]["connection-refused"] >= 2
    assert "no answer within 1.5s" in report["reason"]
    assert "waiting for" in stderr


def test_a_503_is_not_an_answer_yet(tmp_path):
    with load_balanced(tmp_path, {free_port(): (503, "503 Service Unavailable\n")}) as balancer:
        code, report, _ = probe("--url", balancer.url, "--deadline", "1.5", "--json")
    assert code == 3
    assert report["verdict"] == "unreachable"
    assert report["waiting"]["errors"]["http-503"] >= 2 and "http-503" in report["reason"]


def test_one_dead_member_without_health_monitor_is_reported_but_tolerated(tmp_path):
    pods = pod_answers(EIGHT_PODS_TWO_NODES[:7])
    dead = free_port()  # nothing listens: haproxy has no health check to skip it
    with load_balanced(tmp_path, pods, members=[dead, *pods]) as balancer:
        code, report, _ = probe("--url", balancer.url, "--min-pods", "7", "--min-nodes", "2", "--concurrency", "8",
                                "--json")
    assert code == 0, report
    assert len(report["pods"]) == 7
    assert report["errors"] and set(report["errors"]) <= {"connection-error", "read-timeout"}


def test_too_many_dead_members_fail(tmp_path):
    pods = pod_answers(EIGHT_PODS_TWO_NODES[:4])
    dead = [free_port() for _ in range(4)]
    with load_balanced(tmp_path, pods, members=[p for pair in zip(dead, pods, strict=True) for p in pair]) as balancer:
        code, report, _ = probe("--url", balancer.url, "--min-pods", "4", "--requests", "16", "--concurrency", "8",
                                "--json")
    assert code == 1, report
    assert "requests failed" in report["reason"]
    assert len(report["pods"]) == 4


def test_answers_without_identity_fail(tmp_path):
    with load_balanced(tmp_path, {free_port(): (200, "<h1>Welcome to nginx!</h1>\n") for _ in range(2)}) as balancer:
        code, report, _ = probe("--url", balancer.url, "--json")
    assert code == 1
    assert report["errors"][NO_IDENTITY] >= 1 and report["pods"] == {}
    assert "no 'Server <pod> on <node>' line" in report["reason"]


@pytest.mark.parametrize("args, message", [
    (["--url", "ftp://host/"], "is not an http:// or https:// URL"),
    (["--url", "http://"], "is not an http:// or https:// URL"),
    (["--url", "http://a..b/"], "'a..b' of http://a..b/ is not a valid name"),
    (["--url", "http://a/", "--stack", "s"], "not allowed with argument"),
    (["--min-pods", "0"], "argument --min-pods: '0' is below the minimum 1"),
    (["--requests", "x"], "argument --requests: 'x' is not a whole number"),
    (["--max-error-ratio", "1.5"], "argument --max-error-ratio: '1.5' is above the maximum 1"),
    (["--max-error-ratio", "nan"], "argument --max-error-ratio: 'nan' is not a finite number"),
    (["--deadline", "-1"], "argument --deadline: '-1' is below the minimum 0.1"),
    (["--deadline", "inf"], "argument --deadline: 'inf' is not a finite number"),
    (["--deadline", "86401"], "argument --deadline: '86401' is above the maximum 86400"),
    (["--deadline", "-inf"], "argument --deadline: expected one argument"),  # argparse takes -inf for a flag
    (["--concurrency", "257"], "argument --concurrency: '257' is above the maximum 256"),
])
def test_bad_arguments_exit_2(args, message):
    # A reachable-looking target and a short deadline first: only the bad argument can make it exit 2,
    # and a probe that accepted it would not run long.
    target = [] if {"--url", "--stack"} & set(args) else ["--url", unreachable_url(), "--deadline", "2"]
    code, _, stderr = probe(*target, *args, timeout=30)
    assert code == 2 and message in stderr, stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "Infinity", "1e400"])
@pytest.mark.parametrize("flag", NUMERIC_FLAGS)
def test_every_numeric_flag_refuses_non_finite_numbers(flag, value, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([f"{flag}={value}"])
    assert exited.value.code == 2
    assert f"argument {flag}: {value!r} is not a" in capsys.readouterr().err


@pytest.mark.parametrize("runs", ["0", "-1"])
def test_benchmark_refuses_fewer_than_one_run(runs):
    result = subprocess.run([sys.executable, "benchmarks/probe_benchmark.py", "--runs", runs], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"argument --runs: '{runs}' is below the minimum 1" in result.stderr
    assert not result.stdout, "refused before starting any server"
