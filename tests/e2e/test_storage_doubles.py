"""The Cinder CSI double (lab/cinder_csi.py) and the kubelet/containers double (lab/kubelet.py)
against the real control plane (kube-apiserver, kube-controller-manager's PV binder and
attach/detach controller, kube-scheduler, KWOK playing the nodes only) and the OpenStack double.

The module starts its own lab (lab/environment.py) with only these parts: the control plane (KWOK
with the node stages only: the kubelet double plays the pods), the OpenStack double and both
doubles; it stops them all at the end.
Each test works in its own namespace with plain manifests, as the article does.
"""
from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lab import ports, processes
from lab.cinder_csi import DETACH_WAIT_SECONDS
from lab.cluster import CONTROL_PLANE_LABEL, CSI_DRIVER, ClusterShape, NodeShape
from lab.environment import Lab
from lab.parts import CONTROL_PLANE

SERVERS = {n.name: n.server_id for n in ClusterShape().nodes}  # server ids do not depend on the block
ATTACHER_FINALIZER = "external-attacher/cinder-csi-openstack-org"
PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
TOLERATE_CONTROL_PLANE = [{"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}]
IMAGE = "nginx:1.27.4"

pytestmark = pytest.mark.timeout(420)


# --------------------------------------------------------------------------- the lab of this module

PARTS = [*CONTROL_PLANE, "openstack", "cinder-csi", "kubelet"]  # no kube-proxy, no cloud controller


@dataclass
class StorageLab:
    """The module's lab and the clients its tests use."""

    lab: Lab

    @property
    def api(self) -> client.ApiClient:
        return self.lab.kube_api()

    @property
    def shapes(self) -> dict[str, NodeShape]:
        """The nodes in this lab's address block (pod prefixes, InternalIPs)."""
        return {n.name: n for n in self.lab.shape.nodes}

    def process(self, name: str) -> processes.Process:
        return self.lab.process(name)

    def restart(self, name: str) -> processes.Process:
        old = self.process(name)
        fresh = self.lab.restart(name)
        assert not processes.alive(old)
        return fresh

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def storage(self) -> client.StorageV1Api:
        return client.StorageV1Api(self.api)

    def cloud(self):
        import openstack.config
        import openstack.connection

        region = openstack.config.OpenStackConfig(config_files=[str(self.lab.paths.clouds_yaml)]).get_one(
            cloud="devstack-admin")
        return openstack.connection.Connection(config=region)

    def dead_parts(self) -> str | None:
        dead = [p for p in self.lab.state.processes if not processes.alive(p)]
        return "; ".join(f"{p.name} died:\n{processes.log_tail(p, 30)}" for p in dead) or None

    def check_alive(self) -> None:
        assert self.dead_parts() is None, self.dead_parts()


@pytest.fixture(scope="module")
def storage_lab(make_lab):
    lab = StorageLab(make_lab("storage-lab", parts=PARTS))
    yield lab
    lab.check_alive()


# --------------------------------------------------------------------------- helpers

def wait_until(what: str, check, timeout: float, interval: float = 0.2, lab: StorageLab | None = None):
    """lab.ports.wait_until, giving up at once when a part of the lab died."""
    return ports.wait_until(what, check, timeout, interval,
                            still_worth_waiting=None if lab is None else lab.dead_parts)


@pytest.fixture
def namespace(storage_lab, request):
    name = f"t-{request.node.name.removeprefix('test_').replace('_', '-')[:40]}-{uuid.uuid4().hex[:5]}"
    core = storage_lab.core
    core.create_namespace({"metadata": {"name": name}})
    wait_until("the default ServiceAccount", lambda: _exists(
        lambda: core.read_namespaced_service_account("default", name)), 60)
    return name


def _exists(read) -> bool:
    try:
        read()
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        raise


def storage_class(name: str, parameters: dict | None = None) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": CSI_DRIVER, "parameters": parameters or {}, "allowVolumeExpansion": True}


def claim(name: str, sc: str, access: str, volume_mode: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": [access], "volumeMode": volume_mode, "storageClassName": sc,
                     "resources": {"requests": {"storage": "1Gi"}}}}


def nginx(volume_mode: str | None = None, claim_volume: str = "shared-content") -> dict:
    container = {"name": "nginx", "image": IMAGE, "ports": [{"name": "http", "containerPort": 80}]}
    if volume_mode == "Block":
        container["volumeDevices"] = [{"name": claim_volume, "devicePath": "/dev/xvda"}]
    elif volume_mode == "Filesystem":
        container["volumeMounts"] = [{"name": claim_volume, "mountPath": "/var/lib/www/html"}]
    return container


def replication_controller(name: str, replicas: int, claim_name: str, volume_mode: str) -> dict:
    """The article's `server` ReplicationController, spread one pod per node at most skew 1."""
    labels = {"app": name}
    return {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": labels, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [nginx(volume_mode)],
                "volumes": [{"name": "shared-content", "persistentVolumeClaim": {"claimName": claim_name}}],
                "tolerations": TOLERATE_CONTROL_PLANE,
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "DoNotSchedule",
                                               "labelSelector": {"matchLabels": labels}}],
            }}},
    }


