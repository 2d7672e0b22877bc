"""`python -m verify` on stacks deployed in the lab: it passes on both, and names the broken
item for each fault injected into the lab after `pulumi up`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import lab_pulumi, run
from kubernetes import client
from test_deploy import claim_volume_id, cloud, kube, storage_pods_by_node

from lab.cluster import ClusterShape
from lab.project_copy import copy_project
from policy.devstack_domain import floating_ip_description

SERVER_OF = {shape.name: shape.server_id for shape in ClusterShape().nodes}


def verify(project: Path, env: dict, stack: str) -> tuple[int, dict]:
    result = run([sys.executable, "-m", "verify", "--stack", stack, "--json", "--http-deadline", "30"],
                 env=env, cwd=project, timeout=300)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"verify printed no JSON (exit {result.returncode}):\n{result.stderr[-3000:]}")


def failing(document: dict) -> set[str]:
    return {f"{c['side']}/{c['name']}" for c in document["checks"] if c["status"] == "fail"}


def check(document: dict, name: str) -> dict:
    return next(c for c in document["checks"] if f"{c['side']}/{c['name']}" == name)


# The checks that compare what runs with what the stack declares (issue 15).
DECLARED_CHECKS = ("kubernetes/template/server", "kubernetes/template/lbserver", "kubernetes/leftover/server",
                   "kubernetes/leftover/lbserver", "cinder/size/claim", "octavia/floating-ips")


def assert_declared_checks_hold(document: dict) -> None:
    statuses = {name: check(document, name)["status"] for name in DECLARED_CHECKS}
    assert set(statuses.values()) == {"ok"}, statuses


def deploy(lab, folder: Path, stack: str) -> tuple[Path, dict, dict]:
    """The stack up from a project copy of its own, with a Pulumi state folder of its own."""
    project = copy_project(folder / "project")
    state = folder / "pulumi-state"
    state.mkdir()
    env = {**lab.env(), "PULUMI_BACKEND_URL": f"file://{state}"}
    code, document, stderr = lab_pulumi(project, env, "up", "--stack", stack)
    assert code == 0, document.get("error") or stderr[-3000:]
    return project, env, document["outputs"]


def test_verify_passes_on_the_single_attach_stack(lab, tmp_path):
    # Both stacks name the same objects (claim1, lb-webserver, ...): one at a time in the lab.
    project, env, _ = deploy(lab, tmp_path, "devstack-single")
    try:
        code, document = verify(project, env, "devstack-single")
        assert code == 0 and document["verdict"] == "pass", failing(document) or document
        assert_declared_checks_hold(document)
    finally:
        lab_pulumi(project, env, "destroy", "--stack", "devstack-single")


@pytest.fixture(scope="module")
def deployed(lab, tmp_path_factory):
    """The devstack stack up for the rest of the module, destroyed at the end."""
    project, env, outputs = deploy(lab, tmp_path_factory.mktemp("devstack"), "devstack")
    yield project, env, outputs
    lab_pulumi(project, env, "destroy", "--stack", "devstack")


def test_verify_passes_on_the_multi_attach_stack(deployed):
    project, env, _ = deployed
    code, document = verify(project, env, "devstack")
    assert code == 0 and document["verdict"] == "pass", failing(document) or document
    names = {f"{c['side']}/{c['name']}" for c in document["checks"]}
    assert {"kubernetes/claim", "cinder/attachments", "octavia/members", "http/probe"} <= names
    assert_declared_checks_hold(document)
    assert check(document, "kubernetes/replicas/lbserver")["status"] == "ok"


def test_wrong_credentials_are_exit_3(deployed, tmp_path):
    project, env, _ = deployed
    clouds = yaml.safe_load(Path(env["OS_CLIENT_CONFIG_FILE"]).read_text())
    clouds["clouds"]["devstack-admin"]["auth"]["password"] = "not-the-password"
    wrong = tmp_path / "clouds.yaml"
    wrong.write_text(yaml.safe_dump(clouds))
    code, document = verify(project, {**env, "OS_CLIENT_CONFIG_FILE": str(wrong)}, "devstack")
    assert code == 3 and document["verdict"] == "unreachable", document


def lab_fault(conn, path: str, body: dict) -> None:
    """Call the OpenStack double's fault hook (not an OpenStack API) with the admin token."""
    base = conn.load_balancer.get_endpoint().split("/load-balancer")[0]
    response = conn.session.put(f"{base}{path}", json=body)
    assert response.status_code == 200, response.text


def wait_active(conn, lb_id: str) -> None:
    deadline = time.monotonic() + 30
    while conn.load_balancer.get_load_balancer(lb_id).provisioning_status != "ACTIVE":
        assert time.monotonic() < deadline, "the load balancer did not return to ACTIVE"
        time.sleep(0.2)


