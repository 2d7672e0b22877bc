"""verify/kube_side.py: the real Kubernetes client pointed at a closed port, and the facts it
builds from API objects."""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client
from verify_builders import EXTERNAL_IP, closed_port_kubeconfig, verify

from policy.devstack_domain import EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL
from verify.checks import FAIL, eligible_nodes
from verify.cli import main
from verify.kube_side import looks_like_contents, node_facts

pytestmark = pytest.mark.timeout(60)


def test_kubernetes_api_on_a_closed_port_exits_3_quickly(tmp_path):
    kubeconfig = closed_port_kubeconfig(tmp_path / "kubeconfig")
    started = time.monotonic()
    result = verify("--no-stack", "--kubeconfig", str(kubeconfig), "--json", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "unreachable"
    assert [(check["side"], check["name"], check["status"]) for check in document["checks"]] == [
        ("kubernetes", "unreachable", FAIL)]
    assert "connection refused" in document["checks"][0]["evidence"]
    assert document["checks"][0]["next"].startswith("kubectl cluster-info")
    assert elapsed < 25, f"took {elapsed:.1f}s"


def test_kubeconfig_from_the_stack_config_is_used(tmp_path, capsys):
    """The stack's kubernetes:kubeconfig (as pulumi-kubernetes reads it) is where verify looks."""
    kubeconfig = closed_port_kubeconfig(tmp_path / "kubeconfig")
    (tmp_path / "config.json").write_text(json.dumps({"kubernetes:kubeconfig": {"value": str(kubeconfig)}}))
    (tmp_path / "outputs.json").write_text(json.dumps({"url": f"http://{EXTERNAL_IP}/"}))
    from verify.cli import real_sides

    code = main(["--outputs-json", str(tmp_path / "outputs.json"), "--config-json", str(tmp_path / "config.json")],
                real_sides())
    out = capsys.readouterr().out
    assert code == 3 and "✗ kubernetes  cannot reach the API at https://127.0.0.1:" in out


def api_node(name: str, labels: dict[str, str], ready: str = "True") -> client.V1Node:
    """A node as the Kubernetes client returns it from list_node."""
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1NodeSpec(provider_id=f"openstack:///{name}-server"),
        status=client.V1NodeStatus(addresses=[client.V1NodeAddress(type="InternalIP", address="127.0.1.9")],
                                   conditions=[client.V1NodeCondition(type="Ready", status=ready)]),
    )


def test_node_facts_keep_the_labels_the_member_rule_reads():
    kubeadm_master = api_node("master1", {"node-role.kubernetes.io/control-plane": "",
                                          EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: ""})
    facts = node_facts(kubeadm_master)
    assert facts.labels[EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL] == "" and facts.control_plane
    assert facts.internal_ip == "127.0.1.9" and facts.server_id == "master1-server" and facts.ready
    kept = node_facts(api_node("master1", {EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: "false"}))
    not_ready = node_facts(api_node("worker1", {}, ready="Unknown"))
    assert not not_ready.ready
    assert [node.name for node in eligible_nodes([facts, kept, not_ready])] == ["master1", "worker1"]


def test_a_node_without_labels_has_none():
    bare = client.V1Node(metadata=client.V1ObjectMeta(name="worker2"), spec=client.V1NodeSpec(),
                         status=client.V1NodeStatus())
    facts = node_facts(bare)
    assert facts.labels == {} and not facts.ready and not facts.control_plane and facts.internal_ip is None


@pytest.mark.parametrize("kubeconfig, contents", [
    ("~/.kube/config", False), ("/tmp/lab/kubeconfig", False), ("apiVersion: v1\nkind: Config\n", True),
    ('{"apiVersion": "v1"}', True), ("  apiVersion: v1", True),
])
def test_a_kubeconfig_setting_is_a_path_or_the_contents(kubeconfig, contents):
    assert looks_like_contents(kubeconfig) is contents
