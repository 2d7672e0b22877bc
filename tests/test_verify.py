"""python -m verify: each check on small hand-made facts, the target from outputs and config,
the report, and the CLI's exit codes (usage 2, unreachable side 3) and JSON document.

No cluster or cloud is needed: the sides are replaced by facts, except in the unreachable
tests, which point the real clients at a closed loopback port or at a Keystone that refuses
the password (tests/fake_openstack.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openstack import FakeOpenStack
from loopback_lb import free_port

from probe.check import ProbeOptions, ProbeResult, Tally
from verify import checks as rules
from verify.checks import FAIL, OK, WARN, Check
from verify.cli import Sides, main
from verify.facts import (
    Attachment,
    CinderType,
    CinderVolume,
    ClaimFacts,
    CloudFacts,
    ControllerFacts,
    KubeFacts,
    Listener,
    LoadBalancer,
    Member,
    NodeFacts,
    PodFacts,
    Pool,
    ServiceFacts,
    ServicePort,
    StorageClassFacts,
    Taint,
    VolumeFacts,
    server_id_of,
)
from verify.report import check_line, render_text, to_json, verdict
from verify.target import Target, Unreachable, UsageError, build_target, config_values, project_defaults

pytestmark = pytest.mark.timeout(60)

PROJECT_DIR = Path(__file__).resolve().parents[1]

SERVER_IDS = {"master1": "5c1f0a7e-0000-4000-8000-000000000001", "worker1": "5c1f0a7e-0000-4000-8000-000000000002",
              "worker2": "5c1f0a7e-0000-4000-8000-000000000003"}
VOLUME_ID = "98a97eec-d20d-4f87-88a4-208d5e216d8f"
TYPE_ID = "0f9c7a52-1111-4222-8333-444455556666"
LB_ID = "d6d9efbe-510c-4a51-b826-13c3c033ffba"
POOL_ID = "1cd295db-aaaa-4bbb-8ccc-dddddddddddd"
VIP_PORT = "7e7e7e7e-1111-4222-8333-444455556666"
NODE_PORT = 32346
EXTERNAL_IP = "127.0.31.2"
VIP = "127.0.21.2"


def node(name: str, ip: str, control_plane: bool = False, **changes) -> NodeFacts:
    facts = NodeFacts(
        name=name, internal_ip=ip, provider_id=f"openstack:///{SERVER_IDS[name]}", ready=True,
        control_plane=control_plane, excluded_from_lb=control_plane,
        taints=(Taint("node-role.kubernetes.io/control-plane", "NoSchedule"),) if control_plane else (),
    )
    return replace(facts, **changes)


MASTER1 = node("master1", "127.0.1.1", control_plane=True)
WORKER1 = node("worker1", "127.0.1.2")
WORKER2 = node("worker2", "127.0.1.3")
NODES = (MASTER1, WORKER1, WORKER2)


def target(**changes) -> Target:
    """The devstack stack, deployed: multi-attach, 8 + 8 pods, the control plane allowed."""
    base = Target(
        stack="devstack", namespace="default", service_name="lb-webserver", service_port=80, claim_name="claim1",
        storage_class_name="csi-sc-cinderplugin", volume_type_name="multiattach-type", volume_mode="Block",
        multiattach=True, schedule_on_control_plane=True, server_replicas=8, lbserver_replicas=8,
        admin_cloud="devstack-admin", external_ip=EXTERNAL_IP, url=f"http://{EXTERNAL_IP}:80/", load_balancer_id=LB_ID,
    )
    return replace(base, **changes)


def single_target(**changes) -> Target:
    """The devstack-single stack: Cinder's default type, ReadWriteOnce, pods off the control plane."""
    return target(volume_type_name=None, volume_mode="Filesystem", multiattach=False, schedule_on_control_plane=False,
                  server_replicas=4, **changes)


