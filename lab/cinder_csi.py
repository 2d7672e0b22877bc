"""A double of the Cinder CSI driver (cloud-provider-openstack's cinder-csi-plugin controller
with its external-provisioner and external-attacher sidecars), for the lab.

It is NOT the real driver: no gRPC, no device is ever formatted or mounted. It talks to the
cluster with the Kubernetes client and to OpenStack over HTTP with openstacksdk (the lab's
OpenStack double, cloud ``devstack-admin`` of a clouds.yaml), and does, at the level this
project depends on, what the real driver does (read in kubernetes/cloud-provider-openstack
``pkg/csi/cinder/controllerserver.go`` and ``pkg/csi/cinder/openstack/openstack_volumes.go``):

- provisioner (external-provisioner + CreateVolume): for each PersistentVolumeClaim that
  kube-controller-manager hands to ``cinder.csi.openstack.org`` (annotation
  ``volume.kubernetes.io/storage-provisioner``; with WaitForFirstConsumer also
  ``volume.kubernetes.io/selected-node``): a Cinder volume ``pvc-<claim uid>`` that already
  exists is used as it is, whatever its status (``error`` included; a different size is
  refused: "Volume Already exists with same name and different capacity"); otherwise it is
  created (type = the class's ``type`` parameter, empty = Cinder's default; size = the request
  rounded up to GiB) and CreateVolume returns right after the POST: nothing waits for
  ``available``. Then the PersistentVolume ``pvc-<claim uid>``: CSI source (volumeHandle =
  volume id, fsType from ``csi.storage.k8s.io/fstype``, default ext4, none for Block), the
  claim's accessModes and volumeMode, capacity, class, reclaim policy, mount options, claimRef,
  ``pv.kubernetes.io/provisioned-by``, the provisioner's finalizer, and the node affinity
  ``topology.cinder.csi.openstack.org/zone In [<the volume's availability zone>]`` (the
  Topology feature gate is on in the upstream manifests). Events Provisioning /
  ProvisioningSucceeded / ProvisioningFailed.
- node registration (node plugin NodeGetInfo + the kubelet's CSI node info): each node whose
  ``spec.providerID`` names a Nova server gets the label
  ``topology.cinder.csi.openstack.org/zone`` = the server's availability zone, so pods of the
  zone's PVs can be scheduled there, as on a real cluster.
- attacher (external-attacher + ControllerPublish/Unpublish) for each VolumeAttachment of the
  driver: finalizer ``external-attacher/cinder-csi-openstack-org``; AttachVolume (skipped when
  Cinder already shows the server; ``POST /servers/{id}/os-volume_attachments``, microversion
  2.60 for a multiattach volume), then WaitDiskAttached, then ``status.attached: true`` with
  ``attachmentMetadata.DevicePath``. A refusal (Cinder's 400 while another attach of the same
  volume is in progress, Nova's "already attached" for a non-multiattach volume, a volume still
  ``creating``) sets ``status.attachError`` and is retried with the sidecar's backoff (1 s
  doubling to 5 min). Deletion: DetachVolume (nothing to do when ``available`` or already
  ``detaching``; refused when the status is anything but ``in-use``), then WaitDiskDetached;
  a refusal or a wait that times out sets ``status.detachError`` and is retried; the
  finalizer goes once Cinder no longer lists the server.
- deleter (external-provisioner + DeleteVolume): a PersistentVolume of the driver that this
  provisioner made, reclaim policy Delete, ``Released`` (or being deleted while not Bound):
  once no VolumeAttachment and no Cinder attachment remains, asks Cinder to delete the volume
  and, once Cinder accepted (202), removes the PV's finalizer and deletes the PV: DeleteVolume
  does not wait for the volume to go (controllerserver.go DeleteVolume, openstack_volumes.go
  DeleteVolume), so Cinder is still `deleting` it (or ends in `error_deleting`) after the PV is
  gone. A refused delete is a VolumeFailedDelete event and is retried.

- expander (ControllerExpandVolume, called by the external-resizer of lab/csi_resizer.py, which
  runs in this process as the sidecar runs in the controller pod): the requested bytes rounded up
  to GiB; a volume already that big answers at once; otherwise ``os-extend`` (microversion 3.42
  when the volume is ``in-use``, none when ``available``, refused in any other status), then
  WaitVolumeTargetStatus on the driver's backoff (1 s, x1.1, 10 checks: ~13.6 s) for
  ``available``/``in-use``; ``error_extending`` fails. Always NodeExpansionRequired.

Not done: snapshots, clones, the ``availability`` parameter and accessibility
requirements, CSINode objects, secrets, volume limits, inline ephemeral volumes, metrics,
leader election.

    python -m lab.cinder_csi --kubeconfig K --clouds-yaml C --cloud devstack-admin \
        [--profile fast|devstack] [--delay-scale F] [--verbose]

The profile only sets how long it waits for Cinder before giving up and retrying (the delays
themselves are the OpenStack double's). Logs go to stderr; SIGTERM stops it cleanly.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable

from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.utils.quantity import parse_quantity

from lab import daemon, profiles
from lab.csi_resizer import Resizer
from lab.kube.backoff import backoff_seconds, backoff_sleeps, check_on_backoff, sleeps_within
from lab.kube.client import api_client, meta, name_key, namespaced_key, raw, remove_finalizer, rfc3339, server_id_of
from lab.kube.events import Recorder
from lab.kube.informer import Informer, start_and_sync
from lab.kube.workqueue import Retry, Workers

DRIVER = "cinder.csi.openstack.org"
PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
ATTACHER_FINALIZER = "external-attacher/" + DRIVER.replace(".", "-")
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner",
                                   "volume.beta.kubernetes.io/storage-provisioner")
SELECTED_NODE = "volume.kubernetes.io/selected-node"
FSTYPE_PARAMETER = "csi.storage.k8s.io/fstype"
TOPOLOGY_KEY = "topology.cinder.csi.openstack.org/zone"  # pkg/csi/cinder/driver.go topologyKey
CLUSTER_METADATA = "cinder.csi.openstack.org/cluster"
GIB = 1024 ** 3
# The sidecars' retry: --retry-interval-start 1 s, --retry-interval-max 5 min.
RETRY_START, RETRY_MAX = 1.0, 300.0

log = logging.getLogger("cinder-csi")


class CloudError(Exception):
    """OpenStack refused an operation; the message is what the real driver would report."""


# --------------------------------------------------------------------------- decisions (pure)

def wants_provisioning(claim: dict, classes: dict[str, dict]) -> bool:
    """Whether external-provisioner would call CreateVolume for this claim now."""
    m, spec = meta(claim), claim.get("spec") or {}
    if m.get("deletionTimestamp") or spec.get("volumeName"):
        return False
    if (claim.get("status") or {}).get("phase", "Pending") != "Pending":
        return False
    annotations = m.get("annotations") or {}
    if DRIVER not in (annotations.get(a) for a in STORAGE_PROVISIONER_ANNOTATIONS):
        return False  # kube-controller-manager has not handed it to an external provisioner
    storage_class = classes.get(spec.get("storageClassName") or "")
    if storage_class is None or storage_class.get("provisioner") != DRIVER:
        return False
    return storage_class.get("volumeBindingMode") != "WaitForFirstConsumer" or bool(annotations.get(SELECTED_NODE))


def requested_gib(claim: dict) -> int:
    """The claim's request rounded up to whole GiB (util.RoundUpSize), at least 1."""
    requested = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return max(1, math.ceil(parse_quantity(requested) / GIB))


