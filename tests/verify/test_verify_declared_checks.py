"""verify/checks.py: the checks that compare what runs with what the stack declares (issue 15):
the pods' template, the controllers' own counts, left-over controllers, the claim's size, a load
balancer gone from Octavia and orphan floating IPs; on small hand-made facts."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from kubernetes import client
from verify_builders import (
    CONTROLLERS,
    EXTERNAL_IP,
    FLOATING_IP_ID,
    HASHES,
    IMAGE,
    LB_ID,
    PV,
    SPREAD,
    VOLUME_ID,
    claim,
    controller,
    fake_sides,
    kube_facts,
    pods,
    service,
    service_floating_ip,
    target,
    volume,
)

from policy.devstack_domain import floating_ip_description
from verify import checks as rules
from verify.checks import FAIL, OK, WARN
from verify.cli import main
from verify.facts import declared_controller
from verify.kube_side import claim_facts, pod_facts
from verify.target import build_target

pytestmark = pytest.mark.timeout(60)

OLD_HASH = "11aa22bb33"


# ---------------------------------------------------------------- replicas: the controller's own count


def test_ready_pods_but_a_lagging_controller_count_fail():
    rc = replace(controller("server", SPREAD), ready_replicas=6, available_replicas=6)
    check = rules.check_replicas("server", 8, rc, target())
    assert check.status == FAIL
    assert check.evidence == "server: 8/8 ready; server-3f9a1c0d2e counts 6 ready, 6 available"


def test_ready_but_not_yet_available_fails():
    rc = replace(controller("lbserver", SPREAD), available_replicas=7)
    check = rules.check_replicas("lbserver", 8, rc, target())
    assert check.status == FAIL and "lbserver-8b0e52c6a1 counts 8 ready, 7 available" in check.evidence


def test_a_controller_scaled_by_hand_names_itself_and_the_way_back():
    scaled = controller("server", {"master1": 2, "worker1": 2})  # `kubectl scale rc ... --replicas=4`
    check = rules.check_replicas("server", 8, scaled, target())
    assert check.status == FAIL
    assert "the controller server-3f9a1c0d2e asks for 4, the stack for 8" in check.evidence
    assert check.next == ("kubectl get pods -o wide -l app=server; kubectl get rc server-3f9a1c0d2e; "
                          "pulumi refresh; pulumi up")


# ---------------------------------------------------------------- template


def test_pods_on_the_declared_template_pass():
    check = rules.check_template("server", pods("server", SPREAD), HASHES["server"], target())
    assert check.status == OK
    assert check.evidence == f"server: all 8 pods run the declared template 3f9a1c0d2e, image {IMAGE}"


def test_pods_of_an_older_template_are_named_with_and_n_more():
    mixed = pods("lbserver", {"worker1": 3}) + pods("lbserver", {"worker2": 5}, template_hash=OLD_HASH)
    check = rules.check_template("lbserver", mixed, HASHES["lbserver"], target(namespace="apps"))
    assert check.status == FAIL
    assert check.evidence == (
        f"lbserver: 5 of 8 pods do not run the declared template 8b0e52c6a1, image {IMAGE}: "
        f"lbserver-{OLD_HASH}-00000 ({OLD_HASH}, {IMAGE}), lbserver-{OLD_HASH}-00001 ({OLD_HASH}, {IMAGE}), "
        f"lbserver-{OLD_HASH}-00002 ({OLD_HASH}, {IMAGE}) and 2 more")
    assert check.next == ("kubectl -n apps get pods -l app=lbserver -L pod-template-hash -o wide; "
                          "pulumi up (a new template gets a new controller)")


def test_another_image_under_the_declared_hash_fails():
    # `kubectl set image rc/...` changes the template but not the hash label the pods carry.
    other = pods("server", {"worker1": 1}, image="nginx:1.25.0") + pods("server", {"worker2": 1})
    check = rules.check_template("server", other, HASHES["server"], target())
    assert check.status == FAIL
    assert "1 of 2 pods" in check.evidence and "(3f9a1c0d2e, nginx:1.25.0)" in check.evidence


def test_a_pod_without_the_nginx_container_fails():
    odd = (replace(pods("server", {"worker1": 1})[0], images={"sidecar": IMAGE}),)
    check = rules.check_template("server", odd, HASHES["server"], target())
    assert check.status == FAIL and "no nginx container" in check.evidence


def test_without_a_declared_hash_only_the_image_is_compared():
    unhashed = tuple(replace(pod, template_hash=None) for pod in pods("server", {"worker1": 2}))
    check = rules.check_template("server", unhashed, None, target(template_hashes={}))
    assert check.status == OK
    assert check.evidence == f"server: all 2 pods run the declared template (the stack names no hash), image {IMAGE}"
    stale = rules.check_template("server", unhashed, None, target(template_hashes={}, image="nginx:1.28.0"))
    assert stale.status == FAIL


def test_no_pod_to_compare_warns_and_points_to_the_replicas_check():
    check = rules.check_template("server", (), HASHES["server"], target())
    assert check.status == WARN and "see replicas/server" in check.evidence


def test_the_declared_hash_is_the_stacks_output_else_the_controllers():
    rc = controller("server", SPREAD, template_hash=OLD_HASH)
    assert rules.declared_template_hash("server", rc, target()) == HASHES["server"]
    assert rules.declared_template_hash("server", rc, target(template_hashes={})) == OLD_HASH
    assert rules.declared_template_hash("server", None, target(template_hashes={})) is None


# ---------------------------------------------------------------- leftover controllers


def test_one_controller_per_app_passes():
    check = rules.check_leftovers("server", controller("server", SPREAD), (), target())
    assert check.status == OK
    assert check.evidence == "server: no ReplicationController with label app=server but server-3f9a1c0d2e"


def test_a_controller_left_over_by_a_rollout_is_named():
    old = controller("server", {"worker1": 8}, template_hash=OLD_HASH)
    check = rules.check_leftovers("server", controller("server", SPREAD), (old,), target())
    assert check.status == FAIL
    assert check.evidence == (f"server: 1 other ReplicationController with label app=server beside the stack's "
                              f"server-3f9a1c0d2e: server-{OLD_HASH} (8 replicas, 8 pods), left over by a rollout")
    assert check.next.startswith("kubectl get rc -l app=server; pulumi up")


def test_leftovers_are_named_when_the_declared_controller_is_missing():
    old = controller("lbserver", {"worker1": 2}, template_hash=OLD_HASH)
    check = rules.check_leftovers("lbserver", None, (old,), target())
    assert check.status == FAIL and "beside the stack's lbserver-8b0e52c6a1:" in check.evidence


def test_a_stack_without_controller_outputs_says_which_one_was_taken():
    check = rules.check_leftovers("server", controller("server", SPREAD), (), target(controller_names={}))
    assert check.status == OK
    assert "(the stack names no controller: server-3f9a1c0d2e, the newest, taken as its own)" in check.evidence


def test_the_declared_controller_is_found_by_name_else_the_newest():
    old = replace(controller("server", SPREAD, template_hash=OLD_HASH), created=1.0)
    new = replace(controller("server", SPREAD), created=2.0)
    assert declared_controller([new, old], CONTROLLERS["server"]) == (new, (old,))
    assert declared_controller([new, old], f"server-{OLD_HASH}") == (old, (new,))
    assert declared_controller([old, new], None) == (new, (old,))
    assert declared_controller([old, new], "server-0000000000") == (None, (old, new))
    assert declared_controller([], None) == (None, ())


# ---------------------------------------------------------------- size


def test_every_size_equal_to_the_declared_one_passes():
    check = rules.check_size(claim(), PV, volume(), target())
    assert check.status == OK
    assert check.evidence == ("claim claim1 requests 1Gi = the stack's 1Gi; claim claim1 capacity 1Gi; "
                              "PV pvc-0001 1Gi; Cinder volume 98a97eec 1 GB (GiB)")


def test_a_request_below_the_declared_size_fails():
    check = rules.check_size(claim(), PV, volume(), target(volume_size_gi=2))
    assert check.status == FAIL
    assert check.evidence == "claim claim1 requests 1Gi, the stack declares 2Gi: pulumi up grows it"
    assert check.next.startswith("kubectl describe pvc claim1")


def test_a_request_above_the_declared_size_cannot_shrink():
    grown = claim(requested="3Gi", capacity="3Gi")
    check = rules.check_size(grown, replace(PV, capacity="3Gi"), volume(size=3), target(volume_size_gi=2))
    assert check.status == FAIL and "Kubernetes refuses to shrink a claim" in check.evidence


def test_only_the_capacity_lagging_with_a_resize_condition_is_a_resize_in_progress():
    pending = claim(requested="2Gi", capacity="1Gi", conditions=("FileSystemResizePending",))
    check = rules.check_size(pending, replace(PV, capacity="2Gi"), volume(size=2), target(volume_size_gi=2))
    assert check.status == WARN
    assert check.evidence == ("resize in progress (FileSystemResizePending): claim claim1 requests 2Gi; "
                              "claim claim1 capacity 1Gi; PV pvc-0001 2Gi; Cinder volume 98a97eec 2 GB (GiB)")
    assert check.next == "kubectl describe pvc claim1"


def test_a_lag_without_a_resize_condition_fails():
    stuck = claim(requested="2Gi", capacity="1Gi")
    check = rules.check_size(stuck, PV, volume(), target(volume_size_gi=2))
    assert check.status == FAIL
    assert "claim claim1 capacity, PV pvc-0001, Cinder volume 98a97eec lag behind and no resize runs" in check.evidence
    assert f"openstack volume show {VOLUME_ID}" in check.next


def test_a_cinder_volume_bigger_than_the_claim_fails():
    check = rules.check_size(claim(), PV, volume(size=2), target())
    assert check.status == FAIL and check.evidence.startswith("Cinder volume 98a97eec larger than the 1Gi")


def test_an_unbound_claim_is_not_size_checked():
    check = rules.check_size(claim(phase="Pending"), None, None, target())
    assert check.status == FAIL and check.evidence.startswith("not checked")


@pytest.mark.parametrize("quantity, size", [("1Gi", 2**30), ("1073741824", 2**30), ("1G", 10**9),
                                            ("2048Mi", 2**31), (None, None), ("lots", None)])
def test_quantities_are_read_in_bytes(quantity, size):
    assert rules.quantity_bytes(quantity) == size


# ---------------------------------------------------------------- the load balancer gone from Octavia


def test_a_load_balancer_deleted_by_hand_is_named_and_is_not_rebuilt():
    check = rules.check_load_balancer(None, f"id {LB_ID}", target(), admin=True, annotated_id=LB_ID)
    assert check.status == FAIL
    assert check.evidence == (f"load balancer {LB_ID} (the Service's loadbalancer.openstack.org/load-balancer-id "
                              "annotation) is not in Octavia: the cloud controller will not rebuild it by itself")
    assert check.next.startswith(f"openstack loadbalancer show {LB_ID}; kubectl describe svc lb-webserver")
    assert "kubectl annotate svc lb-webserver loadbalancer.openstack.org/load-balancer-id-" in check.next


def test_a_load_balancer_never_made_keeps_the_plain_wording():
    check = rules.check_load_balancer(None, "name kube_service_kubernetes_default_lb-webserver", target())
    assert check.status == FAIL and check.evidence.startswith("no load balancer: looked for name")


# ---------------------------------------------------------------- orphan floating IPs


def test_floating_ips_on_a_port_pass():
    check = rules.check_floating_ips((service_floating_ip(),), service(), target())
    assert check.status == OK
    assert check.evidence == ("no orphan floating IP of default/lb-webserver: 1 floating IP with the cloud "
                              "controller's description for it, each on a port")


def test_an_orphan_floating_ip_is_named_with_its_address():
    orphan = service_floating_ip(address="127.0.31.9", port_id=None, ip_id="0rphan00-1111-4222-8333-444455556666")
    check = rules.check_floating_ips((service_floating_ip(), orphan), service(), target())
    assert check.status == FAIL
    assert check.evidence == ("1 floating IP the cloud controller made for default/lb-webserver on no port: "
                              "0rphan00-1111-4222-8333-444455556666 (127.0.31.9): allocated, and the cloud "
                              "controller never deletes it")
    assert check.next == ("openstack floating ip list --long; "
                          "openstack floating ip delete 0rphan00-1111-4222-8333-444455556666")


def test_an_orphan_kept_on_purpose_only_warns():
    kept = service(annotations={"loadbalancer.openstack.org/keep-floatingip": "true"})
    check = rules.check_floating_ips((service_floating_ip(port_id=None),), kept, target())
    assert check.status == WARN and FLOATING_IP_ID in check.evidence and "kept on purpose" in check.evidence
    not_kept = service(annotations={"loadbalancer.openstack.org/keep-floatingip": "True"})
    assert rules.check_floating_ips((service_floating_ip(port_id=None),), not_kept, target()).status == FAIL, (
        "the cloud controller reads exactly \"true\"")


def test_the_floating_ip_description_is_the_cloud_controllers():
    assert floating_ip_description("default", "lb-webserver", "kubernetes") == (
        "Floating IP for Kubernetes external service default/lb-webserver from cluster kubernetes")
    assert service_floating_ip().description == floating_ip_description("default", "lb-webserver", "kubernetes")


# ---------------------------------------------------------------- facts from API objects and outputs


def test_pod_facts_keep_the_template_hash_and_images():
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="server-3f9a1c0d2e-abcde",
                                     labels={"app": "server", "pod-template-hash": "3f9a1c0d2e"}),
        spec=client.V1PodSpec(node_name="worker1", containers=[client.V1Container(name="nginx", image=IMAGE)]),
        status=client.V1PodStatus(phase="Running"))
    facts = pod_facts(pod)
    assert facts.template_hash == "3f9a1c0d2e" and facts.images == {"nginx": IMAGE} and not facts.ready


def test_claim_facts_keep_the_sizes_and_the_true_conditions():
    pvc = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="claim1"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteMany"], volume_mode="Block", storage_class_name="csi-sc-cinderplugin",
            volume_name="pvc-0001", resources=client.V1VolumeResourceRequirements(requests={"storage": "2Gi"})),
        status=client.V1PersistentVolumeClaimStatus(
            phase="Bound", capacity={"storage": "1Gi"},
            conditions=[client.V1PersistentVolumeClaimCondition(type="Resizing", status="True"),
                        client.V1PersistentVolumeClaimCondition(type="FileSystemResizePending", status="False")]))
    facts = claim_facts(pvc)
    assert (facts.requested, facts.capacity, facts.conditions) == ("2Gi", "1Gi", ("Resizing",))


def test_the_target_reads_the_declared_outputs_and_falls_back_to_config():
    outputs = {"serverController": "server-3f9a1c0d2e", "lbserverController": "lbserver-8b0e52c6a1",
               "serverTemplateHash": "3f9a1c0d2e", "lbserverTemplateHash": "8b0e52c6a1", "image": "nginx:1.28.0",
               "volumeSizeGi": 2.0, "namespace": "apps", "serverReplicas": 8}
    declared = build_target("devstack", outputs, {})
    assert declared.controller_names == {"server": "server-3f9a1c0d2e", "lbserver": "lbserver-8b0e52c6a1"}
    assert declared.template_hashes == {"server": "3f9a1c0d2e", "lbserver": "8b0e52c6a1"}
    assert (declared.image, declared.volume_size_gi, declared.namespace) == ("nginx:1.28.0", 2, "apps")
    older = build_target("devstack", {"serverReplicas": 8},
                         {"image": "nginx:1.27.5", "volumeSizeGi": "3", "namespace": "web"})
    assert older.controller_names == {} and older.template_hashes == {}
    assert (older.image, older.volume_size_gi, older.namespace) == ("nginx:1.27.5", 3, "web")
    flagged = build_target("devstack", outputs, {}, overrides={"namespace": "other"})
    assert flagged.namespace == "other", "the command line wins over the stack"


# ---------------------------------------------------------------- the whole run


def test_a_rollout_left_half_done_fails_the_run_naming_the_old_controller_and_its_pods(stack_files, capsys):
    old = controller("server", {"worker1": 2}, template_hash=OLD_HASH)
    new = controller("server", SPREAD)
    kube = kube_facts(leftover_controllers={"server": (old,), "lbserver": ()},
                      app_pods={"server": new.pods + old.pods, "lbserver": controller("lbserver", SPREAD).pods})
    code = main([*stack_files, "--json"], fake_sides(kube=kube))
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    failing = {check["name"]: check for check in document["checks"] if check["status"] == FAIL}
    assert set(failing) == {"template/server", "leftover/server"}
    assert f"server-{OLD_HASH}-00000" in failing["template/server"]["evidence"]
    assert f"server-{OLD_HASH} (2 replicas, 2 pods)" in failing["leftover/server"]["evidence"]


def test_a_stack_deployed_before_the_declared_outputs_still_passes(tmp_path, capsys):
    outputs = {"externalIp": EXTERNAL_IP, "loadBalancerId": LB_ID, "volumeTypeName": "multiattach-type",
               "claimName": "claim1", "serviceName": "lb-webserver", "serverReplicas": 8, "lbserverReplicas": 8}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    (tmp_path / "config.json").write_text(json.dumps({"multiattach": "true"}))
    code = main(["--outputs-json", str(tmp_path / "outputs.json"), "--config-json", str(tmp_path / "config.json"),
                 "--json"], fake_sides())
    document = json.loads(capsys.readouterr().out)
    assert code == 0, [check for check in document["checks"] if check["status"] != OK]
    leftover = next(check for check in document["checks"] if check["name"] == "leftover/server")
    assert "the stack names no controller" in leftover["evidence"]
