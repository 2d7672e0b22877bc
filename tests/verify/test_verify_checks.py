"""verify/checks.py: each check on small hand-made facts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from verify_builders import (
    EXTERNAL_IP,
    LB_ID,
    MASTER1,
    MULTIATTACH_TYPE,
    NODE_PORT,
    NODES,
    POOL_ID,
    PV,
    SERVER_IDS,
    SPREAD,
    STORAGE_CLASS,
    TYPE_ID,
    VIP,
    VIP_PORT,
    VOLUME_ID,
    WORKER1,
    WORKER2,
    claim,
    controller,
    load_balancer,
    members,
    probe_result,
    service,
    single_target,
    target,
    volume,
)

from policy.devstack_domain import EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL, excluded_from_external_load_balancers
from verify import checks as rules
from verify.checks import FAIL, OK, WARN, Check
from verify.facts import Attachment, ControllerFacts, Listener, PodFacts, Pool, ServicePort, VolumeFacts
from verify.report import check_line, verdict

pytestmark = pytest.mark.timeout(60)


def test_all_replicas_ready_names_their_nodes():
    check = rules.check_replicas("server", 8, controller("server", SPREAD), target())
    assert check.status == OK
    assert check.evidence == "server: 8/8 ready and available (server-3f9a1c0d2e) on master1, worker1, worker2"


def test_seven_of_eight_ready_fails_naming_the_pod_and_its_multi_attach_error():
    warning = "FailedAttachVolume: Multi-Attach error for volume pvc-0001 Volume is already used by pod(s) server-00003"
    rc = controller("server", SPREAD, not_ready={"master1": 1}, warning=warning)
    check = rules.check_replicas("server", 8, rc, target())
    assert check.status == FAIL
    assert check.evidence.startswith("server: 7/8 ready; not ready: server-3f9a1c0d2e-00000 on master1 "
                                     "(ContainerCreating: FailedAttachVolume: Multi-Attach error")
    assert "counts" not in check.evidence, "the controller's own count agrees with its pods: not repeated"
    assert "kubectl get pods -o wide -l app=server" in check.next
    assert "kubectl describe pod server-3f9a1c0d2e-00000" in check.next
    assert "openstack volume type show multiattach-type" in check.next


def test_replicas_the_controller_does_not_ask_for_fail():
    check = rules.check_replicas("lbserver", 8, controller("lbserver", {"worker1": 2, "worker2": 2}), target())
    assert check.status == FAIL
    assert "4/8 ready" in check.evidence
    assert "the controller lbserver-8b0e52c6a1 asks for 4, the stack for 8" in check.evidence
    assert "pulumi refresh" in check.next


def test_missing_controller_fails():
    check = rules.check_replicas("server", 8, None, target(namespace="apps"))
    assert check.status == FAIL
    assert check.evidence == "server: no ReplicationController server-3f9a1c0d2e in namespace apps"
    assert check.next.startswith("kubectl -n apps get rc -l app=server")
    older = rules.check_replicas("server", 8, None, target(controller_names={}))
    assert older.evidence == "server: no ReplicationController with label app=server in namespace default"


def test_spread_over_three_nodes_with_the_control_plane_passes():
    check = rules.check_placement("server", 8, controller("server", SPREAD), NODES, target(), kept_together=False)
    assert check.status == OK
    assert check.evidence == ("server: pods on 3 nodes (3 on master1 (control plane), 3 on worker1, 2 on worker2); "
                              "at least 2 nodes, one a control-plane node required")


def test_pods_on_one_node_fail_when_two_are_required():
    check = rules.check_placement("lbserver", 8, controller("lbserver", {"worker1": 8}), NODES, target(),
                                  kept_together=False)
    assert check.status == FAIL
    assert "pods on 1 node (8 on worker1)" in check.evidence
    assert "kubectl get pods -o wide -l app=lbserver" in check.next


def test_no_pod_on_the_control_plane_fails_when_the_stack_schedules_there():
    rc = controller("lbserver", {"worker1": 4, "worker2": 4})
    check = rules.check_placement("lbserver", 8, rc, NODES, target(), kept_together=False)
    assert check.status == FAIL
    assert "one a control-plane node required" in check.evidence
    assert "kubectl describe node master1" in check.next
    off = rules.check_placement("lbserver", 8, rc, NODES, single_target(), kept_together=False)
    assert off.status == OK, "without scheduleOnControlPlane the workers are the candidates"
    assert off.evidence.endswith("at least 2 nodes required")


def test_one_node_is_enough_when_the_cluster_has_one_candidate():
    rc = controller("lbserver", {"worker1": 8})
    one_worker = (MASTER1, WORKER1, replace(WORKER2, ready=False))
    check = rules.check_placement("lbserver", 8, rc, one_worker, single_target(), kept_together=False)
    assert check.status == OK and "at least 1 node required" in check.evidence


def test_a_single_attach_storage_app_must_stay_on_one_node():
    together = rules.check_placement("server", 4, controller("server", {"worker1": 4}), NODES, single_target(),
                                     kept_together=True)
    assert together.status == OK
    assert together.evidence == "server: all 4 pods on worker1, as a single-attach volume needs"
    split = rules.check_placement("server", 4, controller("server", {"worker1": 2, "worker2": 2}), NODES,
                                  single_target(), kept_together=True)
    assert split.status == FAIL and "Multi-Attach error" in split.evidence


def test_no_scheduled_pod_fails_placement():
    rc = ControllerFacts(8, (PodFacts("server-1", None, False, "Pending"),))
    check = rules.check_placement("server", 8, rc, NODES, target(), kept_together=False)
    assert check.status == FAIL and check.evidence == "server: no pod is scheduled on a node"


def test_bound_claim_names_its_cinder_volume():
    check = rules.check_claim(claim(), PV, STORAGE_CLASS, target())
    assert check.status == OK
    assert check.evidence == ("claim claim1 Bound to pvc-0001 (ReadWriteMany, Block, class csi-sc-cinderplugin): "
                              f"Cinder volume {VOLUME_ID}")


@pytest.mark.parametrize("claim_facts, pv, storage_class, expected", [
    (claim(phase="Pending", volume_name=None), None, STORAGE_CLASS, "claim claim1 is Pending, not Bound"),
    (claim(access_modes=("ReadWriteOnce",)), PV, STORAGE_CLASS,
     "access modes ReadWriteOnce, the stack asks for ReadWriteMany"),
    (claim(volume_mode="Filesystem"), PV, STORAGE_CLASS, "volume mode Filesystem, the stack asks for Block"),
    (claim(), VolumeFacts("pvc-0001", "kubernetes.io/cinder", None), STORAGE_CLASS,
     "is not a cinder.csi.openstack.org volume"),
    (claim(), None, STORAGE_CLASS, "its volume pvc-0001 does not exist"),
    (claim(), PV, replace(STORAGE_CLASS, parameters={}),
     "asks for volume type (default), the stack's is multiattach-type"),
])
def test_claim_problems_fail(claim_facts, pv, storage_class, expected):
    check = rules.check_claim(claim_facts, pv, storage_class, target())
    assert check.status == FAIL and expected in check.evidence
    assert "kubectl describe pvc claim1" in check.next


def test_missing_claim_fails():
    check = rules.check_claim(None, None, None, target())
    assert check.status == FAIL and "not found in namespace default" in check.evidence


def test_service_with_the_stacks_external_ip_passes():
    check = rules.check_service(service(), target())
    assert check.status == OK
    assert check.evidence == (f"lb-webserver LoadBalancer 80:{NODE_PORT}/TCP, external IP {EXTERNAL_IP} "
                              "= the stack's externalIp")


def test_service_without_an_external_ip_fails():
    check = rules.check_service(service(ingress=None), target())
    assert check.status == FAIL and "no external IP yet" in check.evidence
    assert "kubectl describe svc lb-webserver" in check.next


def test_service_ip_differing_from_the_stack_output_fails():
    check = rules.check_service(service(ingress="127.0.31.9"), target())
    assert check.status == FAIL
    assert "external IP 127.0.31.9, but the stack's externalIp is 127.0.31.2" in check.evidence
    assert "kubectl get svc lb-webserver -o wide" in check.next


def test_volume_in_use_of_the_multiattach_type_passes():
    check = rules.check_volume(VOLUME_ID, volume(), "multiattach-type", MULTIATTACH_TYPE, target())
    assert check.status == OK
    assert check.evidence == f"volume {VOLUME_ID} in-use, type multiattach-type, multiattach true"


def test_volume_not_multiattach_when_the_stack_asks_fails():
    check = rules.check_volume(VOLUME_ID, volume(multiattach=False), "multiattach-type", MULTIATTACH_TYPE, target())
    assert check.status == FAIL and "multiattach false although the stack asks for it" in check.evidence
    assert check.next == f"openstack volume show {VOLUME_ID}; openstack volume type show multiattach-type"


@pytest.mark.parametrize("changes, expected", [
    ({"status": "available"}, "status available, not in-use"),
    ({"volume_type": "lvmdriver-1"}, "type lvmdriver-1, the stack's is multiattach-type"),
])
def test_volume_status_and_type_fail(changes, expected):
    check = rules.check_volume(VOLUME_ID, volume(**changes), "multiattach-type", MULTIATTACH_TYPE, target())
    assert check.status == FAIL and expected in check.evidence


def test_volume_type_given_by_id_matches_its_name():
    check = rules.check_volume(VOLUME_ID, volume(), TYPE_ID, MULTIATTACH_TYPE, target())
    assert check.status == OK


def test_single_attach_volume_on_the_default_type_passes():
    check = rules.check_volume(VOLUME_ID, volume(multiattach=False, volume_type="lvmdriver-1"), None, None,
                               single_target())
    assert check.status == OK
    assert "type lvmdriver-1 (Cinder's default; the stack names none), multiattach false" in check.evidence


def test_missing_volume_fails_with_the_articles_command():
    check = rules.check_volume(VOLUME_ID, None, "multiattach-type", None, target())
    assert check.status == FAIL and "does not exist in Cinder" in check.evidence
    assert check.next.startswith(f"openstack volume show {VOLUME_ID}")
    hidden = rules.check_volume(VOLUME_ID, None, "multiattach-type", None, target(admin_cloud="devstack"), admin=False)
    assert hidden.evidence.endswith("(cloud devstack has no admin role: other projects' resources are hidden)")
    unbound = rules.check_volume(None, None, "multiattach-type", None, target())
    assert unbound.status == FAIL and "kubectl describe pvc claim1" in unbound.next


def test_extra_spec_is_true_with_a_capital_t():
    check = rules.check_volume_type("multiattach-type", MULTIATTACH_TYPE, target())
    assert check.status == OK and check.evidence == "type multiattach-type: multiattach='<is> True'"


@pytest.mark.parametrize("specs, expected", [
    ({"multiattach": "<is> true"}, "multiattach='<is> true'; Cinder matches exactly '<is> True' (capital T)"),
    ({"multiattach": "True"}, "multiattach='True'"),
    ({}, "no multiattach extra spec"),
])
def test_other_extra_specs_fail(specs, expected):
    check = rules.check_volume_type("multiattach-type", replace(MULTIATTACH_TYPE, extra_specs=specs), target())
    assert check.status == FAIL and expected in check.evidence
    assert check.next.startswith("openstack volume type show multiattach-type")


def test_missing_type_fails_and_no_type_is_needed_without_multiattach():
    assert rules.check_volume_type("multiattach-type", None, target()).status == FAIL
    check = rules.check_volume_type(None, None, single_target())
    assert check.status == OK and check.evidence.startswith("multiattach not asked")


def test_attached_to_exactly_the_storage_pods_nodes_passes():
    check = rules.check_attachments(VOLUME_ID, volume(), controller("server", SPREAD), NODES, {}, target())
    assert check.status == OK
    assert check.evidence == f"volume {VOLUME_ID} attached to master1, worker1, worker2 = the nodes of the server pods"


def test_attached_to_fewer_servers_than_storage_nodes_fails():
    rc = controller("server", {"master1": 4, "worker1": 4}, not_ready={"master1": 4}, warning="Multi-Attach error")
    only_worker1 = volume(attachments=(Attachment(SERVER_IDS["worker1"]),))
    check = rules.check_attachments(VOLUME_ID, only_worker1, rc, NODES, {}, target())
    assert check.status == FAIL
    assert check.evidence == f"volume {VOLUME_ID} attached to worker1 only; server pods run on master1, worker1"
    assert check.next == (f"openstack volume show {VOLUME_ID}; kubectl describe pod server-3f9a1c0d2e-00000 "
                          "(Multi-Attach error?)")
    line = check_line(replace(check, side="cinder"))
    assert line.startswith(f"✗ cinder      volume {VOLUME_ID} attached to worker1 only; server pods run on master1, "
                           f"worker1 → openstack volume show {VOLUME_ID}")


def test_attachment_to_a_server_without_storage_pods_fails():
    rc = controller("server", {"worker1": 4})
    check = rules.check_attachments(VOLUME_ID, volume(), rc, NODES, {}, single_target())
    assert check.status == FAIL
    assert "also on master1, worker2, where no server pod runs" in check.evidence
    assert "kubectl get volumeattachments" in check.next


def test_attachments_match_region_provider_ids_and_name_unknown_servers_from_nova():
    regional = tuple(replace(facts, provider_id=f"openstack://RegionOne/{SERVER_IDS[facts.name]}") for facts in NODES)
    rc = controller("server", {"worker1": 4})
    stray = volume(attachments=(Attachment(SERVER_IDS["worker1"]), Attachment("0000-stray")))
    check = rules.check_attachments(VOLUME_ID, stray, rc, regional, {"0000-stray": "old-node"}, single_target())
    assert check.status == FAIL and "also on old-node" in check.evidence
    exact = rules.check_attachments(VOLUME_ID, volume(attachments=(Attachment(SERVER_IDS["worker1"]),)), rc,
                                    regional, {}, single_target())
    assert exact.status == OK


def test_node_without_an_openstack_provider_id_fails_attachments():
    nodes = (MASTER1, replace(WORKER1, provider_id="kwok://worker1"), WORKER2)
    check = rules.check_attachments(VOLUME_ID, volume(), controller("server", SPREAD), nodes, {}, target())
    assert check.status == FAIL and "node worker1 has no OpenStack providerID" in check.evidence


def test_active_online_load_balancer_passes():
    check = rules.check_load_balancer(load_balancer(), "id x", target())
    assert check.status == OK
    assert check.evidence == (f"load balancer kube_service_kubernetes_default_lb-webserver ({LB_ID}, by annotation) "
                              "ACTIVE/ONLINE")


@pytest.mark.parametrize("provisioning, operating, status, words", [
    ("PENDING_UPDATE", "ONLINE", FAIL, "PENDING_UPDATE/ONLINE: Octavia is still working on it"),
    ("PENDING_CREATE", "OFFLINE", FAIL, "still working on it"),
    ("ERROR", "ERROR", FAIL, "ERROR/ERROR: Octavia gave up on it"),
    ("ACTIVE", "DEGRADED", WARN, "ACTIVE/DEGRADED: not ONLINE"),
    ("ACTIVE", "ERROR", FAIL, "ACTIVE/ERROR: not ONLINE"),
])
def test_load_balancer_not_active_or_online(provisioning, operating, status, words):
    lb = load_balancer(provisioning_status=provisioning, operating_status=operating)
    check = rules.check_load_balancer(lb, "id x", target())
    assert check.status == status and words in check.evidence
    assert f"openstack loadbalancer status show {LB_ID}" in check.next


def test_missing_load_balancer_and_a_stale_stack_id():
    missing = rules.check_load_balancer(None, "name kube_service_kubernetes_default_lb-webserver", target())
    assert missing.status == FAIL
    assert missing.evidence == "no load balancer: looked for name kube_service_kubernetes_default_lb-webserver"
    assert "kubectl describe svc lb-webserver" in missing.next
    stale = rules.check_load_balancer(load_balancer(), "id x", target(load_balancer_id="another"))
    assert stale.status == WARN and "the stack's loadBalancerId is another" in stale.evidence


def test_one_listener_per_service_port():
    check = rules.check_listeners(load_balancer(), service(), target())
    assert check.status == OK and check.evidence == "one listener per Service port: TCP 80"
    two_ports = service(ports=(ServicePort(80, NODE_PORT), ServicePort(443, 32443)))
    check = rules.check_listeners(load_balancer(), two_ports, target())
    assert check.status == FAIL and check.evidence == "listeners TCP 80: missing TCP 443"
    doubled = load_balancer(listeners=load_balancer().listeners * 2)
    assert rules.check_listeners(doubled, service(), target()).evidence == "listeners TCP 80, TCP 80: extra TCP 80"


def test_members_are_the_eligible_nodes_at_the_node_port():
    check = rules.check_members(load_balancer(), service(), NODES, target())
    assert check.status == OK
    assert check.evidence == (f"members worker1, worker2 at NodePort {NODE_PORT} = the nodes eligible for external "
                              "load balancers (master1 excluded)")


def test_members_missing_a_worker_fail_with_the_member_list_and_security_group_hint():
    check = rules.check_members(load_balancer(member_nodes=("worker1",)), service(), NODES, target())
    assert check.status == FAIL
    assert check.evidence == f"pool 1cd295db misses worker2 (127.0.1.3:{NODE_PORT})"
    assert f"openstack loadbalancer member list {POOL_ID}" in check.next
    assert "manage-security-groups" in check.next


def test_members_including_the_control_plane_fail():
    lb = load_balancer(member_nodes=("master1", "worker1", "worker2"))
    check = rules.check_members(lb, service(), NODES, target())
    assert check.status == FAIL
    assert f"has master1 (127.0.1.1:{NODE_PORT}), not an eligible node" in check.evidence


def test_members_at_another_port_or_in_error_fail():
    wrong_port = load_balancer(listeners=(Listener("l1", "TCP", 80, Pool(POOL_ID, None, members(
        "worker1", "worker2", port=30000))),))
    check = rules.check_members(wrong_port, service(), NODES, target())
    assert check.status == FAIL and "misses worker1" in check.evidence
    assert "has worker1 (127.0.1.2:30000)" in check.evidence
    erroring = load_balancer(listeners=(Listener("l1", "TCP", 80, Pool(POOL_ID, "hm", members(
        "worker1", "worker2", status="ERROR"))),))
    check = rules.check_members(erroring, service(), NODES, target())
    assert check.status == FAIL and "members worker1 ERROR, worker2 ERROR" in check.evidence


def test_no_eligible_node_fails_like_the_cloud_controller():
    nodes = tuple(replace(facts, labels={EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: ""}) for facts in NODES)
    check = rules.check_members(load_balancer(member_nodes=()), service(), nodes, target())
    assert check.status == FAIL and "no available nodes" in check.evidence
    assert "exclude-from-external-load-balancers-" in check.next


def test_a_not_ready_node_stays_a_member():
    """Readiness plays no part (kubernetes/cloud-provider's stable node set): a NotReady worker is
    still expected in the pool, and a pool without it misses it."""
    nodes = (MASTER1, WORKER1, replace(WORKER2, ready=False))
    kept = rules.check_members(load_balancer(), service(), nodes, target())
    assert kept.status == OK and "members worker1, worker2 at NodePort" in kept.evidence
    dropped = rules.check_members(load_balancer(member_nodes=("worker1",)), service(), nodes, target())
    assert dropped.status == FAIL and "misses worker2" in dropped.evidence


def test_a_control_plane_labelled_false_is_a_member():
    nodes = (replace(MASTER1, labels={EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: "false"}), WORKER1, WORKER2)
    check = rules.check_members(load_balancer(member_nodes=("master1", "worker1", "worker2")), service(), nodes,
                                target())
    assert check.status == OK, check.evidence
    assert "excluded" not in check.evidence
    assert rules.check_members(load_balancer(), service(), nodes, target()).status == FAIL, "master1 is missed"


@pytest.mark.parametrize("value", ["", "true", "True", "1", "yes"])
def test_the_exclude_label_excludes_unless_it_reads_false(value):
    nodes = (MASTER1, replace(WORKER1, labels={EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: value}), WORKER2)
    assert [node.name for node in rules.eligible_nodes(nodes)] == ["worker2"]
    check = rules.check_members(load_balancer(member_nodes=("worker2",)), service(), nodes, target())
    assert check.status == OK and check.evidence.endswith("(master1, worker1 excluded)")


@pytest.mark.parametrize("value, eligible", [("", False), ("true", False), ("false", True), ("0", True),
                                             ("F", True), ("no", False)])
def test_verify_and_the_domain_rule_agree(value, eligible):
    labels = {EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: value}
    assert excluded_from_external_load_balancers(labels) is not eligible
    assert (rules.eligible_nodes((replace(WORKER1, labels=labels),)) != []) is eligible


def test_no_health_monitor_is_a_warning_not_a_failure():
    check = rules.check_health_monitor(load_balancer())
    assert check.status == WARN
    assert check.evidence == "no health monitor on pool 1cd295db: a dead node keeps receiving connections"
    assert "loadbalancer.openstack.org/enable-health-monitor" in check.next
    assert rules.check_health_monitor(load_balancer(health_monitor="hm1")).status == OK
    assert verdict([Check("octavia", "load-balancer", OK, "x"), check]) == "pass"


def test_external_ip_is_the_floating_ip_of_the_vip_port():
    check = rules.check_address(load_balancer(), service(), target())
    assert check.status == OK
    assert check.evidence == f"the stack's externalIp {EXTERNAL_IP} = the floating IP of the VIP port (VIP {VIP})"


def test_external_ip_of_an_internal_load_balancer_is_its_vip():
    internal = service(annotations={"service.beta.kubernetes.io/openstack-internal-load-balancer": "true"}, ingress=VIP)
    check = rules.check_address(load_balancer(floating_ips=()), internal, target(external_ip=VIP))
    assert check.status == OK and check.evidence.endswith("= the VIP (internal load balancer)")


def test_external_ip_that_is_neither_fails():
    check = rules.check_address(load_balancer(floating_ips=("127.0.31.7",)), service(), target())
    assert check.status == FAIL
    assert check.evidence == (f"the stack's externalIp {EXTERNAL_IP} is neither the VIP {VIP} nor a floating IP of its "
                              "port (127.0.31.7)")
    assert check.next.startswith(f"openstack floating ip list --port {VIP_PORT}")


def test_http_requires_two_nodes_whenever_the_cluster_has_them():
    assert rules.http_requirements(NODES, target()) == (2, 2)
    assert rules.http_requirements((MASTER1, WORKER1), single_target()) == (2, 1), "one worker, control plane off"
    assert rules.http_requirements((MASTER1, WORKER1), target()) == (2, 2), "control plane on: master1 counts"
    assert rules.http_requirements((replace(WORKER1, ready=False), WORKER2), target()) == (2, 1)
    assert rules.http_requirements(NODES, target(lbserver_replicas=1)) == (1, 1)


def test_http_pass_and_failures():
    url = f"http://{EXTERNAL_IP}:80/"
    passed = rules.check_http(url, probe_result("pass", {"a": 1, "b": 1}, {"worker1": 1, "master1": 1},
                                                "2 pods on 2 nodes answered 2 requests"), 2, 2, load_balancer(),
                              target())
    assert passed.status == OK
    assert passed.evidence == f"{url}: 2 pods on 2 nodes answered 2 requests (2 pods on 2 nodes required)"
    one_node = rules.check_http(url, probe_result("fail", {"a": 8}, {"worker1": 8},
                                                  "1 node answered, at least 2 required"), 2, 2, load_balancer(),
                                target())
    assert one_node.status == FAIL and "1 node answered, at least 2 required" in one_node.evidence
    assert "kubectl get pods -o wide -l app=lbserver" in one_node.next
    assert f"openstack loadbalancer member list {POOL_ID}" in one_node.next
    silent = rules.check_http(url, probe_result("unreachable", {}, {}, "no answer within 5s (connect-timeout x3)",
                                                waiting_errors={"connect-timeout": 3}), 2, 2, load_balancer(),
                              target())
    assert silent.status == FAIL and "kubectl get svc lb-webserver -o wide" in silent.next
    assert "manage-security-groups" in silent.next
    nothing = rules.check_http(None, None, 2, 2, None, target())
    assert nothing.status == FAIL and nothing.evidence.startswith("not probed")
