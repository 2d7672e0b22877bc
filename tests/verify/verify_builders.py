"""Small hand-made facts and targets for verify's tests (the devstack stack, deployed), the
replaced sides, and the CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from harness import PROJECT_DIR

from lab.ports import free_port
from policy.devstack_domain import EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL
from probe.check import ProbeOptions, ProbeResult, Tally
from verify.cli import Sides
from verify.facts import (
    Attachment,
    CinderType,
    CinderVolume,
    ClaimFacts,
    CloudFacts,
    ControllerFacts,
    FloatingIP,
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
)
from verify.target import Target

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


IMAGE = "nginx:1.27.4"


HASHES = {"server": "3f9a1c0d2e", "lbserver": "8b0e52c6a1"}


CONTROLLERS = {app: f"{app}-{hash_}" for app, hash_ in HASHES.items()}


FLOATING_IP_ID = "f1f1f1f1-2222-4333-8444-555566667777"


def node(name: str, ip: str, control_plane: bool = False, **changes) -> NodeFacts:
    # kubeadm labels a control-plane node both ways, the exclude label with an empty value.
    labels = {"node-role.kubernetes.io/control-plane": "", EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: ""}
    facts = NodeFacts(
        name=name, internal_ip=ip, provider_id=f"openstack:///{SERVER_IDS[name]}", ready=True,
        control_plane=control_plane, labels=labels if control_plane else {},
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
        image=IMAGE, volume_size_gi=1, controller_names=dict(CONTROLLERS), template_hashes=dict(HASHES),
    )
    return replace(base, **changes)


def single_target(**changes) -> Target:
    """The devstack-single stack: Cinder's default type, ReadWriteOnce, pods off the control plane."""
    return target(volume_type_name=None, volume_mode="Filesystem", multiattach=False, schedule_on_control_plane=False,
                  server_replicas=4, **changes)


def pods(app: str, placement: dict[str, int], not_ready: dict[str, int] | None = None,
         warning: str | None = None, template_hash: str | None = None, image: str = IMAGE) -> tuple[PodFacts, ...]:
    """Pods per node; `not_ready` of them per node hang in ContainerCreating with `warning`.
    They run the app's declared template unless `template_hash` or `image` say otherwise."""
    hash_ = template_hash or HASHES[app]
    result, index = [], 0
    for node_name, count in placement.items():
        hanging = (not_ready or {}).get(node_name, 0)
        for number in range(count):
            ready = number >= hanging
            result.append(PodFacts(name=f"{app}-{hash_}-{index:05d}", node=node_name, ready=ready,
                                   phase="Running" if ready else "Pending",
                                   waiting_reason=None if ready else "ContainerCreating",
                                   warning=None if ready else warning, template_hash=hash_,
                                   images={"nginx": image}))
            index += 1
    return tuple(result)


def controller(app: str, placement: dict[str, int], replicas: int | None = None, template_hash: str | None = None,
               **pod_args) -> ControllerFacts:
    """The app's controller; its status counts its Ready pods as ready and available."""
    hash_ = template_hash or HASHES[app]
    members = pods(app, placement, template_hash=hash_, **pod_args)
    ready = sum(pod.ready for pod in members)
    return ControllerFacts(replicas=len(members) if replicas is None else replicas, pods=members,
                           name=f"{app}-{hash_}", template_hash=hash_, ready_replicas=ready, available_replicas=ready,
                           created=1_800_000_000.0)


SPREAD = {"master1": 3, "worker1": 3, "worker2": 2}


def claim(**changes) -> ClaimFacts:
    base = ClaimFacts(name="claim1", phase="Bound", access_modes=("ReadWriteMany",), volume_mode="Block",
                      storage_class="csi-sc-cinderplugin", volume_name="pvc-0001", requested="1Gi", capacity="1Gi")
    return replace(base, **changes)


PV = VolumeFacts(name="pvc-0001", driver="cinder.csi.openstack.org", volume_handle=VOLUME_ID, capacity="1Gi")


STORAGE_CLASS = StorageClassFacts(name="csi-sc-cinderplugin", parameters={"type": "multiattach-type"})


def service(**changes) -> ServiceFacts:
    base = ServiceFacts(name="lb-webserver", type="LoadBalancer", ports=(ServicePort(80, NODE_PORT, "TCP"),),
                        annotations={"loadbalancer.openstack.org/load-balancer-id": LB_ID}, ingress=EXTERNAL_IP)
    return replace(base, **changes)


def volume(**changes) -> CinderVolume:
    base = CinderVolume(id=VOLUME_ID, status="in-use", volume_type="multiattach-type", multiattach=True,
                        attachments=tuple(Attachment(SERVER_IDS[name]) for name in SPREAD), size=1)
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


def kube_facts(**changes) -> KubeFacts:
    """The devstack stack as deployed: each app's pods are those of its one controller."""
    controllers = {"server": controller("server", SPREAD), "lbserver": controller("lbserver", SPREAD)}
    base = KubeFacts(nodes=NODES, controllers=controllers, claim=claim(), volume=PV, storage_class=STORAGE_CLASS,
                     service=service(), leftover_controllers={app: () for app in controllers},
                     app_pods={app: rc.pods for app, rc in controllers.items()})
    return replace(base, **changes)


def service_floating_ip(address: str = EXTERNAL_IP, port_id: str | None = VIP_PORT,
                        ip_id: str = FLOATING_IP_ID) -> FloatingIP:
    return FloatingIP(id=ip_id, address=address, port_id=port_id,
                      description="Floating IP for Kubernetes external service default/lb-webserver from cluster "
                                  "kubernetes")


def cloud_facts(**changes) -> CloudFacts:
    base = CloudFacts(volume_id=VOLUME_ID, volume=volume(), type_name="multiattach-type", volume_type=MULTIATTACH_TYPE,
                      servers={}, load_balancer=load_balancer(), load_balancer_lookup=f"id {LB_ID}",
                      service_floating_ips=(service_floating_ip(),))
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


def verify(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verify", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=timeout, env=env)


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
