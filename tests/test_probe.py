"""python -m probe against real servers on loopback: nginx pods behind haproxy in TCP mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter

import pytest
import requests
from harness import PROJECT_DIR
from loopback_lb import free_port, load_balanced, pod_answers

from probe.check import NO_IDENTITY, Outcome, ProbeOptions, Tally, evaluate, run_probe
from probe.cli import build_parser
from probe.identity import Identity, parse_identity
from probe.report import render_text

pytestmark = pytest.mark.timeout(60)

EIGHT_PODS_TWO_NODES = [(f"server-{i}", "worker1" if i % 2 else "master1") for i in range(8)]
NUMERIC_FLAGS = ["--min-pods", "--min-nodes", "--requests", "--deadline", "--concurrency", "--max-error-ratio",
                 "--connect-timeout", "--read-timeout"]
UNRESOLVABLE_HOST = "no-such-host.invalid"  # RFC 6761: names under .invalid never resolve


def probe(*args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, dict | str, str]:
    """Run the CLI; returns exit code, the parsed JSON (or text) and stderr."""
    result = subprocess.run([sys.executable, "-m", "probe", *args], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=timeout, env=env)
    out = json.loads(result.stdout) if "--json" in args and result.stdout else result.stdout
    return result.returncode, out, result.stderr


def unreachable_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/"


def scripted_fetch(outcomes: list[Outcome]):
    """A fetch that answers the outcomes in turn, then the last one again; records its timeouts."""
    calls = []

    def fetch(url, connect_timeout, read_timeout):
        calls.append((connect_timeout, read_timeout))
        return outcomes[min(len(calls), len(outcomes)) - 1]

    return fetch, calls


class FakeTime:
    """A clock that only sleeping moves: the waiting phase runs at once, and the same way every time."""

    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def balanced(tmp_path):
    """8 pods on 2 nodes behind haproxy; yields its URL."""
    with load_balanced(tmp_path, pod_answers(EIGHT_PODS_TWO_NODES)) as balancer:
        yield balancer.url


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


def test_human_report_draws_bars_per_pod_and_node(balanced):
    code, text, stderr = probe("--url", balanced, "--min-pods", "8", "--min-nodes", "2")
    assert code == 0
    assert text.startswith("PASS: 8 pods on 2 nodes")
    for pod, _ in EIGHT_PODS_TWO_NODES:
        assert any(line.strip().startswith(pod) and "█" in line for line in text.splitlines())
    assert "nodes:" in text and "master1" in text and "answers after" in stderr
    assert "answering at once" in text and "errors while waiting: none" in text


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
    with load_balanced(tmp_path, pod_answers(EIGHT_PODS_TWO_NODES), start=False) as balancer:
        with subprocess.Popen([sys.executable, "-m", "probe", "--url", balancer.url, "--deadline", "30", "--json"],
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
    with load_balanced(tmp_path, pods, members=[p for pair in zip(dead, pods) for p in pair]) as balancer:
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


def test_a_keep_alive_client_sees_one_pod_but_the_probe_sees_all(balanced):
    with requests.Session() as session:  # one TCP connection, reused
        seen = Counter(parse_identity(session.get(balanced, timeout=5).text).pod for _ in range(16))
    assert len(seen) == 1, "haproxy in TCP mode pins a kept-alive connection to one member"

    result = run_probe(ProbeOptions(url=balanced, min_pods=8, min_nodes=2, deadline=20))
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
    env = fake_pulumi({"url": balanced, "externalIp": "127.0.0.1"})
    code, report, _ = probe("--stack", "devstack", "--json", env=env)
    assert code == 0 and report["url"] == balanced
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


def test_a_host_that_does_not_resolve_is_a_usage_error_at_once():
    with pytest.raises(socket.gaierror) as resolver:
        socket.getaddrinfo(UNRESOLVABLE_HOST, None)
    # Without the check it would wait the whole deadline; the timeout bounds the test either way.
    code, _, stderr = probe("--url", f"http://{UNRESOLVABLE_HOST}:8080/", "--deadline", "20", timeout=40)
    assert code == 2, stderr
    assert f"the host '{UNRESOLVABLE_HOST}' of http://{UNRESOLVABLE_HOST}:8080/ does not resolve" in stderr
    assert resolver.value.strerror in stderr
    assert "waiting for" not in stderr


def test_a_stack_url_that_does_not_resolve_is_a_usage_error(fake_pulumi):
    env = fake_pulumi({"url": f"http://{UNRESOLVABLE_HOST}/"})
    code, _, stderr = probe("--stack", "devstack", "--deadline", "20", env=env, timeout=40)
    assert code == 2 and "does not resolve" in stderr and "waiting for" not in stderr


@pytest.mark.parametrize("runs", ["0", "-1"])
def test_benchmark_refuses_fewer_than_one_run(runs):
    result = subprocess.run([sys.executable, "benchmarks/probe_benchmark.py", "--runs", runs], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"argument --runs: '{runs}' is below the minimum 1" in result.stderr
    assert not result.stdout, "refused before starting any server"


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
    assert reason == ("1 answer had no 'Server <pod> on <node>' line; 1 pod answered, at least 2 required; "
                      "1 node answered, at least 2 required; 2 of 3 requests failed (67% > 50%)")


@pytest.mark.parametrize("identities, expected", [
    ([Identity("p1", "n1")], "1 pod on 1 node answered 1 request"),
    ([Identity("p1", "n1"), Identity("p2", "n2")], "2 pods on 2 nodes answered 2 requests"),
])
def test_verdict_counts_in_singular_and_plural(identities, expected):
    tally = Tally()
    for identity in identities:
        tally.add(Outcome(identity))
    assert evaluate(tally, ProbeOptions(url="http://x/", min_pods=1, min_nodes=1)) == ("pass", expected)


def test_default_asks_for_two_nodes():
    tally = Tally()
    for pod in ("p1", "p2", "p3"):
        tally.add(Outcome(Identity(pod, "n1")))
    assert evaluate(tally, ProbeOptions(url="http://x/")) == ("fail", "1 node answered, at least 2 required")
    assert build_parser().parse_args([]).min_nodes == 2


def test_refusals_while_waiting_are_apart_from_the_verdict():
    fetch, calls = scripted_fetch([Outcome(error="connection-refused")] * 3
                                  + [Outcome(Identity("p1", "n1")), Outcome(Identity("p2", "n2"))])
    time = FakeTime()
    result = run_probe(ProbeOptions(url="http://x/", concurrency=1), fetch=fetch, clock=time.clock, sleep=time.sleep)
    assert len(calls) == 5
    assert result.verdict == "pass" and result.reason == "2 pods on 2 nodes answered 2 requests"
    report = result.to_json()
    assert report["requests"] == 2 and report["errors"] == {}
    assert report["waiting"]["requests"] == 3 and report["waiting"]["errors"] == {"connection-refused": 3}
    header = render_text(result).splitlines()[1]
    assert header.startswith("url http://x/: 2 requests for the verdict in ")
    assert header.endswith("answering after 3.5s and 3 failed attempts"), "backoff 0.5 + 1 + 2 seconds"


def test_singular_counts_in_the_report_header():
    fetch, _ = scripted_fetch([Outcome(error="connection-refused"), Outcome(Identity("p1", "n1"))])
    time = FakeTime()
    result = run_probe(ProbeOptions(url="http://x/", min_pods=1, min_nodes=1), fetch=fetch, clock=time.clock,
                       sleep=time.sleep)
    text = render_text(result)
    assert text.startswith("PASS: 1 pod on 1 node answered 1 request\nurl http://x/: 1 request for the verdict")
    assert "answering after 0.5s and 1 failed attempt\n" in text


def test_an_unreachable_report_does_not_claim_an_answer():
    fetch, _ = scripted_fetch([Outcome(error="connection-refused")])
    time = FakeTime()
    # Attempts at 0, 0.5, 1.5 and 2 seconds: the backoff doubles, the last sleep is cut to the deadline.
    result = run_probe(ProbeOptions(url="http://x/", deadline=2), fetch=fetch, clock=time.clock, sleep=time.sleep)
    text = render_text(result)
    assert result.verdict == "unreachable" and result.tally.requests == 0
    assert "answering" not in text
    header, *charts = text.splitlines()[1:]
    assert header == "url http://x/: no answer in 2.0s (4 attempts)"
    assert charts[0] == "errors while waiting:" and charts[1].strip().startswith("connection-refused")
    assert not any(line.startswith(("pods", "nodes", "errors:")) for line in charts)


def test_no_request_gets_more_time_than_the_deadline_leaves():
    fetch, calls = scripted_fetch([Outcome(Identity("same-pod", "n1"))])
    run_probe(ProbeOptions(url="http://x/", requests=5, deadline=2, connect_timeout=1e300, read_timeout=1e300),
              fetch=fetch)
    assert len(calls) == 5 and max(max(pair) for pair in calls) <= 2, calls


def test_sampling_is_bounded_in_count():
    fetch, calls = scripted_fetch([Outcome(Identity("same-pod", "n1"))])
    result = run_probe(ProbeOptions(url="http://x/", requests=10, min_pods=2), fetch=fetch)
    assert result.verdict == "fail" and len(calls) == 10