def volume_request(claim: dict, storage_class: dict) -> dict:
    """The Cinder volume CreateVolume asks for: name, size, type (None = Cinder's default) and
    the metadata the driver and external-provisioner's extra-create-metadata add."""
    m = meta(claim)
    name = f"pvc-{m['uid']}"
    return {"name": name, "size": requested_gib(claim),
            "volume_type": (storage_class.get("parameters") or {}).get("type") or None,
            "metadata": {CLUSTER_METADATA: "kubernetes", "csi.storage.k8s.io/pvc/name": m["name"],
                         "csi.storage.k8s.io/pvc/namespace": m["namespace"], "csi.storage.k8s.io/pv/name": name}}


def existing_volume(volumes: list[dict], size_gib: int) -> dict | None:
    """CreateVolume's idempotence: one volume of that name is returned as it is, whatever its
    status; a different size or several volumes of that name are errors."""
    if len(volumes) > 1:
        raise CloudError("Multiple volumes reported by Cinder with same name")
    if not volumes:
        return None
    if int(volumes[0].get("size") or 0) != size_gib:
        raise CloudError("Volume Already exists with same name and different capacity")
    return volumes[0]


def pv_manifest(claim: dict, storage_class: dict, volume: dict, identity: str, with_topology: bool = True) -> dict:
    m, spec = meta(claim), claim.get("spec") or {}
    parameters = storage_class.get("parameters") or {}
    volume_mode = spec.get("volumeMode") or "Filesystem"
    csi = {"driver": DRIVER, "volumeHandle": volume["id"],
           "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": identity}}
    if volume_mode == "Filesystem":
        csi["fsType"] = parameters.get(FSTYPE_PARAMETER) or "ext4"
    pv_spec = {
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "capacity": {"storage": f"{int(volume['size'])}Gi"},
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": m["name"],
                     "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m.get("resourceVersion")},
        "csi": csi,
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
        "storageClassName": spec["storageClassName"],
        "volumeMode": volume_mode,
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = list(storage_class["mountOptions"])
    zone = volume.get("availability_zone")
    if with_topology and zone:  # controllerserver.go getTopology: the zone Cinder put the volume in
        pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": TOPOLOGY_KEY, "operator": "In", "values": [zone]}]}]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"pvc-{m['uid']}", "annotations": {PROVISIONED_BY: DRIVER},
                         "finalizers": [PROVISIONER_FINALIZER]},
            "spec": pv_spec}