def pod_on(name: str, node: str, extra_ports: tuple[int, ...] = ()) -> dict:
    container = nginx()
    container["ports"] += [{"containerPort": p} for p in extra_ports]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "pinned"}},
            "spec": {"containers": [container], "tolerations": TOLERATE_CONTROL_PLANE,
                     "nodeSelector": {"kubernetes.io/hostname": node}}}


def ready(pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def waiting_reason(pod) -> str | None:
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting:
            return status.state.waiting.reason
    return None


def pods_of(lab: StorageLab, namespace: str, app: str) -> list:
    return lab.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def events_of(lab: StorageLab, namespace: str, pod_name: str) -> list:
    return [e for e in lab.core.list_namespaced_event(namespace).items
            if e.involved_object.kind == "Pod" and e.involved_object.name == pod_name]


def volume_name(pv) -> str:
    return f"kubernetes.io/csi/{CSI_DRIVER}^{pv.spec.csi.volume_handle}"


def volumes_in_use(lab: StorageLab) -> dict[str, list[str]]:
    return {n.metadata.name: n.status.volumes_in_use or [] for n in lab.core.list_node().items}


def attachments_of(lab: StorageLab, pv_name: str) -> list:
    return [va for va in lab.storage.list_volume_attachment().items
            if va.spec.source.persistent_volume_name == pv_name]


def cinder_volume(conn, volume_id: str):
    from openstack import exceptions

    try:
        return conn.block_storage.get_volume(volume_id)
    except exceptions.NotFoundException:
        return None


def http_get(ip: str, port: int = 80, timeout: float = 5) -> str:
    """One request on a new TCP connection, as the probe and haproxy do."""
    with socket.create_connection((ip, port), timeout=timeout) as conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def refused(ip: str, port: int = 80) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((ip, port)) != 0


def delete_and_wait_released(lab: StorageLab, namespace: str, rc_name: str, claim_name: str,
                             pv_name: str, volume_id: str, timeout: float = 120) -> dict[str, float]:
    """Delete the controller's pods and the claim; time the detach, the Cinder delete and the PV."""
    conn = lab.cloud()
    t0 = time.monotonic()
    lab.core.delete_namespaced_replication_controller(rc_name, namespace, propagation_policy="Background")
    wait_until("the pods to go", lambda: not pods_of(lab, namespace, rc_name), timeout, lab=lab)
    pods_gone = time.monotonic() - t0
    lab.core.delete_namespaced_persistent_volume_claim(claim_name, namespace)
    wait_until("the VolumeAttachments to go", lambda: not attachments_of(lab, pv_name), timeout, lab=lab)
    detached = time.monotonic() - t0
    wait_until("Cinder to show no attachment", lambda: (v := cinder_volume(conn, volume_id)) is None
               or not v.attachments, timeout, lab=lab)
    wait_until("the Cinder volume to be deleted", lambda: cinder_volume(conn, volume_id) is None,
               timeout, lab=lab)
    volume_deleted = time.monotonic() - t0
    wait_until("the PersistentVolume to go", lambda: not _exists(
        lambda: lab.core.read_persistent_volume(pv_name)), timeout, lab=lab)
    pv_gone = time.monotonic() - t0
    assert all(volume_name_for(volume_id) not in names for names in volumes_in_use(lab).values())
    return {"pods gone": pods_gone, "detached": detached, "volume deleted": volume_deleted,
            "pv gone": pv_gone}


def volume_name_for(volume_id: str) -> str:
    return f"kubernetes.io/csi/{CSI_DRIVER}^{volume_id}"


def report(title: str, timings: dict[str, float]) -> None:
    print(f"\n[timings] {title}: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


# --------------------------------------------------------------------------- the tests

def test_rwo_claim_on_the_default_type_attaches_to_one_node_and_other_pods_hit_multi_attach(
        storage_lab, namespace):
    """The article's first app: Cinder's default type, a ReadWriteOnce claim, 4 nginx pods
    spread over the three nodes. One node gets the volume; the other nodes' pods hang in
    ContainerCreating with kube-controller-manager's Multi-Attach error."""
    lab, conn = storage_lab, storage_lab.cloud()
    sc = f"sc-rwo-{namespace}"
    t0 = time.monotonic()
    lab.storage.create_storage_class(storage_class(sc))
    try:
        lab.core.create_namespaced_persistent_volume_claim(namespace, claim("claim1", sc, "ReadWriteOnce",
                                                                            "Filesystem"))
        bound = wait_until("claim1 Bound", lambda: (c := lab.core.read_namespaced_persistent_volume_claim(
            "claim1", namespace)).status.phase == "Bound" and c, 60, lab=lab)
        t_bound = time.monotonic() - t0
        pv = lab.core.read_persistent_volume(bound.spec.volume_name)
        assert pv.metadata.name == f"pvc-{bound.metadata.uid}"
        assert pv.spec.csi.driver == CSI_DRIVER and pv.spec.csi.fs_type == "ext4"
        assert pv.spec.access_modes == ["ReadWriteOnce"] and pv.spec.volume_mode == "Filesystem"
        assert pv.spec.capacity == {"storage": "1Gi"} and pv.spec.storage_class_name == sc
        assert pv.spec.persistent_volume_reclaim_policy == "Delete"
        assert pv.spec.claim_ref.uid == bound.metadata.uid
        assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == CSI_DRIVER
        assert PROVISIONER_FINALIZER in pv.metadata.finalizers
        volume_id = pv.spec.csi.volume_handle
        # The driver's CreateVolume returns right after Cinder's POST: the PV may come first.
        volume = wait_until("the Cinder volume available", lambda: (v := cinder_volume(conn, volume_id))
                            and v.status == "available" and v, 60, lab=lab)
        assert volume.name == pv.metadata.name and volume.size == 1
        assert not volume.is_multiattach
        assert volume.volume_type == "lvmdriver-1"

        lab.core.create_namespaced_replication_controller(namespace, replication_controller(
            "server", 4, "claim1", "Filesystem"))

        def settled():
            pods = pods_of(lab, namespace, "server")
            if len(pods) != 4 or not all(p.spec.node_name for p in pods):
                return None
            running_nodes = {p.spec.node_name for p in pods if ready(p)}
            if len(running_nodes) != 1:
                return None
            (node,) = running_nodes
            if not all(ready(p) for p in pods if p.spec.node_name == node):
                return None
            others = [p for p in pods if p.spec.node_name != node]
            if not others or not all(any("Multi-Attach error" in (e.message or "")
                                         for e in events_of(lab, namespace, p.metadata.name)) for p in others):
                return None
            return node, pods
        node, pods = wait_until("one node running, Multi-Attach on the others", settled, 90, lab=lab)
        t_attached = time.monotonic() - t0
        assert len({p.spec.node_name for p in pods}) == 3, "the spread put pods on all three nodes"
        time.sleep(3)  # the pods on the other nodes stay stuck, they are not just late
        for pod in pods_of(lab, namespace, "server"):
            if pod.spec.node_name == node:
                assert ready(pod)
                assert pod.status.pod_ip.startswith(lab.shapes[node].pod_prefix + ".")
                continue
            assert not ready(pod) and pod.status.phase == "Pending", pod.status
            assert waiting_reason(pod) == "ContainerCreating"
            events = [e for e in events_of(lab, namespace, pod.metadata.name) if e.reason == "FailedAttachVolume"]
            assert events and events[0].type == "Warning"
            assert "Volume is already used by pod(s)" in events[0].message, events[0].message
            assert f'Multi-Attach error for volume "{pv.metadata.name}"' in events[0].message
        volume = cinder_volume(conn, volume_id)
        assert volume.status == "in-use"
        assert [a["server_id"] for a in volume.attachments] == [SERVERS[node]]
        (va,) = attachments_of(lab, pv.metadata.name)
        assert va.spec.node_name == node and va.status.attached and va.metadata.name.startswith("csi-")
        assert ATTACHER_FINALIZER in va.metadata.finalizers
        assert volumes_in_use(lab)[node] == [volume_name(pv)]

        timings = delete_and_wait_released(lab, namespace, "server", "claim1", pv.metadata.name, volume_id)
        report("ReadWriteOnce", {"claim bound": t_bound, "pods settled (attach)": t_attached, **timings})
        assert timings["detached"] < 30, "detach waited for kube-controller-manager's unmount timeout"
    finally:
        lab.storage.delete_storage_class(sc)


def test_rwx_block_claim_on_a_multiattach_type_runs_pods_on_all_three_nodes(storage_lab, namespace):
    """The article's fix: a volume type with multiattach="<is> True", a ReadWriteMany claim used
    as a raw block device: pods on all three nodes run; the volume attaches to three servers;
    deleting the pods and the claim detaches it, deletes it from Cinder and removes the PV."""
    lab, conn = storage_lab, storage_lab.cloud()
    type_name = f"multiattach-{namespace}"
    volume_type = conn.block_storage.create_type(name=type_name, extra_specs={"multiattach": "<is> True"})
    sc = f"sc-rwx-{namespace}"
    try:
        t0 = time.monotonic()
        lab.storage.create_storage_class(storage_class(sc, {"type": type_name}))
        lab.core.create_namespaced_persistent_volume_claim(namespace, claim("claim1", sc, "ReadWriteMany", "Block"))
        lab.core.create_namespaced_replication_controller(namespace, replication_controller(
            "server", 3, "claim1", "Block"))

        def all_ready():
            pods = pods_of(lab, namespace, "server")
            return len(pods) == 3 and all(ready(p) for p in pods) and pods
        pods = wait_until("3 pods Ready", all_ready, 120, lab=lab)
        t_ready = time.monotonic() - t0
        assert sorted(p.spec.node_name for p in pods) == ["master1", "worker1", "worker2"]
        pvc = lab.core.read_namespaced_persistent_volume_claim("claim1", namespace)
        pv = lab.core.read_persistent_volume(pvc.spec.volume_name)
        assert pv.spec.volume_mode == "Block" and pv.spec.access_modes == ["ReadWriteMany"]
        assert pv.spec.csi.fs_type is None
        volume_id = pv.spec.csi.volume_handle
        volume = cinder_volume(conn, volume_id)
        assert volume.volume_type == type_name and volume.is_multiattach is True
        assert volume.status == "in-use"
        assert sorted(a["server_id"] for a in volume.attachments) == sorted(SERVERS.values())
        vas = attachments_of(lab, pv.metadata.name)
        assert sorted(va.spec.node_name for va in vas) == ["master1", "worker1", "worker2"]
        assert all(va.status.attached for va in vas)
        in_use = volumes_in_use(lab)
        assert all(in_use[n] == [volume_name(pv)] for n in SERVERS), in_use

        # Cinder serialises the three detaches (`detaching` refuses the others); like the real
        # driver, a detach that finds another in progress waits out WaitDiskDetached (~48 s) and
        # is retried, so two such rounds at most, far below kube-controller-manager's 6 min
        # unmount timeout, which is what a slow detach here would mean.
        timings = delete_and_wait_released(lab, namespace, "server", "claim1", pv.metadata.name, volume_id,
                                           timeout=240)
        report("ReadWriteMany Block multiattach", {"3 pods ready (provision+attach)": t_ready, **timings})
        assert timings["detached"] < 2 * DETACH_WAIT_SECONDS + 30, \
            "detach waited for kube-controller-manager's unmount timeout"
    finally:
        lab.storage.delete_storage_class(sc)
        wait_until("no volume of the type left", lambda: not [
            v for v in conn.block_storage.volumes(details=True, all_projects=True)
            if v.volume_type == type_name], 120)
        conn.block_storage.delete_type(volume_type)


def test_rwx_claim_on_a_plain_type_gets_novas_refusal_as_attach_error(storage_lab, namespace):
    """The mistake the driver does not catch: ReadWriteMany on a type without multiattach. The
    attach/detach controller lets both nodes attach; Nova refuses the second attachment and the
    VolumeAttachment carries the error; that pod stays ContainerCreating."""
    lab, conn = storage_lab, storage_lab.cloud()
    sc = f"sc-plain-{namespace}"
    lab.storage.create_storage_class(storage_class(sc))
    try:
        lab.core.create_namespaced_persistent_volume_claim(namespace, claim("claim1", sc, "ReadWriteMany", "Block"))
        wait_until("claim1 Bound", lambda: lab.core.read_namespaced_persistent_volume_claim(
            "claim1", namespace).status.phase == "Bound", 60, lab=lab)
        pv_name = lab.core.read_namespaced_persistent_volume_claim("claim1", namespace).spec.volume_name
        lab.core.create_namespaced_replication_controller(namespace, replication_controller(
            "server", 2, "claim1", "Block"))

        def refused_once():
            vas = attachments_of(lab, pv_name)
            errors = [va for va in vas if va.status and va.status.attach_error]
            attached = [va for va in vas if va.status and va.status.attached]
            return len(attached) == 1 and len(errors) == 1 and (attached[0], errors[0])
        attached, failed = wait_until("one attachment and one Nova refusal", refused_once, 90, lab=lab)
        assert "Attach Volume failed" in failed.status.attach_error.message
        wait_until("the pod on the attached node Ready", lambda: any(
            ready(p) for p in pods_of(lab, namespace, "server") if p.spec.node_name == attached.spec.node_name),
            30, lab=lab)
        time.sleep(2)  # the other pod is stuck, not just late
        pods = {p.spec.node_name: p for p in pods_of(lab, namespace, "server")}
        stuck = pods[failed.spec.node_name]
        assert not ready(stuck) and waiting_reason(stuck) == "ContainerCreating"
        wait_until("the FailedAttachVolume event", lambda: any(
            e.reason == "FailedAttachVolume" and "AttachVolume.Attach failed" in e.message
            for e in events_of(lab, namespace, stuck.metadata.name)), 60, lab=lab)
        volume_id = lab.core.read_persistent_volume(pv_name).spec.csi.volume_handle
        assert [a["server_id"] for a in cinder_volume(conn, volume_id).attachments] == [
            SERVERS[attached.spec.node_name]]
        delete_and_wait_released(lab, namespace, "server", "claim1", pv_name, volume_id)
    finally:
        lab.storage.delete_storage_class(sc)


def test_pods_get_unique_ips_per_node_answer_with_their_identity_and_free_them(storage_lab, namespace):
    lab = storage_lab
    placement = {"a1": "worker1", "a2": "worker1", "a3": "worker1", "b1": "worker2", "m1": "master1"}
    t0 = time.monotonic()
    for name, node in placement.items():
        lab.core.create_namespaced_pod(namespace, pod_on(name, node, extra_ports=(8080,)))

    def all_ready():
        pods = pods_of(lab, namespace, "pinned")
        return len(pods) == len(placement) and all(ready(p) for p in pods) and pods
    pods = wait_until("the pods Ready", all_ready, 60, lab=lab)
    print(f"\n[timings] {len(placement)} pods without volumes Ready in {time.monotonic() - t0:.1f} s")
    ips = {p.metadata.name: p.status.pod_ip for p in pods}
    assert len(set(ips.values())) == len(ips), ips
    for pod in pods:
        shape = lab.shapes[pod.spec.node_name]
        assert pod.spec.node_name == placement[pod.metadata.name]
        assert pod.status.pod_ip.startswith(shape.pod_prefix + ".")
        assert 2 <= int(pod.status.pod_ip.rsplit(".", 1)[1]) <= 254
        assert pod.status.host_ip == shape.ip
        assert pod.status.container_statuses[0].ready and pod.status.container_statuses[0].state.running
        for port in (80, 8080):
            answer = http_get(pod.status.pod_ip, port)
            assert answer.startswith("HTTP/1.1 200 OK"), answer
            assert f"\r\n\r\nServer {pod.metadata.name} on {pod.spec.node_name}\n" in answer, answer
    t1 = time.monotonic()
    pending = lab.core.delete_namespaced_pod("a1", namespace)
    # A graceful deletion (30 s): only the kubelet double finishes it before the grace period.
    assert pending.metadata.deletion_timestamp is not None and pending.metadata.deletion_grace_period_seconds == 30
    wait_until("a1 deleted", lambda: not _exists(lambda: lab.core.read_namespaced_pod("a1", namespace)), 30, lab=lab)
    print(f"[timings] pod deletion (graceful, finished by the kubelet double) {time.monotonic() - t1:.2f} s")
    assert refused(ips["a1"]), "the deleted pod still answers"
    lab.core.create_namespaced_pod(namespace, pod_on("a4", "worker1"))
    a4 = wait_until("a4 Ready", lambda: (p := lab.core.read_namespaced_pod("a4", namespace)) and ready(p) and p,
                    30, lab=lab)
    # worker1 had exactly a1..a3 (.2-.4): a1's address is the lowest free one again.
    assert a4.status.pod_ip == ips["a1"], (a4.status.pod_ip, ips)
    assert "Server a4 on worker1" in http_get(a4.status.pod_ip)
    lab.core.delete_collection_namespaced_pod(namespace)
    wait_until("all pods deleted", lambda: not lab.core.list_namespaced_pod(namespace).items, 30, lab=lab)
    for ip in {*ips.values(), a4.status.pod_ip}:
        assert refused(ip), f"{ip} still answers after its pod went"


def test_a_claim_of_a_missing_volume_type_stays_pending_with_provisioning_failed(storage_lab, namespace):
    lab, conn = storage_lab, storage_lab.cloud()
    sc = f"sc-missing-{namespace}"
    lab.storage.create_storage_class(storage_class(sc, {"type": "no-such-type"}))
    try:
        created = lab.core.create_namespaced_persistent_volume_claim(
            namespace, claim("claim1", sc, "ReadWriteOnce", "Filesystem"))

        def failed():
            return [e for e in lab.core.list_namespaced_event(namespace).items
                    if e.involved_object.name == "claim1" and e.reason == "ProvisioningFailed"]
        (event, *_) = wait_until("ProvisioningFailed", failed, 60, lab=lab)
        assert event.type == "Warning" and "CreateVolume failed" in event.message, event.message
        assert f'StorageClass "{sc}"' in event.message
        assert lab.core.read_namespaced_persistent_volume_claim("claim1", namespace).status.phase == "Pending"
        assert not [v for v in conn.block_storage.volumes(details=True, all_projects=True)
                    if v.name == f"pvc-{created.metadata.uid}"]
        lab.core.delete_namespaced_persistent_volume_claim("claim1", namespace)
    finally:
        lab.storage.delete_storage_class(sc)


def test_the_kubelet_double_stops_on_sigterm_and_adopts_running_pods_when_restarted(storage_lab, namespace):
    lab = storage_lab
    for name, node in (("r1", "worker1"), ("r2", "worker2")):
        lab.core.create_namespaced_pod(namespace, pod_on(name, node))

    def all_ready():
        pods = pods_of(lab, namespace, "pinned")
        return len(pods) == 2 and all(ready(p) for p in pods) and pods
    before = {p.metadata.name: p.status.pod_ip for p in wait_until("r1, r2 Ready", all_ready, 60, lab=lab)}
    kubelet = lab.restart("kubelet")
    log = Path(lab.process("kubelet").log).read_text()
    assert "signal 15: stopping" in log and "kubelet INFO stopped" in log
    wait_until("the pods to answer again", lambda: all(
        f"Server {name} on" in _answer(ip) for name, ip in before.items()), 60, lab=lab)
    assert processes.alive(kubelet)
    after = {p.metadata.name: p.status.pod_ip for p in pods_of(lab, namespace, "pinned")}
    assert after == before
    lab.core.create_namespaced_pod(namespace, pod_on("r3", "worker1"))
    r3 = wait_until("r3 Ready", lambda: (p := lab.core.read_namespaced_pod("r3", namespace)) and ready(p) and p,
                    30, lab=lab)
    assert r3.status.pod_ip not in before.values()
    lab.core.delete_collection_namespaced_pod(namespace)
    wait_until("all pods deleted", lambda: not lab.core.list_namespaced_pod(namespace).items, 30, lab=lab)


def _answer(ip: str) -> str:
    try:
        return http_get(ip, timeout=2)
    except OSError:
        return ""