def pods(app: str, placement: dict[str, int], not_ready: dict[str, int] | None = None,
         warning: str | None = None) -> tuple[PodFacts, ...]:
    """Pods per node; `not_ready` of them per node hang in ContainerCreating with `warning`."""
    result, index = [], 0
    for node_name, count in placement.items():
        hanging = (not_ready or {}).get(node_name, 0)
        for number in range(count):
            ready = number >= hanging
            result.append(PodFacts(name=f"{app}-{index:05d}", node=node_name, ready=ready,
                                   phase="Running" if ready else "Pending",
                                   waiting_reason=None if ready else "ContainerCreating",
                                   warning=None if ready else warning))
            index += 1
    return tuple(result)


def controller(app: str, placement: dict[str, int], replicas: int | None = None, **pod_args) -> ControllerFacts:
    members = pods(app, placement, **pod_args)
    return ControllerFacts(name=app, replicas=len(members) if replicas is None else replicas,
                           ready_replicas=sum(pod.ready for pod in members), pods=members)


SPREAD = {"master1": 3, "worker1": 3, "worker2": 2}


def claim(**changes) -> ClaimFacts:
    base = ClaimFacts(name="claim1", phase="Bound", access_modes=("ReadWriteMany",), volume_mode="Block",
                      storage_class="csi-sc-cinderplugin", volume_name="pvc-0001")
    return replace(base, **changes)


PV = VolumeFacts(name="pvc-0001", driver="cinder.csi.openstack.org", volume_handle=VOLUME_ID)
STORAGE_CLASS = StorageClassFacts(name="csi-sc-cinderplugin", provisioner="cinder.csi.openstack.org",
                                  parameters={"type": "multiattach-type"})


def service(**changes) -> ServiceFacts:
    base = ServiceFacts(name="lb-webserver", type="LoadBalancer", ports=(ServicePort(80, NODE_PORT, "TCP", "http"),),
                        annotations={"loadbalancer.openstack.org/load-balancer-id": LB_ID}, ingress=EXTERNAL_IP)
    return replace(base, **changes)


def volume(**changes) -> CinderVolume:
    base = CinderVolume(id=VOLUME_ID, status="in-use", volume_type="multiattach-type", multiattach=True,
                        attachments=tuple(Attachment(SERVER_IDS[name], name) for name in SPREAD))
    return replace(base, **changes)


MULTIATTACH_TYPE = CinderType(id=TYPE_ID, name="multiattach-type", extra_specs={"multiattach": "<is> True"})


def members(*names: str, port: int = NODE_PORT, status: str = "NO_MONITOR") -> tuple[Member, ...]:
    by_name = {facts.name: facts.internal_ip for facts in NODES}
    return tuple(Member(by_name[name], port, status) for name in names)


def load_balancer(member_nodes=("worker1", "worker2"), health_monitor: str | None = None, **changes) -> LoadBalancer:
    pool = Pool(id=POOL_ID, health_monitor_id=health_monitor, members=members(*member_nodes))
    base = LoadBalancer(id=LB_ID, name="kube_service_kubernetes_default_lb-webserver", provisioning_status="ACTIVE",
                        operating_status="ONLINE", vip_address=VIP, vip_port_id=VIP_PORT, floating_ips=(EXTERNAL_IP,),
                        listeners=(Listener(id="l1", protocol="TCP", port=80, pool=pool),), found_by="annotation")
    return replace(base, **changes)


def probe_result(verdict_: str, pods_seen: dict[str, int], nodes_seen: dict[str, int], reason: str,
                 errors: dict[str, int] | None = None, waiting_errors: dict[str, int] | None = None) -> ProbeResult:
    tally = Tally(requests=sum(pods_seen.values()) + sum((errors or {}).values()), pods=Counter(pods_seen),
                  nodes=Counter(nodes_seen), errors=Counter(errors or {}))
    waiting = Tally(requests=sum((waiting_errors or {}).values()), errors=Counter(waiting_errors or {}))
    return ProbeResult(url=f"http://{EXTERNAL_IP}:80/", verdict=verdict_, reason=reason, tally=tally, waiting=waiting,
                       waited_seconds=0.0, elapsed_seconds=0.1)


# ---------------------------------------------------------------- facts