def is_multiattach(volume: dict) -> bool:
    """openstacksdk names Cinder's ``multiattach`` field ``is_multiattach``."""
    return bool(volume.get("is_multiattach", volume.get("multiattach")))


def attached_servers(volume: dict | None) -> set[str]:
    return {a.get("server_id") for a in (volume or {}).get("attachments") or [] if a.get("server_id")}


def device_path(volume: dict, server_id: str) -> str:
    """GetAttachmentDiskPath: the device of the server's attachment (the volume must be in-use)."""
    if volume.get("status") != "in-use":
        raise CloudError(f"can not get device path of volume {volume.get('name')}, "
                         f"its status is {volume.get('status')}")
    for attachment in volume.get("attachments") or []:
        if attachment.get("server_id") == server_id:
            return attachment.get("device") or ""
    raise CloudError(f'disk "{volume["id"]}" is not attached to compute: "{server_id}"')


ALREADY_DETACHED, DETACH, WAIT_DETACHED = "detached", "detach", "wait"


# The real driver's WaitDiskAttached / WaitDiskDetached (pkg/csi/cinder/openstack/
# openstack_volumes.go): ExponentialBackoff from 1 s, factor 1.2, 15 steps (~72 s) for an attach,
# 13 (~48 s) for a detach; fixed in the driver, whatever the cloud's speed. A detach that finds
# the volume `detaching` for another server waits this long for its own, then fails and is retried.
ATTACH_WAIT_SECONDS = backoff_seconds(1.0, 1.2, 15)
DETACH_WAIT_SECONDS = backoff_seconds(1.0, 1.2, 13)


# WaitVolumeTargetStatus after an extend: operationFinishInitDelay 1 s, operationFinishFactor 1.1,
# operationFinishSteps 10 (openstack_volumes.go); the error states are volumeErrorStates.
EXTEND_WAIT = (1.0, 1.1, 10)
VOLUME_ERROR_STATES = ("error", "error_extending", "error_deleting")
EXTEND_IN_USE_MICROVERSION = "3.42"


# WaitDiskAttached's sleeps between its checks (diskAttachInitDelay 1 s, diskAttachFactor 1.2,
# diskAttachSteps 15): what poll_on_backoff follows and what the deploy benchmark's critical path counts.
ATTACH_BACKOFF = backoff_sleeps(1.0, 1.2, 15)


def wait_with_backoff(check: Callable[[], object], schedule: tuple[float, float, int], what: str,
                      sleep: Callable[[float], object]):
    """Check at once, then after each of the backoff's sleeps; CloudError when the checks run out
    ("timeout on waiting for ..."). ``check`` may raise CloudError to stop early."""
    result = check_on_backoff(check, backoff_sleeps(*schedule), sleep)
    if result is None:
        raise CloudError(f"timeout on waiting for {what}")
    return result


def extend_microversion(status: str | None) -> str | None:
    """ExpandVolume's client: Cinder 3.42 for an in-use volume (online resize), the default for
    an available one; any other status is refused before any call."""
    if status == "in-use":
        return EXTEND_IN_USE_MICROVERSION
    if status == "available":
        return None
    raise CloudError(f"volume cannot be resized, when status is {status}")