def test_each_injected_fault_is_named(deployed):
    """Faults one after the other on the devstack stack; each run names the new broken item."""
    project, env, outputs = deployed
    conn = cloud(env)
    lb_id = outputs["loadBalancerId"]

    # The volume type's extra spec loses its capital T: not multi-attach for Cinder. Cinder refuses
    # to change the specs of a type in use, so the lab's fault hook plays a type made that way.
    volume_type = conn.block_storage.find_type(outputs["volumeTypeName"])
    lab_fault(conn, f"/lab/faults/types/{volume_type.id}/extra_specs", {"multiattach": "<is> true"})
    try:
        code, document = verify(project, env, "devstack")
        assert code == 1 and "cinder/volume-type" in failing(document), document
    finally:
        lab_fault(conn, f"/lab/faults/types/{volume_type.id}/extra_specs", {"multiattach": "<is> True"})

    # A load-balancer member is removed behind the cloud controller's back.
    pool = next(iter(conn.load_balancer.pools(loadbalancer_id=lb_id)))
    member = next(iter(conn.load_balancer.members(pool)))
    conn.load_balancer.delete_member(member, pool)
    wait_active(conn, lb_id)
    code, document = verify(project, env, "devstack")
    assert code == 1 and "octavia/members" in failing(document), document

    # The floating IP is replaced: the stack's externalIp no longer reaches the load balancer.
    # The cloud controller's own is put back afterwards, for the load balancer's deletion below.
    vip_port = conn.load_balancer.get_load_balancer(lb_id).vip_port_id
    old_addresses = list(conn.network.ips(port_id=vip_port))
    public = conn.network.find_network("public")
    replacement = conn.network.create_ip(floating_network_id=public.id)  # another address first,
    for address in old_addresses:                                        # then moved to the VIP
        conn.network.update_ip(address, port_id=None)
    conn.network.update_ip(replacement, port_id=vip_port)
    assert replacement.floating_ip_address != outputs["externalIp"]
    code, document = verify(project, env, "devstack")
    assert code == 1 and {"octavia/address", "octavia/floating-ips"} <= failing(document), document
    conn.network.delete_ip(replacement)
    for address in old_addresses:
        conn.network.update_ip(address, port_id=vip_port)

    # A storage pod's node loses its attachment in Cinder.
    api = kube(env)
    node = sorted(storage_pods_by_node(api, outputs["namespace"]))[0]
    volume_id = claim_volume_id(api, outputs["claimName"], outputs["namespace"])
    conn.compute.delete_volume_attachment(volume_id, SERVER_OF[node])
    code, document = verify(project, env, "devstack")
    assert code == 1 and "cinder/attachments" in failing(document), document

    # The load balancer goes to ERROR (its amphora died; the lab's fault hook, not OpenStack).
    lab_fault(conn, f"/lab/faults/loadbalancers/{lb_id}", {"provisioning_status": "ERROR"})
    code, document = verify(project, env, "devstack")
    assert code == 1 and "octavia/load-balancer" in failing(document), document


def scale(api, namespace: str, name: str, replicas: int) -> None:
    """`kubectl scale rc <name> --replicas=<n>`."""
    client.CoreV1Api(api).patch_namespaced_replication_controller_scale(name, namespace,
                                                                        {"spec": {"replicas": replicas}})


def wait_available(api, namespace: str, name: str, replicas: int) -> None:
    deadline = time.monotonic() + 120
    while (client.CoreV1Api(api).read_namespaced_replication_controller(name, namespace).status.available_replicas
           or 0) != replicas:
        assert time.monotonic() < deadline, f"{name} did not get back to {replicas} available replicas"
        time.sleep(0.5)


def test_a_hand_scaled_controller_and_a_deleted_load_balancer_are_named(deployed):
    """What runs drifts from what the stack declares, behind Pulumi's back: verify names it.
    The load balancer goes last: the cloud controller does not rebuild it."""
    project, env, outputs = deployed
    api = kube(env)
    controller, namespace = outputs["lbserverController"], outputs["namespace"]

    scale(api, namespace, controller, 4)
    try:
        code, document = verify(project, env, "devstack")
        assert code == 1 and "kubernetes/replicas/lbserver" in failing(document), document
        assert f"the controller {controller} asks for 4, the stack for 8" in check(
            document, "kubernetes/replicas/lbserver")["evidence"]
    finally:
        scale(api, namespace, controller, 8)
        wait_available(api, namespace, controller, 8)

    conn = cloud(env)
    lb_id = outputs["loadBalancerId"]
    vip_port = conn.load_balancer.get_load_balancer(lb_id).vip_port_id
    own = [ip.id for ip in conn.network.ips(port_id=vip_port)
           if ip.description == floating_ip_description(outputs["namespace"], outputs["serviceName"])]
    assert len(own) == 1, "the cloud controller's floating IP is on the VIP port"
    conn.load_balancer.delete_load_balancer(lb_id, cascade=True)  # `openstack loadbalancer delete --cascade`
    deadline = time.monotonic() + 60
    while conn.load_balancer.find_load_balancer(lb_id, ignore_missing=True) is not None:
        assert time.monotonic() < deadline, "the load balancer was not deleted"
        time.sleep(0.5)
    orphans = [conn.network.get_ip(ip_id) for ip_id in own]
    try:
        code, document = verify(project, env, "devstack")
        shown = [c for c in document["checks"] if c["side"] == "octavia"]
        assert [ip.port_id for ip in orphans] == [None], "Octavia's cascade delete frees the VIP port"
        assert code == 1 and {"octavia/load-balancer", "octavia/floating-ips"} <= failing(document), shown
        gone = check(document, "octavia/load-balancer")
        assert lb_id in gone["evidence"] and "will not rebuild it by itself" in gone["evidence"], gone
        assert gone["next"].startswith(f"openstack loadbalancer show {lb_id}"), gone
        orphan = check(document, "octavia/floating-ips")
        assert f"{orphans[0].id} ({orphans[0].floating_ip_address})" in orphan["evidence"], orphan
    finally:
        for ip in orphans:  # the cloud controller never deletes it: the destroy would leave it behind
            conn.network.delete_ip(ip, ignore_missing=True)
