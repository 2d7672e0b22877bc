"""python -m probe against real servers on loopback: nginx pods behind haproxy in TCP mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter

import pytest
import requests

from harness import PROJECT_DIR
from loopback_lb import free_port, haproxy, nginx_servers, pod_answers
from probe.check import NO_IDENTITY, Outcome, ProbeOptions, Tally, evaluate, run_probe
from probe.identity import Identity, parse_identity

pytestmark = pytest.mark.timeout(60)

EIGHT_PODS_TWO_NODES = [(f"server-{i}", "worker1" if i % 2 else "master1") for i in range(8)]


def probe(*args: str, env: dict | None = None) -> tuple[int, dict | str, str]:
    """Run the CLI; returns exit code, the parsed JSON (or text) and stderr."""
    result = subprocess.run([sys.executable, "-m", "probe", *args], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=60, env=env)
    out = json.loads(result.stdout) if "--json" in args and result.stdout else result.stdout
    return result.returncode, out, result.stderr


@pytest.fixture
def balanced(tmp_path):
    """8 pods on 2 nodes behind haproxy; yields (url, pod ports)."""
    pods = pod_answers(EIGHT_PODS_TWO_NODES)
    with nginx_servers(tmp_path / "nginx", pods):
        port = free_port()
        with haproxy(tmp_path / "haproxy", port, list(pods)):
            yield f"http://127.0.0.1:{port}/", pods


def test_balanced_pods_on_two_nodes_pass(balanced):
    url, _ = balanced
    code, report, _ = probe("--url", url, "--min-pods", "8", "--min-nodes", "2", "--json")
    assert code == 0, report
    assert report["verdict"] == "pass"
    assert set(report["pods"]) == {pod for pod, _ in EIGHT_PODS_TWO_NODES}
    assert set(report["nodes"]) == {"worker1", "master1"}
    assert report["errors"] == {}
    assert report["url"] == url
    assert 8 <= report["requests"] <= 64


def test_stops_as_soon_as_the_criteria_hold(balanced):
    url, _ = balanced
    code, report, _ = probe("--url", url, "--min-pods", "2", "--requests", "64", "--concurrency", "1", "--json")
    assert code == 0
    assert report["requests"] == 2, "round robin shows two pods in two requests"


def test_human_report_draws_bars_per_pod_and_node(balanced):
    url, _ = balanced
    code, text, stderr = probe("--url", url, "--min-pods", "8", "--min-nodes", "2")
    assert code == 0
    assert text.startswith("PASS: 8 pods on 2 nodes")
    for pod, _ in EIGHT_PODS_TWO_NODES:
        assert any(line.strip().startswith(pod) and "█" in line for line in text.splitlines())
    assert "nodes:" in text and "master1" in text and "answers after" in stderr


def test_every_answer_from_one_pod_fails(tmp_path):
    pods = pod_answers([("server-only", "worker1")])
    with nginx_servers(tmp_path / "nginx", pods):
        port = free_port()
        with haproxy(tmp_path / "haproxy", port, list(pods)):
            code, report, _ = probe("--url", f"http://127.0.0.1:{port}/", "--requests", "12", "--json")
    assert code == 1
    assert report["verdict"] == "fail"
    assert report["pods"] == {"server-only": 12}, "what was seen is reported even on failure"
    assert "1 pod(s) answered, at least 2 required" in report["reason"]


def test_load_balancer_that_appears_after_some_seconds(tmp_path):
    pods = pod_answers(EIGHT_PODS_TWO_NODES)
    with nginx_servers(tmp_path / "nginx", pods):
        port = free_port()
        with haproxy(tmp_path / "haproxy", port, list(pods), start=False) as balancer:
            timer = threading.Timer(2.0, balancer.start)
            timer.start()
            try:
                code, report, stderr = probe("--url", f"http://127.0.0.1:{port}/", "--deadline", "30", "--json")
            finally:
                timer.join()
    assert code == 0, report
    assert report["waited_seconds"] >= 1.5 and report["wait_attempts"] >= 2
    assert report["errors"].get("connection-refused", 0) >= 1
    assert "waiting for" in stderr and "connection-refused" in stderr


def test_nothing_listening_is_unreachable():
    code, report, stderr = probe("--url", f"http://127.0.0.1:{free_port()}/", "--deadline", "1.5", "--json")
    assert code == 3
    assert report["verdict"] == "unreachable"
    assert report["pods"] == {} and report["errors"]["connection-refused"] >= 2
    assert "no answer within 1.5s" in report["reason"]
    assert "waiting for" in stderr


def test_a_503_is_not_an_answer_yet(tmp_path):
    port = free_port()
    with nginx_servers(tmp_path / "nginx", {port: (503, "503 Service Unavailable\n")}):
        code, report, _ = probe("--url", f"http://127.0.0.1:{port}/", "--deadline", "1.5", "--json")
    assert code == 3
    assert report["verdict"] == "unreachable"
    assert report["errors"]["http-503"] >= 2 and "http-503" in report["reason"]


def test_one_dead_member_without_health_monitor_is_reported_but_tolerated(tmp_path):
    pods = pod_answers(EIGHT_PODS_TWO_NODES[:7])
    dead = free_port()  # nothing listens: haproxy has no health check to skip it
    with nginx_servers(tmp_path / "nginx", pods):
        port = free_port()
        with haproxy(tmp_path / "haproxy", port, [dead, *pods]):
            code, report, _ = probe("--url", f"http://127.0.0.1:{port}/", "--min-pods", "7", "--min-nodes", "2",
                                    "--concurrency", "8", "--json")
    assert code == 0, report
    assert len(report["pods"]) == 7
    assert report["errors"] and set(report["errors"]) <= {"connection-error", "read-timeout"}


def test_too_many_dead_members_fail(tmp_path):
    pods = pod_answers(EIGHT_PODS_TWO_NODES[:4])
    dead = [free_port() for _ in range(4)]
    with nginx_servers(tmp_path / "nginx", pods):
        port = free_port()
        members = [p for pair in zip(dead, pods) for p in pair]
        with haproxy(tmp_path / "haproxy", port, members):
            code, report, _ = probe("--url", f"http://127.0.0.1:{port}/", "--min-pods", "4", "--requests", "16",
                                    "--concurrency", "8", "--json")
    assert code == 1, report
    assert "requests failed" in report["reason"]
    assert len(report["pods"]) == 4


def test_answers_without_identity_fail(tmp_path):
    ports = {free_port(): (200, "<h1>Welcome to nginx!</h1>\n") for _ in range(2)}
    with nginx_servers(tmp_path / "nginx", ports):
        port = free_port()
        with haproxy(tmp_path / "haproxy", port, list(ports)):
            code, report, _ = probe("--url", f"http://127.0.0.1:{port}/", "--json")
    assert code == 1
    assert report["errors"][NO_IDENTITY] >= 1 and report["pods"] == {}
    assert "no 'Server <pod> on <node>' line" in report["reason"]


def test_a_keep_alive_client_sees_one_pod_but_the_probe_sees_all(balanced):
    url, _ = balanced
    with requests.Session() as session:  # one TCP connection, reused
        seen = Counter(parse_identity(session.get(url, timeout=5).text).pod for _ in range(16))
    assert len(seen) == 1, "haproxy in TCP mode pins a kept-alive connection to one member"

    result = run_probe(ProbeOptions(url=url, min_pods=8, min_nodes=2, deadline=20))
    assert result.verdict == "pass" and len(result.tally.pods) == 8


@pytest.fixture
def fake_pulumi(tmp_path):
    """A `pulumi` on PATH that prints the given stack outputs and records its arguments."""

    def install(outputs: dict | None, exit_code: int = 0) -> dict:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        script = bin_dir / "pulumi"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$@" > {tmp_path}/pulumi-args\n'
            f"cat <<'EOF'\n{json.dumps(outputs)}\nEOF\n"
            f"[ {exit_code} -eq 0 ] || echo 'error: no stack named devstack found' >&2\n"
            f"exit {exit_code}\n"
        )
        script.chmod(0o755)
        return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    return install


def test_url_comes_from_the_stack_output(balanced, fake_pulumi, tmp_path):
    url, _ = balanced
    env = fake_pulumi({"url": url, "externalIp": "127.0.0.1"})
    code, report, _ = probe("--stack", "devstack", "--json", env=env)
    assert code == 0 and report["url"] == url
    assert (tmp_path / "pulumi-args").read_text().split() == ["stack", "output", "--json", "--stack", "devstack"]


def test_stack_without_url_is_a_usage_error(fake_pulumi):
    code, _, stderr = probe("--stack", "devstack", env=fake_pulumi({"externalIp": None}))
    assert code == 2 and "no `url` output" in stderr


def test_failing_pulumi_is_a_usage_error(fake_pulumi):
    code, _, stderr = probe("--stack", "devstack", env=fake_pulumi({}, exit_code=255))
    assert code == 2 and "no stack named devstack" in stderr


def test_missing_pulumi_cli_is_a_usage_error():
    code, _, stderr = probe(env={"PATH": "/nonexistent"})
    assert code == 2 and "pulumi CLI is not on PATH" in stderr


@pytest.mark.parametrize("args", [["--url", "ftp://host/"], ["--url", "http://"], ["--min-pods", "0"],
                                  ["--requests", "x"], ["--url", "http://a/", "--stack", "s"],
                                  ["--max-error-ratio", "1.5"], ["--deadline", "-1"]])
def test_bad_arguments_exit_2(args):
    code, _, stderr = probe(*args)
    assert code == 2 and "error" in stderr


def test_parse_identity():
    assert parse_identity("Server server-x7k2p on worker1\n") == Identity("server-x7k2p", "worker1")
    assert parse_identity("<html>\nServer a on b\n</html>") == Identity("a", "b")
    assert parse_identity("Welcome to nginx!") is None
    assert parse_identity("Server  on worker1") is None


def test_evaluate_names_every_problem():
    tally = Tally()
    for outcome in [Outcome(Identity("p1", "n1")), Outcome(error="connection-error"), Outcome(error=NO_IDENTITY)]:
        tally.add(outcome)
    verdict, reason = evaluate(tally, ProbeOptions(url="http://x/", min_pods=2, min_nodes=2, max_error_ratio=0.5))
    assert verdict == "fail"
    for fragment in ("1 answer(s) had no", "1 pod(s) answered", "1 node(s) answered", "2 of 3 requests failed"):
        assert fragment in reason


def test_sampling_is_bounded_in_count():
    calls = []

    def fetch(url, connect, read):
        calls.append(url)
        return Outcome(Identity("same-pod", "n1"))

    result = run_probe(ProbeOptions(url="http://x/", requests=10, min_pods=2), fetch=fetch)
    assert result.verdict == "fail" and len(calls) == 10