def extend_settled(volume: dict | None) -> bool:
    """WaitVolumeTargetStatus' condition for ControllerExpandVolume: `available` or `in-use`;
    an error state fails the wait at once."""
    status = (volume or {}).get("status")
    if status in ("available", "in-use"):
        return True
    if status in VOLUME_ERROR_STATES:
        raise CloudError(f"volume is in Error State : {status}")
    return False


def detach_step(volume: dict | None, server_id: str) -> str:
    """DetachVolume's decision: nothing to do when the volume is gone, ``available`` or not on
    this server; only wait when Cinder is already ``detaching`` it (another detach of the same
    volume in progress: the real driver returns nil and its wait retries); detach when
    ``in-use`` on this server; any other status is refused."""
    if volume is None or volume.get("status") == "available":
        return ALREADY_DETACHED
    if volume.get("status") == "detaching":
        return WAIT_DETACHED
    if volume.get("status") != "in-use":
        raise CloudError(f"can not detach volume {volume.get('name')}, its status is {volume.get('status')}")
    return DETACH if server_id in attached_servers(volume) else ALREADY_DETACHED


def wants_deletion(pv: dict) -> bool:
    m, spec = meta(pv), pv.get("spec") or {}
    if (spec.get("csi") or {}).get("driver") != DRIVER:
        return False
    if (m.get("annotations") or {}).get(PROVISIONED_BY) != DRIVER:
        return False
    if spec.get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
        return False
    phase = (pv.get("status") or {}).get("phase")
    if not m.get("deletionTimestamp"):
        return phase == "Released"
    # Being deleted: ours to finish while our finalizer holds it (and nobody is bound to it).
    return PROVISIONER_FINALIZER in (m.get("finalizers") or []) and phase != "Bound"


def zone_label_patch(node: dict, zone: str | None) -> dict | None:
    """The label patch that gives a node its zone, or None when it has it (or no zone is known)."""
    if not zone or (meta(node).get("labels") or {}).get(TOPOLOGY_KEY) == zone:
        return None
    return {"metadata": {"labels": {TOPOLOGY_KEY: zone}}}