@pytest.mark.parametrize("provider_id, expected", [
    ("openstack:///5c1f0a7e-0000-4000-8000-000000000001", "5c1f0a7e-0000-4000-8000-000000000001"),
    ("openstack://RegionOne/5c1f0a7e-0000-4000-8000-000000000002", "5c1f0a7e-0000-4000-8000-000000000002"),
    ("aws:///eu-west-1a/i-0abc", None),
    ("", None),
    (None, None),
])
def test_provider_id_names_the_nova_server(provider_id, expected):
    assert server_id_of(provider_id) == expected


# ---------------------------------------------------------------- Kubernetes


def test_all_replicas_ready_names_their_nodes():
    check = rules.check_replicas("server", 8, controller("server", SPREAD), target())
    assert check.status == OK
    assert check.evidence == "server: 8/8 ready on master1, worker1, worker2"


def test_seven_of_eight_ready_fails_naming_the_pod_and_its_multi_attach_error():
    warning = "FailedAttachVolume: Multi-Attach error for volume pvc-0001 Volume is already used by pod(s) server-00003"
    rc = controller("server", SPREAD, not_ready={"master1": 1}, warning=warning)
    check = rules.check_replicas("server", 8, rc, target())
    assert check.status == FAIL
    assert check.evidence.startswith("server: 7/8 ready; not ready: server-00000 on master1 (ContainerCreating: "
                                     "FailedAttachVolume: Multi-Attach error")
    assert "kubectl get pods -o wide -l app=server" in check.next
    assert "kubectl describe pod server-00000" in check.next
    assert "openstack volume type show multiattach-type" in check.next


def test_replicas_the_controller_does_not_ask_for_fail():
    check = rules.check_replicas("lbserver", 8, controller("lbserver", {"worker1": 2, "worker2": 2}), target())
    assert check.status == FAIL
    assert "4/8 ready" in check.evidence and "the controller asks for 4, the stack for 8" in check.evidence
    assert "pulumi refresh" in check.next


def test_missing_controller_fails():
    check = rules.check_replicas("server", 8, None, target(namespace="apps"))
    assert check.status == FAIL
    assert check.evidence == "server: no ReplicationController server in namespace apps"
    assert check.next.startswith("kubectl -n apps get rc")


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
    rc = ControllerFacts("server", 8, 0, (PodFacts("server-1", None, False, "Pending"),))
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


# ---------------------------------------------------------------- Cinder


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
    only_worker1 = volume(attachments=(Attachment(SERVER_IDS["worker1"], "worker1"),))
    check = rules.check_attachments(VOLUME_ID, only_worker1, rc, NODES, {}, target())
    assert check.status == FAIL
    assert check.evidence == f"volume {VOLUME_ID} attached to worker1 only; server pods run on master1, worker1"
    assert check.next == f"openstack volume show {VOLUME_ID}; kubectl describe pod server-00000 (Multi-Attach error?)"
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


# ---------------------------------------------------------------- Octavia


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
    nodes = tuple(replace(facts, excluded_from_lb=True) for facts in NODES)
    check = rules.check_members(load_balancer(member_nodes=()), service(), nodes, target())
    assert check.status == FAIL and "no available nodes" in check.evidence
    assert "exclude-from-external-load-balancers-" in check.next


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


# ---------------------------------------------------------------- HTTP


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


# ---------------------------------------------------------------- target


def test_pulumi_config_json_and_plain_documents():
    pulumi_shape = {"devstack-k8s-apps:multiattach": {"value": "false", "secret": False},
                    "devstack-k8s-apps:token": {"secret": True},
                    "kubernetes:context": {"value": "lab", "secret": False}}
    assert config_values(pulumi_shape) == {"multiattach": "false", "kubernetes:context": "lab"}
    assert config_values({"multiattach": False, "servicePort": 8080}) == {"multiattach": False, "servicePort": 8080}
    with pytest.raises(UsageError):
        config_values(["not", "an", "object"])


def test_defaults_come_from_pulumi_yaml():
    defaults = project_defaults()
    assert defaults["namespace"] == "default" and defaults["adminCloud"] == "devstack-admin"
    assert defaults["multiattach"] == "true" and defaults["loadBalancerAnnotations"] == "{}"


