"""verify/report.py: the checklist's lines, the summary and the JSON document."""

from __future__ import annotations

import pytest

from verify.checks import FAIL, OK, WARN, Check
from verify.report import render_text, to_json

pytestmark = pytest.mark.timeout(60)


def test_render_text_and_json_shape():
    checks = [Check("kubernetes", "replicas/server", OK, "server: 8/8 ready on master1, worker1, worker2"),
              Check("octavia", "health-monitor", WARN, "no health monitor", "pulumi config set ..."),
              Check("cinder", "volume", FAIL, "volume v missing", "openstack volume show v")]
    text = render_text("verify: stack devstack", checks)
    assert text.splitlines() == [
        "verify: stack devstack",
        "✓ kubernetes  server: 8/8 ready on master1, worker1, worker2",
        "! octavia     no health monitor → pulumi config set ...",
        "✗ cinder      volume v missing → openstack volume show v",
        "FAIL: 1 of 3 checks fail, 1 warning",
    ]
    ascii_line = render_text("t", checks, unicode=False).splitlines()[3]
    assert ascii_line == "x cinder      volume v missing -> openstack volume show v"
    assert to_json("devstack", checks) == {"stack": "devstack", "verdict": "fail", "checks": [
        {"side": c.side, "name": c.name, "status": c.status, "evidence": c.evidence, "next": c.next} for c in checks]}