def poll_on_backoff(check: Callable[[], object], timeout: float, what: str, stop: threading.Event,
                    sleep: Callable[[float], object] | None = None):
    """WaitDiskAttached / WaitDiskDetached as the real driver checks: at once, then after 1 s,
    1.2 s, 1.44 s... (wait.ExponentialBackoff), never sooner; CloudError once ``timeout`` seconds
    of sleeps are spent (the real driver's is the backoff's whole length)."""
    result = check_on_backoff(check, sleeps_within(timeout), sleep or stop.wait)
    if result is None:
        raise CloudError(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


# --------------------------------------------------------------------------- OpenStack side

class Cloud:
    """openstacksdk against one clouds.yaml entry; one connection per thread."""

    def __init__(self, clouds_yaml: str | None, cloud: str):
        self.clouds_yaml, self.cloud = clouds_yaml, cloud
        self._local = threading.local()

    @property
    def conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import openstack.config
            import openstack.connection

            files = [self.clouds_yaml] if self.clouds_yaml else None
            region = openstack.config.OpenStackConfig(config_files=files).get_one(cloud=self.cloud)
            conn = self._local.conn = openstack.connection.Connection(config=region)
        return conn

    def authenticate(self) -> None:
        """What the driver does before it serves (GetOpenStackProvider: NewOpenStackClient
        authenticates): the first CreateVolume waits for Cinder, not for the SDK's import and a token."""
        try:
            self.conn.authorize()
            self.conn.block_storage.get_endpoint()
            self.conn.compute.get_endpoint()
        except Exception as error:  # noqa: BLE001 - the cloud may not answer yet: the first use retries
            self._local.conn = None
            log.warning("cannot authenticate to OpenStack at start (%s); retried at first use", error)

    def volume(self, volume_id: str) -> dict | None:
        from openstack import exceptions

        try:
            return self.conn.block_storage.get_volume(volume_id).to_dict()
        except exceptions.NotFoundException:
            return None

    def volumes_named(self, name: str) -> list[dict]:
        return [v.to_dict() for v in self.conn.block_storage.volumes(details=True, name=name) if v.name == name]

    def create_volume(self, name: str, size: int, volume_type: str | None, metadata: dict[str, str]) -> dict:
        from openstack import exceptions

        attrs = {"name": name, "size": size, "metadata": metadata}
        if volume_type:
            attrs["volume_type"] = volume_type
        try:
            return self.conn.block_storage.create_volume(**attrs).to_dict()
        except exceptions.HttpException as error:
            raise CloudError(f"CreateVolume failed with error {error}") from error

    def delete_volume(self, volume_id: str) -> None:
        from openstack import exceptions

        try:
            self.conn.block_storage.delete_volume(volume_id, ignore_missing=True)
        except exceptions.HttpException as error:
            raise CloudError(f"DeleteVolume failed with error {error}") from error

    def extend_volume(self, volume_id: str, new_size: int, microversion: str | None) -> None:
        extra = {"microversion": microversion} if microversion else {}
        response = self.conn.block_storage.post(f"/volumes/{volume_id}/action",
                                                json={"os-extend": {"new_size": new_size}}, **extra)
        if response.status_code >= 400:
            raise CloudError(_http_error(response, expected=202))

    def server_zone(self, server_id: str) -> str | None:
        from openstack import exceptions

        try:
            return self.conn.compute.get_server(server_id).availability_zone or None
        except exceptions.NotFoundException:
            return None

    def attach(self, server_id: str, volume_id: str, multiattach: bool) -> None:
        # openstack_volumes.go AttachVolume: microversion 2.60 only for a multiattach volume.
        extra = {"microversion": "2.60"} if multiattach else {}
        response = self.conn.compute.post(f"/servers/{server_id}/os-volume_attachments",
                                          json={"volumeAttachment": {"volumeId": volume_id}}, **extra)
        if response.status_code >= 400:
            raise CloudError(f"failed to attach {volume_id} volume to {server_id} compute: {_http_error(response)}")

    def detach(self, server_id: str, volume_id: str) -> None:
        response = self.conn.compute.delete(f"/servers/{server_id}/os-volume_attachments/{volume_id}")
        if response.status_code == 404:
            return  # not attached (any more): what the driver treats as detached
        if response.status_code >= 400:
            raise CloudError(f"failed to detach volume {volume_id} from compute {server_id} : {_http_error(response)}")


def _http_error(response, expected: int = 200) -> str:
    try:
        body = response.json()
        inner = next(iter(body.values())) if isinstance(body, dict) and body else body
        message = inner.get("message") if isinstance(inner, dict) else None
    except ValueError:
        message = None
    message = message or response.text[:300]
    return (f"Expected HTTP response code [{expected}] when accessing [{response.request.method} "
            f"{response.request.url}], but got {response.status_code} instead: {message}")


# --------------------------------------------------------------------------- the controller

class CinderCSI:
    def __init__(self, api: client.ApiClient, cloud: Cloud, wait_timeout: float,
                 attach_wait: float = ATTACH_WAIT_SECONDS, detach_wait: float = DETACH_WAIT_SECONDS):
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.cloud = cloud
        self.wait_timeout = wait_timeout
        self.attach_wait, self.detach_wait = attach_wait, detach_wait
        self.wake, self.stop_event = threading.Event(), threading.Event()
        self.workers = Workers(self.wake.set, backoff_start=RETRY_START, backoff_cap=RETRY_MAX, logger=log)
        self.recorder = Recorder(self.core, f"{DRIVER}_csi-cinder-controllerplugin-double")
        self.identity = f"{int(time.time() * 1000)}-{uuid.uuid4().int % 10000}-{DRIVER}"

        def informer(name, list_fn, key=name_key):
            return Informer(name, list_fn, self.wake.set, self.stop_event, key, log)

        self.claims = informer("pvcs", self.core.list_persistent_volume_claim_for_all_namespaces, namespaced_key)
        self.volumes = informer("pvs", self.core.list_persistent_volume)
        self.classes = informer("storageclasses", self.storage.list_storage_class)
        self.attachments = informer("volumeattachments", self.storage.list_volume_attachment)
        self.nodes = informer("nodes", self.core.list_node)
        self.informers = [self.claims, self.volumes, self.classes, self.attachments, self.nodes]
        # external-resizer runs beside the driver, as in the controller plugin's pod.
        self.resizer = Resizer(self.core, self.claims, self.volumes,
                               Recorder(self.core, f"external-resizer {DRIVER}"), self.expand_volume, DRIVER)

    # ---- main loop
    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def run(self) -> None:
        if not start_and_sync(self.informers, self.stop_event):
            return
        self.cloud.authenticate()
        log.info("cinder-csi double: caches synced; provisioner, attacher, resizer and deleter running")
        while not self.stop_event.is_set():
            self.wake.wait(0.4)
            self.wake.clear()
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - one bad pass must not stop the controller
                log.exception("reconcile")
        self.workers.shutdown()

    def reconcile(self) -> None:
        self.workers.begin()
        try:
            self._reconcile()
        finally:
            self.workers.end()

    def _reconcile(self) -> None:
        classes = {meta(c)["name"]: c for c in self.classes.snapshot()}
        pvs = self.volumes.snapshot()
        pv_names = {meta(pv)["name"] for pv in pvs}
        for node in self.nodes.snapshot():
            node_name = meta(node)["name"]
            if server_id_of(node) and not (meta(node).get("labels") or {}).get(TOPOLOGY_KEY):
                self.workers.submit(f"node/{node_name}", lambda n=node_name: self.register_node(n),
                                    ("register", meta(node).get("resourceVersion")))
        for claim in self.claims.snapshot():
            if wants_provisioning(claim, classes) and f"pvc-{meta(claim)['uid']}" not in pv_names:
                key = f"provision/{meta(claim)['namespace']}/{meta(claim)['name']}"
                self.workers.submit(key, lambda c=claim: self.provision(c, classes),
                                    ("provision", meta(claim).get("resourceVersion")))
        for claim, pv in self.resizer.due():
            key = namespaced_key(claim)
            self.workers.submit(f"resize/{key}", lambda k=key: self.resizer.resize(k),
                                ("resize", meta(claim).get("resourceVersion"), meta(pv).get("resourceVersion")))
        for va in self.attachments.snapshot():
            if (va.get("spec") or {}).get("attacher") != DRIVER:
                continue
            name, rv = meta(va)["name"], meta(va).get("resourceVersion")
            if meta(va).get("deletionTimestamp"):
                if ATTACHER_FINALIZER in (meta(va).get("finalizers") or []):
                    self.workers.submit(f"va/{name}", lambda n=name: self.detach(n), ("detach", rv))
            elif not (va.get("status") or {}).get("attached"):
                self.workers.submit(f"va/{name}", lambda n=name: self.attach(n), ("attach", rv))
        for pv in pvs:
            pv_name = meta(pv)["name"]
            if wants_deletion(pv):
                self.workers.submit(f"delete/{pv_name}", lambda n=pv_name: self.delete(n),
                                    ("delete", meta(pv).get("resourceVersion")))

    # ---- node registration
    def register_node(self, name: str) -> None:
        node = self.nodes.get(name)
        server_id = server_id_of(node)
        if node is None or server_id is None:
            return
        patch = zone_label_patch(node, self.cloud.server_zone(server_id))
        if patch is None:
            raise Retry(f"node {name}: no availability zone for server {server_id} yet", 5.0)
        self.nodes.put(raw(self.core.patch_node, name, patch))
        log.info("node %s: %s=%s", name, TOPOLOGY_KEY, patch["metadata"]["labels"][TOPOLOGY_KEY])

    # ---- provisioner
    def provision(self, claim: dict, classes: dict[str, dict]) -> None:
        m, spec = meta(claim), claim.get("spec") or {}
        current = self.claims.get(f"{m['namespace']}/{m['name']}")
        if current is None or meta(current).get("uid") != m["uid"] or not wants_provisioning(current, classes):
            return
        storage_class = classes[spec["storageClassName"]]
        request = volume_request(claim, storage_class)
        self.recorder.event(claim, "PersistentVolumeClaim", "Normal", "Provisioning",
                            f'External provisioner is provisioning volume for claim "{m["namespace"]}/{m["name"]}"')
        try:
            volume = existing_volume(self.cloud.volumes_named(request["name"]), request["size"])
            if volume is not None:
                log.info("claim %s/%s: volume %s (%s) already exists (status %s): using it", m["namespace"],
                         m["name"], request["name"], volume["id"], volume.get("status"))
            else:
                volume = self.cloud.create_volume(**request)
                log.info("claim %s/%s: created volume %s (%s, %d GiB, type %s)", m["namespace"], m["name"],
                         request["name"], volume["id"], request["size"], request["volume_type"] or "(default)")
        except CloudError as error:
            self.recorder.event(claim, "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                                f'failed to provision volume with StorageClass "{spec["storageClassName"]}": '
                                f"rpc error: code = Internal desc = {error}")
            raise
        try:
            self.volumes.put(raw(self.core.create_persistent_volume, pv_manifest(claim, storage_class, volume,
                                                                                 self.identity)))
        except ApiException as error:
            if error.status != 409:
                raise
        log.info("claim %s/%s: created PersistentVolume %s", m["namespace"], m["name"], request["name"])
        self.recorder.event(claim, "PersistentVolumeClaim", "Normal", "ProvisioningSucceeded",
                            f"Successfully provisioned volume {request['name']}")

    # ---- attacher
    def _va_volume_and_server(self, va: dict) -> tuple[str, str]:
        spec = va.get("spec") or {}
        pv_name = (spec.get("source") or {}).get("persistentVolumeName")
        pv = self.volumes.get(pv_name or "")
        if pv is None:
            raise Retry(f"PersistentVolume {pv_name} not found yet", 1.0)
        volume_id = ((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle")
        server_id = server_id_of(self.nodes.get(spec.get("nodeName") or ""))
        if not volume_id or not server_id:
            raise CloudError(f"node {spec.get('nodeName')} has no OpenStack server id (providerID) "
                             f"or PV {pv_name} no volume handle")
        return volume_id, server_id

    def attach(self, name: str) -> None:
        va = self.attachments.get(name)
        if va is None or meta(va).get("deletionTimestamp") or (va.get("status") or {}).get("attached"):
            return
        if ATTACHER_FINALIZER not in (meta(va).get("finalizers") or []):
            va = raw(self.storage.patch_volume_attachment, name, {"metadata": {"finalizers": [ATTACHER_FINALIZER]}})
            self.attachments.put(va)
        started = time.monotonic()
        try:
            volume_id, server_id = self._va_volume_and_server(va)
            volume = self.cloud.volume(volume_id)
            if volume is None:
                raise CloudError(f"[ControllerPublishVolume] Volume {volume_id} not found")
            if server_id not in attached_servers(volume):
                try:
                    self.cloud.attach(server_id, volume_id, is_multiattach(volume))
                except CloudError as error:
                    raise CloudError(f"[ControllerPublishVolume] Attach Volume failed with error {error}") from error
                volume = self._wait(lambda: self._attached(volume_id, server_id),
                                    f'volume "{volume_id}" to be attached', self.attach_wait)
            device = device_path(volume, server_id)
        except CloudError as error:
            self._va_status(name, {"attached": False, "attachError": {
                "message": f"rpc error: code = Internal desc = {error}", "time": rfc3339()}})
            raise
        self._va_status(name, {"attached": True, "attachmentMetadata": {"DevicePath": device}, "attachError": None})
        log.info("attached volume %s to server %s (node %s) in %.2f s", volume_id, server_id,
                 (va.get("spec") or {}).get("nodeName"), time.monotonic() - started)

    def _attached(self, volume_id: str, server_id: str) -> dict | None:
        volume = self.cloud.volume(volume_id)
        if volume is None:
            raise CloudError(f"volume {volume_id} disappeared")
        return volume if server_id in attached_servers(volume) and volume.get("status") == "in-use" else None

    def _va_status(self, name: str, status: dict) -> None:
        try:
            self.attachments.put(raw(self.storage.patch_volume_attachment_status, name, {"status": status}))
        except ApiException as error:
            if error.status != 404:
                raise

    def detach(self, name: str) -> None:
        va = self.attachments.get(name)
        if va is None or ATTACHER_FINALIZER not in (meta(va).get("finalizers") or []):
            return
        started = time.monotonic()
        volume_id, server_id = self._va_volume_and_server(va)
        try:
            step = detach_step(self.cloud.volume(volume_id), server_id)
            if step == DETACH:
                self.cloud.detach(server_id, volume_id)
            if step != ALREADY_DETACHED:
                self._wait(lambda: server_id not in attached_servers(self.cloud.volume(volume_id)),
                           f'volume "{volume_id}" to detach', self.detach_wait)
        except CloudError as error:
            self._va_status(name, {"detachError": {
                "message": f"rpc error: code = Internal desc = ControllerUnpublishVolume failed with error {error}",
                "time": rfc3339()}})
            raise
        try:
            self.attachments.put(raw(self.storage.patch_volume_attachment, name, remove_finalizer(ATTACHER_FINALIZER)))
        except ApiException as error:
            if error.status != 404:
                raise
        log.info("detached volume %s from server %s in %.2f s", volume_id, server_id, time.monotonic() - started)

    # ---- deleter
    def delete(self, name: str) -> None:
        pv = self.volumes.get(name)
        if pv is None or not wants_deletion(pv):
            return
        volume_id = pv["spec"]["csi"]["volumeHandle"]
        users = [meta(va)["name"] for va in self.attachments.snapshot()
                 if ((va.get("spec") or {}).get("source") or {}).get("persistentVolumeName") == name]
        if users:
            raise Retry(f"volume {volume_id} still has VolumeAttachments {users}", 0.5)
        started = time.monotonic()
        volume = self.cloud.volume(volume_id)
        if volume is not None:
            if attached_servers(volume):
                error = CloudError(f'cannot delete the volume "{volume_id}", it\'s still attached to a node')
                self.recorder.event(pv, "PersistentVolume", "Warning", "VolumeFailedDelete",
                                    f"rpc error: code = Internal desc = DeleteVolume failed with error {error}")
                raise error
            if volume.get("status") != "deleting":
                try:
                    self.cloud.delete_volume(volume_id)
                except CloudError as error:
                    self.recorder.event(pv, "PersistentVolume", "Warning", "VolumeFailedDelete",
                                        f"rpc error: code = Internal desc = {error}")
                    raise
                log.info("PersistentVolume %s released: Cinder accepted the delete of volume %s", name, volume_id)
        # Like external-provisioner once DeleteVolume returned: delete the PV object, then let it go
        # (our finalizer); Cinder goes on deleting the volume in the background.
        try:
            if not meta(pv).get("deletionTimestamp"):
                raw(self.core.delete_persistent_volume, name)
            raw(self.core.patch_persistent_volume, name, remove_finalizer(PROVISIONER_FINALIZER))
        except ApiException as error:
            if error.status != 404:
                raise
        log.info("PersistentVolume %s deleted, Cinder volume %s deleting (%.2f s)", name, volume_id,
                 time.monotonic() - started)

    # ---- expander
    def expand_volume(self, volume_id: str, required_bytes: int) -> tuple[int, bool]:
        """ControllerExpandVolume: (capacity bytes, node expansion required)."""
        size_gib = max(1, math.ceil(required_bytes / GIB))
        volume = self.cloud.volume(volume_id)
        if volume is None:
            raise CloudError("Volume not found")
        if int(volume.get("size") or 0) >= size_gib:  # already expanded: nothing to call
            return int(volume["size"]) * GIB, True
        try:
            self.cloud.extend_volume(volume_id, size_gib, extend_microversion(volume.get("status")))
        except CloudError as error:
            raise CloudError(f'Could not resize volume "{volume_id}" to size {size_gib}: {error}') from error
        started = time.monotonic()
        try:
            wait_with_backoff(lambda: extend_settled(self.cloud.volume(volume_id)), EXTEND_WAIT,
                              f"volume {volume_id} status to be in [available in-use]", self.stop_event.wait)
        except CloudError as error:
            raise CloudError(f"[ControllerExpandVolume] Volume {volume_id} not in target state after resize "
                             f"operation: {error}") from error
        log.info("expanded volume %s to %d GiB in %.2f s", volume_id, size_gib, time.monotonic() - started)
        return required_bytes, True

    def _wait(self, check: Callable[[], object], what: str, timeout: float | None = None):
        return poll_on_backoff(check, self.wait_timeout if timeout is None else timeout, what, self.stop_event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.cinder_csi",
                                     description="The lab's double of the Cinder CSI driver's "
                                                 "controller (provisioner, attacher, deleter).")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--clouds-yaml", help="clouds.yaml (default: openstacksdk's search path)")
    parser.add_argument("--cloud", default="devstack-admin", help="clouds.yaml entry (%(default)s)")
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="fast",
                        help="how long to wait for Cinder before retrying (%(default)s)")
    parser.add_argument("--delay-scale", type=float, default=1.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    daemon.setup_logging(args.verbose)
    controller = CinderCSI(api_client(args.kubeconfig), Cloud(args.clouds_yaml, args.cloud),
                           wait_timeout=profiles.delays(args.profile, args.delay_scale).csi_cinder_wait)
    return daemon.run_until_signalled(controller.run, controller.stop, "cinder-csi")


if __name__ == "__main__":
    sys.exit(main())