def test_target_from_outputs_config_and_overrides():
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1", "serviceName": "lb-webserver",
               "serverReplicas": 4.0, "lbserverReplicas": 8}
    config = {"multiattach": "false", "volumeMode": "Filesystem", "scheduleOnControlPlane": False,
              "kubernetes:context": "lab"}
    made = build_target("devstack-single", outputs, config, {"namespace": "apps", "cloud": "other"})
    assert made.multiattach is False and made.volume_type_name is None and made.volume_mode == "Filesystem"
    assert made.server_replicas == 4 and made.lbserver_replicas == 8 and made.external_ip == EXTERNAL_IP
    assert made.namespace == "apps" and made.admin_cloud == "other" and made.context == "lab"
    multi = build_target("devstack", dict(outputs, volumeTypeName="mtype"), {}, {})
    assert multi.multiattach is True and multi.volume_type_name == "mtype" and multi.admin_cloud == "devstack-admin"
    bare = build_target(None, None, {}, {"service_name": "web"})
    assert bare.service_name == "web" and bare.external_ip is None and bare.volume_type_name == "multiattach-type"


def test_a_stack_without_outputs_is_not_deployed_and_bad_config_is_usage():
    with pytest.raises(Unreachable, match="not deployed"):
        build_target("devstack", {}, {}, {})
    with pytest.raises(UsageError, match="servicePort"):
        build_target("devstack", {"url": "http://x/"}, {"servicePort": "0"}, {})
    with pytest.raises(UsageError, match="serverReplicas"):
        build_target("devstack", {"serverReplicas": "eight"}, {}, {})


# ---------------------------------------------------------------- report and CLI


def kube_facts(**changes) -> KubeFacts:
    base = KubeFacts(nodes=NODES, controllers={"server": controller("server", SPREAD),
                                               "lbserver": controller("lbserver", SPREAD)},
                     claim=claim(), volume=PV, storage_class=STORAGE_CLASS, service=service(), server="https://lab")
    return replace(base, **changes)


def cloud_facts(**changes) -> CloudFacts:
    base = CloudFacts(volume_id=VOLUME_ID, volume=volume(), type_name="multiattach-type", volume_type=MULTIATTACH_TYPE,
                      servers={}, load_balancer=load_balancer(), load_balancer_lookup=f"id {LB_ID}")
    return replace(base, **changes)


def fake_sides(kube: KubeFacts | Exception | None = None, cloud: CloudFacts | Exception | None = None,
               probe: ProbeResult | None = None, calls: list | None = None) -> Sides:
    calls = [] if calls is None else calls

    def answer(value):
        if isinstance(value, Exception):
            raise value
        return value

    def read_kube(target_, apps):
        calls.append(("kube", target_, apps))
        return answer(kube if kube is not None else kube_facts())

    def read_cloud(target_, volume_id, service_):
        calls.append(("cloud", volume_id, service_.name if service_ else None))
        return answer(cloud if cloud is not None else cloud_facts())

    def run_probe(options: ProbeOptions, progress):
        calls.append(("probe", options))
        return probe or probe_result("pass", {"a": 1, "b": 1}, {"worker1": 1, "master1": 1},
                                     "2 pods on 2 nodes answered 2 requests")

    def no_pulumi(stack):
        raise AssertionError("the pulumi CLI must not run when files are given")

    return Sides(kube=read_kube, cloud=read_cloud, probe=run_probe, outputs=no_pulumi, config=no_pulumi)


@pytest.fixture
def stack_files(tmp_path) -> list[str]:
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "volumeTypeName": "multiattach-type", "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1",
               "serviceName": "lb-webserver", "serverReplicas": 8, "lbserverReplicas": 8}
    config = {"devstack-k8s-apps:multiattach": {"value": "true", "secret": False}}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    (tmp_path / "config.json").write_text(json.dumps(config))
    return ["--outputs-json", str(tmp_path / "outputs.json"), "--config-json", str(tmp_path / "config.json")]


