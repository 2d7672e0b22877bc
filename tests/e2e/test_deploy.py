"""The whole article in the lab: `pulumi up`, the probe, the article's Cinder checks, and
`pulumi destroy` leaving nothing behind, with the real CLI, providers and control plane.

The lab's doubles play only the OpenStack APIs (with real haproxy amphorae), the Cinder CSI
driver, the cloud controller, the kubelets' containers and kube-proxy (see lab/).
"""
from __future__ import annotations

import json
import sys

import pytest
from conftest import config_set, converge, lab_pulumi, openstack_fault, planned_changes, run
from kubernetes import client, config
from openstack import config as os_config
from openstack import connection

from lab.cluster import ClusterShape

BUILT_IN = ("default", "kube-system", "kube-public", "kube-node-lease")
SERVER_BY_ID = {shape.server_id: shape.name for shape in ClusterShape().nodes}
EXPECTED_OUTPUTS = {"externalIp", "url", "loadBalancerId", "storageClassName", "claimName",
                    "serviceName", "serverReplicas", "lbserverReplicas"}


def kube(env: dict) -> client.ApiClient:
    return config.new_client_from_config(config_file=env["KUBECONFIG"])


def cloud(env: dict) -> connection.Connection:
    """openstacksdk on the lab's clouds.yaml, as admin (the article's `openstack` commands)."""
    clouds = os_config.OpenStackConfig(config_files=[env["OS_CLIENT_CONFIG_FILE"]])
    return connection.Connection(config=clouds.get_one("devstack-admin"))


def set_delays(env: dict, **seconds: float) -> None:
    """The OpenStack double's fault hook (not an OpenStack API): change its delays from now on."""
    openstack_fault(env, "/lab/faults/delays", seconds)


def probe(url: str, min_nodes: int, env: dict) -> dict:
    result = run([sys.executable, "-m", "probe", "--url", url, "--min-nodes", str(min_nodes),
                  "--deadline", "120", "--json"], env=env, timeout=180)
    assert result.returncode == 0, f"probe failed:\n{result.stdout}\n{result.stderr[-2000:]}"
    return json.loads(result.stdout)


def storage_pods_by_node(api: client.ApiClient, namespace: str) -> dict[str, list[str]]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=server").items
    by_node: dict[str, list[str]] = {}
    for pod in pods:
        by_node.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
    return by_node


def claim_volume_id(api: client.ApiClient, claim: str, namespace: str) -> str:
    pvc = client.CoreV1Api(api).read_namespaced_persistent_volume_claim(claim, namespace)
    pv = client.CoreV1Api(api).read_persistent_volume(pvc.spec.volume_name)
    return pv.spec.csi.volume_handle


def leftovers(env: dict) -> list[str]:
    """Everything of the stacks that could outlive a destroy, on both sides."""
    api = kube(env)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    found = [f"namespace/{n.metadata.name}" for n in core.list_namespace().items if n.metadata.name not in BUILT_IN]
    found += [f"rc/{rc.metadata.name}" for rc in core.list_replication_controller_for_all_namespaces().items]
    found += [f"svc/{s.metadata.name}" for s in core.list_service_for_all_namespaces().items
              if s.metadata.namespace not in BUILT_IN[1:] and s.metadata.name != "kubernetes"]
    found += [f"pvc/{c.metadata.name}" for c in core.list_persistent_volume_claim_for_all_namespaces().items]
    found += [f"pv/{v.metadata.name}" for v in core.list_persistent_volume().items]
    found += [f"storageclass/{c.metadata.name}" for c in storage.list_storage_class().items]
    found += [f"pod/{p.metadata.name}" for p in core.list_pod_for_all_namespaces().items
              if p.metadata.namespace not in BUILT_IN[1:]]
    conn = cloud(env)
    found += [f"cinder volume {v.name} ({v.status})" for v in conn.block_storage.volumes(all_projects=True)]
    found += [f"cinder type {t.name}" for t in conn.block_storage.types() if t.name != "lvmdriver-1"]
    found += [f"octavia lb {lb.name}" for lb in conn.load_balancer.load_balancers()]
    found += [f"floating ip {ip.floating_ip_address}" for ip in conn.network.ips()]
    return found


