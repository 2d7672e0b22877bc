"""probe/check.py: the verdict's rules, the wait and the sampling, on scripted fetches and
against a real load balancer."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from probe_helpers import FakeTime, scripted_fetch

from probe.check import NO_IDENTITY, Outcome, ProbeOptions, Tally, evaluate, run_probe
from probe.cli import build_parser
from probe.identity import Identity, parse_identity
from probe.report import render_text

pytestmark = pytest.mark.timeout(60)


def test_a_keep_alive_client_sees_one_pod_but_the_probe_sees_all(balanced):
    with requests.Session() as session:  # one TCP connection, reused
        seen = Counter(parse_identity(session.get(balanced, timeout=5).text).pod for _ in range(16))
    assert len(seen) == 1, "haproxy in TCP mode pins a kept-alive connection to one member"

    result = run_probe(ProbeOptions(url=balanced, min_pods=8, min_nodes=2, deadline=20))
    assert result.verdict == "pass" and len(result.tally.pods) == 8


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


def test_no_request_gets_more_time_than_the_deadline_leaves():
    fetch, calls = scripted_fetch([Outcome(Identity("same-pod", "n1"))])
    run_probe(ProbeOptions(url="http://x/", requests=5, deadline=2, connect_timeout=1e300, read_timeout=1e300),
              fetch=fetch)
    assert len(calls) == 5 and max(max(pair) for pair in calls) <= 2, calls


def test_sampling_is_bounded_in_count():
    fetch, calls = scripted_fetch([Outcome(Identity("same-pod", "n1"))])
    result = run_probe(ProbeOptions(url="http://x/", requests=10, min_pods=2), fetch=fetch)
    assert result.verdict == "fail" and len(calls) == 10