def test_all_checks_hold_exit_0_with_the_json_document(stack_files, capsys):
    calls = []
    code = main([*stack_files, "--json", "--http-deadline", "7"], fake_sides(calls=calls))
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert set(document) == {"stack", "checks", "verdict"} and document["verdict"] == "pass"
    assert document["stack"] is None
    for check in document["checks"]:
        assert set(check) == {"side", "name", "status", "evidence", "next"}
        assert check["status"] in (OK, WARN, FAIL) and check["evidence"]
    names = [(check["side"], check["name"]) for check in document["checks"]]
    assert names == [
        ("kubernetes", "replicas/server"), ("kubernetes", "placement/server"), ("kubernetes", "replicas/lbserver"),
        ("kubernetes", "placement/lbserver"), ("kubernetes", "claim"), ("kubernetes", "service"),
        ("cinder", "volume"), ("cinder", "volume-type"), ("cinder", "attachments"),
        ("octavia", "load-balancer"), ("octavia", "listeners"), ("octavia", "members"),
        ("octavia", "health-monitor"), ("octavia", "address"), ("http", "probe"),
    ]
    assert [check["status"] for check in document["checks"]].count(WARN) == 1, "only the health monitor warns"
    probe_options = next(call[1] for call in calls if call[0] == "probe")
    assert (probe_options.url, probe_options.min_pods, probe_options.min_nodes, probe_options.deadline) == (
        f"http://{EXTERNAL_IP}:80/", 2, 2, 7.0)
    assert ("cloud", VOLUME_ID, "lb-webserver") in calls


def test_a_failing_check_exits_1_and_the_text_says_what_to_look_at(stack_files, capsys):
    cloud = cloud_facts(volume=volume(attachments=(Attachment(SERVER_IDS["worker1"]),)))
    code = main(stack_files, fake_sides(cloud=cloud))
    text = capsys.readouterr().out
    assert code == 1
    lines = text.splitlines()
    assert lines[0] == f"verify: {stack_files[1]} and {stack_files[3]}; namespace default, cloud devstack-admin"
    assert "✓ kubernetes  server: 8/8 ready on master1, worker1, worker2" in lines
    failing = [line for line in lines if line.startswith("✗")]
    assert failing == [f"✗ cinder      volume {VOLUME_ID} attached to worker1 only; server pods run on master1, "
                       f"worker1, worker2 → openstack volume show {VOLUME_ID}; kubectl describe pod server-00000 "
                       "(Multi-Attach error?)"]
    assert any(line.startswith("! octavia     no health monitor") for line in lines)
    assert lines[-1] == "FAIL: 1 of 15 checks fail, 1 warning"


def test_an_unreachable_cloud_exits_3_after_the_kubernetes_checks(stack_files, capsys):
    error = Unreachable("openstack", "cloud devstack-admin: authenticating: the credentials are refused (HTTP 401)",
                        "openstack --os-cloud devstack-admin token issue")
    code = main([*stack_files, "--json"], fake_sides(cloud=error))
    document = json.loads(capsys.readouterr().out)
    assert code == 3 and document["verdict"] == "unreachable"
    assert [check["side"] for check in document["checks"]] == ["kubernetes"] * 6 + ["openstack"]
    last = document["checks"][-1]
    assert last["name"] == "unreachable" and last["status"] == FAIL and "HTTP 401" in last["evidence"]


def test_a_stack_without_outputs_exits_3(tmp_path, capsys):
    (tmp_path / "outputs.json").write_text("{}")
    code = main(["--outputs-json", str(tmp_path / "outputs.json"), "--json"], fake_sides())
    document = json.loads(capsys.readouterr().out)
    assert code == 3 and document["checks"][0]["side"] == "pulumi"
    assert "not deployed" in document["checks"][0]["evidence"] and document["checks"][0]["next"].startswith("pulumi up")