@pytest.mark.parametrize("stack, storage_nodes_at_least", [("devstack", 2), ("devstack-single", 1)])
def test_up_then_the_articles_checks_then_destroy_leaves_nothing(stack, storage_nodes_at_least,
                                                                project, engine_env):
    code, document, stderr = lab_pulumi(project, engine_env, "up", "--stack", stack)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    outputs = document["outputs"]
    expected = EXPECTED_OUTPUTS | ({"volumeTypeName"} if stack == "devstack" else set())
    assert expected <= set(outputs), f"missing outputs: {expected - set(outputs)}"
    assert all(outputs[key] not in (None, "") for key in expected), outputs

    # The load balancer answers at the external IP and spreads over pods on several nodes;
    # master1 is no Octavia member, yet its pods answer through the workers (Cluster policy).
    # The probe stops at its thresholds, so ask for all three nodes where master1 takes pods.
    verdict = probe(outputs["url"], min_nodes=3 if stack == "devstack" else 2, env=engine_env)
    if stack == "devstack":
        assert "master1" in verdict["nodes"], verdict["nodes"]

    # The article's Cinder checks: the claim's volume is attached to every node running a
    # storage pod, and (multi-attach stack) is a multiattach volume.
    api = kube(engine_env)
    by_node = storage_pods_by_node(api, outputs["namespace"])
    assert len(by_node) >= storage_nodes_at_least, by_node
    volume_id = claim_volume_id(api, outputs["claimName"], outputs["namespace"])
    volume = cloud(engine_env).block_storage.get_volume(volume_id)
    attached_to = sorted(SERVER_BY_ID[a["server_id"]] for a in volume.attachments)
    assert attached_to == sorted(by_node), (attached_to, by_node)
    assert volume.status == "in-use"
    assert volume.is_multiattach is (stack == "devstack")
    if stack == "devstack":
        assert volume.volume_type == outputs["volumeTypeName"]
        assert "master1" in by_node

    # A Cinder slow to delete (5 s): the destroy must wait for the volume before the type goes.
    set_delays(engine_env, volume_delete=5.0)
    try:
        code, document, stderr = lab_pulumi(project, engine_env, "destroy", "--stack", stack)
    finally:
        set_delays(engine_env, volume_delete=0.3)
    assert code == 0 and document["succeeded"], document.get("error") or stderr[-4000:]
    # destroy returns once the claim's PV and Cinder volume are gone (components/claim_release.py): no sleep.
    assert leftovers(engine_env) == []
    if stack == "devstack":
        messages = [d["message"] for d in document["diagnostics"]]
        # ClaimRelease (before the class and the type's release) saw the slow delete and waited it out.
        assert any(m.startswith("claim ") and ", deleting)" in m for m in messages), messages
        assert any("no volume left" in m for m in messages), messages


def test_a_second_up_plans_no_change(project, engine_env):
    try:
        converge(project, engine_env, "devstack-single")
        code, document, stderr = lab_pulumi(project, engine_env, "up", "--stack", "devstack-single")
        assert code == 0, document.get("error") or stderr[-4000:]
        assert planned_changes(document) == []
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack-single")


def test_flipping_multiattach_on_a_live_stack_converges_in_one_up(project, engine_env):
    """The README's claim-replacing change, through the user's sequence: preview, up, preview."""
    try:
        converge(project, engine_env, "devstack")
        config_set(project, engine_env, "devstack", "multiattach", "false")
        document = converge(project, engine_env, "devstack")
        replaced = {s["name"] for s in document["steps"] if s["op"] in ("delete-replaced", "replace",
                                                                       "create-replacement")}
        assert {"storage-claim", "server"} <= replaced, document["steps"]
        api = kube(engine_env)
        claim = client.CoreV1Api(api).read_namespaced_persistent_volume_claim(
            document["outputs"]["claimName"], document["outputs"]["namespace"])
        assert claim.spec.access_modes == ["ReadWriteOnce"] and claim.status.phase == "Bound"
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack")
