"""probe/report.py: the human report's verdict line, header and bars."""

from __future__ import annotations

import pytest
from probe_helpers import EIGHT_PODS_TWO_NODES, FakeTime, probe, scripted_fetch

from probe.check import Outcome, ProbeOptions, run_probe
from probe.identity import Identity
from probe.report import render_text

pytestmark = pytest.mark.timeout(60)


def test_human_report_draws_bars_per_pod_and_node(balanced):
    code, text, stderr = probe("--url", balanced, "--min-pods", "8", "--min-nodes", "2")
    assert code == 0
    assert text.startswith("PASS: 8 pods on 2 nodes")
    for pod, _ in EIGHT_PODS_TWO_NODES:
        assert any(line.strip().startswith(pod) and "█" in line for line in text.splitlines())
    assert "nodes:" in text and "master1" in text and "answers after" in stderr
    assert "answering at once" in text and "errors while waiting: none" in text


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