def test_a_single_attach_stack_from_the_pulumi_cli_shape(tmp_path, capsys):
    """devstack-single read through the (replaced) pulumi CLI: default type, one node, workers only."""
    outputs = {"externalIp": EXTERNAL_IP, "url": f"http://{EXTERNAL_IP}:80/", "loadBalancerId": LB_ID,
               "storageClassName": "csi-sc-cinderplugin", "claimName": "claim1", "serviceName": "lb-webserver",
               "serverReplicas": 4, "lbserverReplicas": 8}
    config = {"devstack-k8s-apps:multiattach": {"value": "false", "secret": False},
              "devstack-k8s-apps:volumeMode": {"value": "Filesystem", "secret": False},
              "devstack-k8s-apps:scheduleOnControlPlane": {"value": "false", "secret": False}}
    kube = kube_facts(controllers={"server": controller("server", {"worker1": 4}),
                                   "lbserver": controller("lbserver", {"worker1": 4, "worker2": 4})},
                      claim=claim(access_modes=("ReadWriteOnce",), volume_mode="Filesystem"),
                      storage_class=replace(STORAGE_CLASS, parameters={}))
    cloud = cloud_facts(volume=volume(multiattach=False, volume_type="lvmdriver-1",
                                      attachments=(Attachment(SERVER_IDS["worker1"]),)),
                        type_name=None, volume_type=None)
    sides = fake_sides(kube=kube, cloud=cloud)
    asked = []
    sides.outputs = lambda stack: asked.append(("outputs", stack)) or outputs
    sides.config = lambda stack: asked.append(("config", stack)) or config
    code = main(["--stack", "devstack-single", "--json"], sides)
    document = json.loads(capsys.readouterr().out)
    assert code == 0, [check for check in document["checks"] if check["status"] != OK]
    assert document["stack"] == "devstack-single"
    assert asked == [("outputs", "devstack-single"), ("config", "devstack-single")]


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


def verify(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verify", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("args, message", [
    (["--stack", "devstack", "--outputs-json", "o.json"], "leave out --outputs-json"),
    (["--no-stack", "--config-json", "c.json"], "--no-stack uses no stack"),
    (["--no-stack", "--http-deadline", "nan"], "not a finite number"),
    (["--no-stack", "--http-deadline", "0"], "below the minimum"),
    (["--no-stack", "--skip-http"], "unrecognized arguments: --skip-http"),
    (["--outputs-json", "/nonexistent/outputs.json"], "cannot read the outputs file"),
    (["--no-stack", "--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig /nonexistent/kubeconfig: no such file"),
])
def test_usage_errors_exit_2(args, message):
    result = verify(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stdout == ""


def test_invalid_config_and_outputs_files_exit_2(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"servicePort": 70000}))
    (tmp_path / "outputs.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    bad_config = verify("--config-json", str(tmp_path / "config.json"))
    assert bad_config.returncode == 2 and "devstack-k8s-apps:servicePort = '70000' is invalid" in bad_config.stderr
    assert verify("--outputs-json", str(tmp_path / "outputs.json")).returncode == 2
    broken = verify("--outputs-json", str(tmp_path / "broken.json"))
    assert broken.returncode == 2 and "is not JSON" in broken.stderr


def closed_port_kubeconfig(path: Path) -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {{server: "https://127.0.0.1:{free_port()}", insecure-skip-tls-verify: true}}
contexts:
- name: lab
  context: {{cluster: lab, user: admin}}
current-context: lab
users:
- name: admin
  user: {{token: not-a-secret}}
""")
    return path


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


def _cloud_only(tmp_path, clouds_yaml: Path, monkeypatch, capsys) -> tuple[int, dict]:
    """The real OpenStack side behind a replaced Kubernetes side."""
    from verify.cloud_side import fetch_cloud

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    sides = fake_sides()
    sides.cloud = fetch_cloud
    code = main(["--no-stack", "--json"], sides)
    return code, json.loads(capsys.readouterr().out)


def test_openstack_refusing_the_password_exits_3(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml", password="wrong")
        code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and document["verdict"] == "unreachable"
    last = document["checks"][-1]
    assert (last["side"], last["name"]) == ("openstack", "unreachable")
    assert "devstack-admin" in last["evidence"] and "credentials are refused" in last["evidence"]
    assert len(document["checks"]) == 7, "the Kubernetes checks are still reported"


def test_openstack_on_a_closed_port_exits_3(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml")
    text = clouds.read_text().replace(cloud.base, f"http://127.0.0.1:{free_port()}")
    clouds.write_text(text)
    started = time.monotonic()
    code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and "cannot reach the API" in document["checks"][-1]["evidence"]
    assert time.monotonic() - started < 30


def test_an_unknown_cloud_exits_3_naming_it(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml", cloud="elsewhere")
        code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and "devstack-admin" in document["checks"][-1]["evidence"]
