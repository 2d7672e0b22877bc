"""A double of the Cinder CSI driver (cloud-provider-openstack's cinder-csi-plugin controller
with its external-provisioner and external-attacher sidecars), for the lab.

It is NOT the real driver: no gRPC, no node plugin, no device is ever formatted or mounted.
It talks to the cluster with the Kubernetes client and to OpenStack over HTTP with
openstacksdk (the lab's OpenStack double, cloud ``devstack-admin`` of a clouds.yaml), and does,
at the level this project depends on, what the real controller side does:

- provisioner (external-provisioner + CreateVolume): for each PersistentVolumeClaim that
  kube-controller-manager hands to ``cinder.csi.openstack.org`` (annotation
  ``volume.kubernetes.io/storage-provisioner``; with WaitForFirstConsumer also
  ``volume.kubernetes.io/selected-node``) it creates the Cinder volume ``pvc-<claim uid>`` (type
  = the class's ``type`` parameter, empty = Cinder's default type; size = the request rounded up
  to GiB), waits for ``available``, and creates the PersistentVolume ``pvc-<claim uid>``: CSI
  source (driver, volumeHandle = volume id, fsType from ``csi.storage.k8s.io/fstype``, default
  ext4, none for Block), the claim's accessModes and volumeMode, capacity, storageClassName,
  reclaim policy and mount options of the class, claimRef, annotation
  ``pv.kubernetes.io/provisioned-by``, finalizer
  ``external-provisioner.volume.kubernetes.io/finalizer``, no nodeAffinity. The real PV
  controller in kube-controller-manager binds it. Events Provisioning / ProvisioningSucceeded /
  ProvisioningFailed on the claim.
- attacher (external-attacher + ControllerPublish/Unpublish): for each VolumeAttachment with
  ``spec.attacher: cinder.csi.openstack.org`` (kube-controller-manager's attach/detach
  controller creates them): adds the finalizer ``external-attacher/cinder-csi-openstack-org``,
  attaches the volume through Nova (``POST /servers/{id}/os-volume_attachments``, microversion
  2.60, the server from the node's ``spec.providerID``), waits until Cinder shows the
  attachment, sets ``status.attached: true`` with ``attachmentMetadata.DevicePath``; when Nova
  refuses (a second attachment of a volume whose type is not multiattach) it sets
  ``status.attachError`` {message, time} and retries with backoff, the pod stays
  ContainerCreating. A VolumeAttachment being deleted is detached through Nova
  (``DELETE /servers/{id}/os-volume_attachments/{volume id}``), and its finalizer removed once
  Cinder no longer lists the attachment.
- deleter (external-provisioner + DeleteVolume): a PersistentVolume of the driver that this
  provisioner made, reclaim policy Delete, ``Released`` (or being deleted while not Bound):
  once no VolumeAttachment and no Cinder attachment remains, deletes the Cinder volume, waits
  until Cinder no longer has it (Cinder's delete is asynchronous), removes the PV's finalizer
  and deletes the PV. A volume is never deleted while attached. Reclaim policy Retain: nothing.

Not done: snapshots, clones, data sources, resizing (ControllerExpandVolume), topology and
availability zones, the node plugin (NodeStage/NodePublish: the kubelet double plays mounting),
secrets, volume limits, inline ephemeral volumes, metrics, leader election.

    python -m lab.cinder_csi --kubeconfig K --clouds-yaml C --cloud devstack-admin \
        [--profile fast|devstack] [--delay-scale F]

The profile only scales how long it waits for Cinder before giving up (the delays themselves are
the OpenStack double's). Logs go to stdout; SIGTERM stops it cleanly.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.utils.quantity import parse_quantity
from kubernetes.watch.watch import iter_resp_lines

from lab import profiles

DRIVER = "cinder.csi.openstack.org"
PROVISIONER_FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
ATTACHER_FINALIZER = "external-attacher/" + DRIVER.replace(".", "-")
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner",
                                   "volume.beta.kubernetes.io/storage-provisioner")
SELECTED_NODE = "volume.kubernetes.io/selected-node"
FSTYPE_PARAMETER = "csi.storage.k8s.io/fstype"
GIB = 1024 ** 3
# How long a single wait for Cinder may take (seconds) before the operation is retried.

log = logging.getLogger("cinder-csi")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def rv_int(obj: dict) -> int:
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


# --------------------------------------------------------------------------- Kubernetes plumbing

class Informer:
    """List, then watch one resource type; keeps a dict cache of the raw objects (JSON dicts)
    and sets ``wake`` on every change. Relists on a 410 Gone or any error."""

    def __init__(self, name: str, list_fn: Callable, wake: threading.Event, stop: threading.Event,
                 key: Callable[[dict], str] | None = None, logger: logging.Logger | None = None):
        self.name, self.list_fn, self.wake, self.stop = name, list_fn, wake, stop
        self.log = logger or log
        self.key = key or (lambda o: f"{meta(o).get('namespace', '')}/{meta(o)['name']}")
        self.items: dict[str, dict] = {}
        self.tombstones: dict[str, int] = {}  # key -> resourceVersion of its deletion
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> Informer:
        self.thread.start()
        return self

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.items.values())

    def get(self, key: str) -> dict | None:
        with self.lock:
            return self.items.get(key)

    def put(self, obj: dict) -> None:
        """Record an object we just wrote (newer than the cache), so the next reconcile does not
        act on stale data before the watch event arrives."""
        key = self.key(obj)
        with self.lock:
            if self.tombstones.get(key, -1) >= rv_int(obj):
                return  # the watch already saw it deleted
            old = self.items.get(key)
            if old is None or rv_int(obj) >= rv_int(old):
                self.items[key] = obj

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                listed = json.loads(self.list_fn(_preload_content=False, _request_timeout=30).data)
                rv = listed["metadata"]["resourceVersion"]
                with self.lock:
                    self.items = {self.key(o): o for o in listed.get("items") or []}
                    self.tombstones.clear()
                self.synced.set()
                self.wake.set()
                while not self.stop.is_set():
                    rv = self._watch(rv)
                    if rv is None:
                        break  # 410 Gone: relist
            except Exception as error:  # noqa: BLE001 - keep watching whatever happens
                if self.stop.is_set():
                    return
                self.log.warning("watch %s: %s; relisting", self.name, error)
                self.stop.wait(1.0)

    def _watch(self, rv: str) -> str | None:
        resp = self.list_fn(watch=True, resource_version=rv, allow_watch_bookmarks=True,
                            timeout_seconds=240, _preload_content=False, _request_timeout=(10, 300))
        try:
            for line in iter_resp_lines(resp):
                if self.stop.is_set():
                    return rv
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                rv = meta(obj).get("resourceVersion", rv)
                if kind == "BOOKMARK":
                    continue
                with self.lock:
                    if kind == "DELETED":
                        self.items.pop(self.key(obj), None)
                        self.tombstones[self.key(obj)] = rv_int(obj)
                    else:
                        self.items[self.key(obj)] = obj
                self.wake.set()
        finally:
            resp.close()
            resp.release_conn()
        return rv


class Retry(Exception):
    """Not an error: come back after ``delay`` seconds (waiting on something else)."""

    def __init__(self, message: str, delay: float = 1.0):
        super().__init__(message)
        self.delay = delay


class Workers:
    """One operation per key at a time, on a small thread pool, with exponential backoff on
    failure (like the sidecars' workqueues).

    ``version`` names what an operation was asked for (operation, resourceVersion): once it
    succeeded, the same version is not run again, so a cache that has not yet seen the result
    of our own write does not repeat the operation. Call ``begin()`` before and ``end()`` after
    each reconcile pass: keys no pass asks for any more are forgotten."""

    def __init__(self, wake: threading.Event, size: int = 6, max_backoff: float = 30.0,
                 logger: logging.Logger | None = None):
        self.log = logger or log
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="op")
        self.wake = wake
        self.max_backoff = max_backoff
        self.lock = threading.Lock()
        self.busy: set[str] = set()
        self.not_before: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.done: dict[str, object] = {}
        self.asked: set[str] = set()

    def begin(self) -> None:
        self.asked = set()

    def end(self) -> None:
        with self.lock:
            for table in (self.not_before, self.failures, self.done):
                for key in [k for k in table if k not in self.asked and k not in self.busy]:
                    del table[key]

    def submit(self, key: str, operation: Callable[[], None], version: object = None) -> None:
        self.asked.add(key)
        with self.lock:
            if key in self.busy or time.monotonic() < self.not_before.get(key, 0.0):
                return
            if version is not None and self.done.get(key) == version:
                return
            self.busy.add(key)
        self.pool.submit(self._run, key, operation, version)

    def _run(self, key: str, operation: Callable[[], None], version: object) -> None:
        delay = 0.0
        try:
            operation()
            with self.lock:
                self.failures.pop(key, None)
                self.done[key] = version
        except Retry as retry:
            delay = retry.delay
            self.log.debug("%s: %s", key, retry)
        except Exception as error:  # noqa: BLE001 - an operation failure is retried with backoff
            with self.lock:
                count = self.failures[key] = self.failures.get(key, 0) + 1
            delay = min(self.max_backoff, 0.5 * 2 ** (count - 1))
            self.log.warning("%s failed (attempt %d, retry in %.1f s): %s", key, count, delay, error)
        finally:
            with self.lock:
                self.busy.discard(key)
                if delay:
                    self.not_before[key] = time.monotonic() + delay
                else:
                    self.not_before.pop(key, None)
            self.wake.set()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def kube_api(kubeconfig: str) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def remove_finalizer(finalizer: str) -> dict:
    """A strategic merge patch that removes one finalizer and keeps the others."""
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}}


def raw(call: Callable, *args, **kwargs) -> dict:
    """Call a kubernetes client method and return the JSON answer as a dict."""
    return json.loads(call(*args, _preload_content=False, _request_timeout=30, **kwargs).data or b"{}")


class Recorder:
    """core/v1 Events, like client-go's event recorder (no aggregation)."""

    def __init__(self, core: client.CoreV1Api, component: str, host: str | None = None):
        self.core, self.component, self.host = core, component, host
        self.instance = host or socket.gethostname()

    def event(self, obj: dict, kind: str, event_type: str, reason: str, message: str) -> None:
        m = meta(obj)
        namespace = m.get("namespace") or "default"
        now = now_rfc3339()
        body = {
            "metadata": {"name": f"{m['name']}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {"kind": kind, "name": m["name"], "namespace": m.get("namespace"),
                               "uid": m.get("uid"), "apiVersion": obj.get("apiVersion") or "v1",
                               "resourceVersion": m.get("resourceVersion")},
            "type": event_type, "reason": reason, "message": message,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "reportingComponent": self.component, "reportingInstance": self.instance,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.core.create_namespaced_event(namespace, body, _request_timeout=10)
        except Exception as error:  # noqa: BLE001 - an event is best effort
            log.debug("event %s on %s: %s", reason, m.get("name"), error)


# --------------------------------------------------------------------------- OpenStack side

class CloudError(Exception):
    """OpenStack refused an operation; the message is what the real driver would report."""


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

    def volume(self, volume_id: str) -> dict | None:
        from openstack import exceptions

        try:
            return self.conn.block_storage.get_volume(volume_id).to_dict()
        except exceptions.NotFoundException:
            return None

    def volume_by_name(self, name: str) -> dict | None:
        found = [v.to_dict() for v in self.conn.block_storage.volumes(details=True, name=name)
                 if v.name == name]
        return found[0] if found else None

    def create_volume(self, name: str, size_gib: int, volume_type: str | None,
                      metadata: dict[str, str]) -> dict:
        from openstack import exceptions

        attrs = {"name": name, "size": size_gib, "metadata": metadata,
                 "description": "Created by OpenStack Cinder CSI driver"}
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

    def attach(self, server_id: str, volume_id: str) -> dict:
        response = self.conn.compute.post(
            f"/servers/{server_id}/os-volume_attachments",
            json={"volumeAttachment": {"volumeId": volume_id}}, microversion="2.60")
        if response.status_code >= 400:
            raise CloudError(f"failed to attach {volume_id} volume to {server_id} compute: "
                             f"{_http_error(response)}")
        try:
            return response.json().get("volumeAttachment") or {}
        except ValueError:
            return {}

    def detach(self, server_id: str, volume_id: str) -> None:
        response = self.conn.compute.delete(
            f"/servers/{server_id}/os-volume_attachments/{volume_id}", microversion="2.60")
        if response.status_code == 404:
            return  # not attached (any more): what the driver treats as detached
        if response.status_code >= 400:
            raise CloudError(f"failed to detach volume {volume_id} from {server_id} compute: "
                             f"{_http_error(response)}")


def _http_error(response) -> str:
    try:
        body = response.json()
        inner = next(iter(body.values())) if isinstance(body, dict) and body else body
        message = inner.get("message") if isinstance(inner, dict) else None
    except ValueError:
        message = None
    message = message or response.text[:300]
    return (f"Expected HTTP response code [200] when accessing [{response.request.method} "
            f"{response.request.url}], but got {response.status_code} instead: {message}")


def attached_servers(volume: dict) -> set[str]:
    return {a.get("server_id") for a in volume.get("attachments") or [] if a.get("server_id")}


def server_of(node: dict | None) -> str | None:
    provider_id = ((node or {}).get("spec") or {}).get("providerID") or ""
    if not provider_id.startswith("openstack://"):
        return None
    return provider_id.rstrip("/").rsplit("/", 1)[-1] or None


# --------------------------------------------------------------------------- the controller

class CinderCSI:
    def __init__(self, api: client.ApiClient, cloud: Cloud, wait_timeout: float):
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.cloud = cloud
        self.wait_timeout = wait_timeout
        self.wake, self.stop = threading.Event(), threading.Event()
        self.workers = Workers(self.wake)
        self.recorder = Recorder(self.core, f"{DRIVER}_csi-cinder-controllerplugin-double")
        self.identity = f"{int(time.time() * 1000)}-{uuid.uuid4().int % 10000}-{DRIVER}"
        by_name = lambda o: meta(o)["name"]  # noqa: E731
        self.claims = Informer("pvcs", self.core.list_persistent_volume_claim_for_all_namespaces,
                               self.wake, self.stop)
        self.volumes = Informer("pvs", self.core.list_persistent_volume, self.wake, self.stop, by_name)
        self.classes = Informer("storageclasses", self.storage.list_storage_class, self.wake,
                                self.stop, by_name)
        self.attachments = Informer("volumeattachments", self.storage.list_volume_attachment,
                                    self.wake, self.stop, by_name)
        self.nodes = Informer("nodes", self.core.list_node, self.wake, self.stop, by_name)
        self.informers = [self.claims, self.volumes, self.classes, self.attachments, self.nodes]

    # ---- main loop
    def run(self) -> None:
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            while not informer.synced.wait(0.5):
                if self.stop.is_set():
                    return
        log.info("cinder-csi double: caches synced; provisioner, attacher and deleter running")
        while not self.stop.is_set():
            self.wake.wait(0.4)
            self.wake.clear()
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001
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
        for claim in self.claims.snapshot():
            if self._wants_provisioning(claim, classes) and f"pvc-{meta(claim)['uid']}" not in pv_names:
                key = f"provision/{meta(claim)['namespace']}/{meta(claim)['name']}"
                self.workers.submit(key, lambda c=claim: self.provision(c, classes),
                                    ("provision", meta(claim).get("resourceVersion")))
        for va in self.attachments.snapshot():
            spec = va.get("spec") or {}
            if spec.get("attacher") != DRIVER:
                continue
            name = meta(va)["name"]
            if meta(va).get("deletionTimestamp"):
                if ATTACHER_FINALIZER in (meta(va).get("finalizers") or []):
                    self.workers.submit(f"va/{name}", lambda n=name: self.detach(n),
                                        ("detach", meta(va).get("resourceVersion")))
            elif not (va.get("status") or {}).get("attached"):
                self.workers.submit(f"va/{name}", lambda n=name: self.attach(n),
                                    ("attach", meta(va).get("resourceVersion")))
        for pv in pvs:
            if self._wants_deletion(pv):
                self.workers.submit(f"delete/{meta(pv)['name']}", lambda n=meta(pv)["name"]: self.delete(n),
                                    ("delete", meta(pv).get("resourceVersion")))

    # ---- provisioner
    @staticmethod
    def _wants_provisioning(claim: dict, classes: dict[str, dict]) -> bool:
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
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer" and not annotations.get(SELECTED_NODE):
            return False
        return True

    def provision(self, claim: dict, classes: dict[str, dict]) -> None:
        m, spec = meta(claim), claim.get("spec") or {}
        current = self.claims.get(f"{m['namespace']}/{m['name']}")
        if current is None or meta(current).get("uid") != m["uid"] or not self._wants_provisioning(current, classes):
            return
        storage_class = classes[spec["storageClassName"]]
        parameters = storage_class.get("parameters") or {}
        pv_name = f"pvc-{m['uid']}"
        requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        size_gib = max(1, math.ceil(parse_quantity(requested) / GIB))
        volume_type = parameters.get("type") or None
        try:
            volume = self.cloud.volume_by_name(pv_name)
            if volume is not None and volume.get("status") == "error":
                log.info("volume %s (%s) is in error state: deleting it and creating it again",
                         pv_name, volume["id"])
                self.cloud.delete_volume(volume["id"])
                self._wait_gone(volume["id"])
                volume = None
            if volume is None:
                self.recorder.event(claim, "PersistentVolumeClaim", "Normal", "Provisioning",
                                    f'External provisioner is provisioning volume for claim '
                                    f'"{m["namespace"]}/{m["name"]}"')
                volume = self.cloud.create_volume(pv_name, size_gib, volume_type, {
                    "cinder.csi.openstack.org/cluster": "kubernetes",
                    "csi.storage.k8s.io/pvc/name": m["name"],
                    "csi.storage.k8s.io/pvc/namespace": m["namespace"],
                    "csi.storage.k8s.io/pv/name": pv_name,
                })
                log.info("claim %s/%s: created volume %s (%s, %d GiB, type %s)", m["namespace"],
                         m["name"], pv_name, volume["id"], size_gib, volume_type or "(default)")
            volume = self._wait_status(volume["id"], "available", ("error",))
        except CloudError as error:
            self.recorder.event(claim, "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                                f'failed to provision volume with StorageClass '
                                f'"{spec["storageClassName"]}": rpc error: code = Internal desc = {error}')
            raise
        pv = self._pv_manifest(claim, storage_class, volume, size_gib)
        try:
            created = raw(self.core.create_persistent_volume, pv)
            self.volumes.put(created)
        except ApiException as error:
            if error.status != 409:
                raise
        log.info("claim %s/%s: created PersistentVolume %s", m["namespace"], m["name"], pv_name)
        self.recorder.event(claim, "PersistentVolumeClaim", "Normal", "ProvisioningSucceeded",
                            f"Successfully provisioned volume {pv_name}")

    def _pv_manifest(self, claim: dict, storage_class: dict, volume: dict, size_gib: int) -> dict:
        m, spec = meta(claim), claim.get("spec") or {}
        parameters = storage_class.get("parameters") or {}
        volume_mode = spec.get("volumeMode") or "Filesystem"
        csi = {"driver": DRIVER, "volumeHandle": volume["id"],
               "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": self.identity}}
        if volume_mode == "Filesystem":
            csi["fsType"] = parameters.get(FSTYPE_PARAMETER) or "ext4"
        pv_spec = {
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": f"{size_gib}Gi"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": m["name"],
                         "namespace": m["namespace"], "uid": m["uid"],
                         "resourceVersion": m.get("resourceVersion")},
            "csi": csi,
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": spec["storageClassName"],
            "volumeMode": volume_mode,
        }
        if storage_class.get("mountOptions"):
            pv_spec["mountOptions"] = list(storage_class["mountOptions"])
        return {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"pvc-{m['uid']}", "annotations": {PROVISIONED_BY: DRIVER},
                         "finalizers": [PROVISIONER_FINALIZER]},
            "spec": pv_spec,
        }

    # ---- attacher
    def _va_volume_and_server(self, va: dict) -> tuple[str, str]:
        spec = va.get("spec") or {}
        pv_name = (spec.get("source") or {}).get("persistentVolumeName")
        pv = self.volumes.get(pv_name or "")
        if pv is None:
            raise Retry(f"PersistentVolume {pv_name} not found yet", 1.0)
        volume_id = ((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle")
        server_id = server_of(self.nodes.get(spec.get("nodeName") or ""))
        if not volume_id or not server_id:
            raise CloudError(f"node {spec.get('nodeName')} has no OpenStack server id (providerID) "
                             f"or PV {pv_name} no volume handle")
        return volume_id, server_id

    def attach(self, name: str) -> None:
        va = self.attachments.get(name)
        if va is None or meta(va).get("deletionTimestamp") or (va.get("status") or {}).get("attached"):
            return
        if ATTACHER_FINALIZER not in (meta(va).get("finalizers") or []):
            va = raw(self.storage.patch_volume_attachment, name,
                     {"metadata": {"finalizers": [ATTACHER_FINALIZER]}})
            self.attachments.put(va)
        started = time.monotonic()
        try:
            volume_id, server_id = self._va_volume_and_server(va)
            volume = self.cloud.volume(volume_id)
            if volume is None:
                raise CloudError(f"[ControllerPublishVolume] Volume {volume_id} not found")
            device = "/dev/vdb"
            if server_id not in attached_servers(volume):
                answer = self.cloud.attach(server_id, volume_id)
                device = answer.get("device") or device
                volume = self._wait_attached(volume_id, server_id)
            for attachment in volume.get("attachments") or []:
                if attachment.get("server_id") == server_id and attachment.get("device"):
                    device = attachment["device"]
        except CloudError as error:
            message = (f"rpc error: code = Internal desc = [ControllerPublishVolume] Attach Volume "
                       f"failed with error {error}")
            self._va_status(name, {"attached": False,
                                   "attachError": {"message": message, "time": now_rfc3339()}})
            raise
        self._va_status(name, {"attached": True, "attachmentMetadata": {"DevicePath": device},
                               "attachError": None})
        log.info("attached volume %s to server %s (node %s) in %.2f s", volume_id, server_id,
                 (va.get("spec") or {}).get("nodeName"), time.monotonic() - started)

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
        volume = self.cloud.volume(volume_id)
        try:
            if volume is not None and server_id in attached_servers(volume):
                self.cloud.detach(server_id, volume_id)
                self._wait_detached(volume_id, server_id)
        except CloudError as error:
            self._va_status(name, {"detachError": {
                "message": f"rpc error: code = Internal desc = [ControllerUnpublishVolume] {error}",
                "time": now_rfc3339()}})
            raise
        try:
            self.attachments.put(raw(self.storage.patch_volume_attachment, name,
                                     remove_finalizer(ATTACHER_FINALIZER)))
        except ApiException as error:
            if error.status != 404:
                raise
        log.info("detached volume %s from server %s in %.2f s", volume_id, server_id,
                 time.monotonic() - started)

    # ---- deleter
    @staticmethod
    def _wants_deletion(pv: dict) -> bool:
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

    def delete(self, name: str) -> None:
        pv = self.volumes.get(name)
        if pv is None or not self._wants_deletion(pv):
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
                raise Retry(f"volume {volume_id} is still attached to {attached_servers(volume)}", 0.5)
            if volume.get("status") != "deleting":
                try:
                    self.cloud.delete_volume(volume_id)
                except CloudError as error:
                    self.recorder.event(pv, "PersistentVolume", "Warning", "VolumeFailedDelete",
                                        f"rpc error: code = Internal desc = {error}")
                    raise
                log.info("PersistentVolume %s released: deleting Cinder volume %s", name, volume_id)
            self._wait_gone(volume_id)
        # Like external-provisioner: delete the PV object, then let it go (our finalizer).
        try:
            if not meta(pv).get("deletionTimestamp"):
                raw(self.core.delete_persistent_volume, name)
            raw(self.core.patch_persistent_volume, name, remove_finalizer(PROVISIONER_FINALIZER))
        except ApiException as error:
            if error.status != 404:
                raise
        log.info("Cinder volume %s deleted, PersistentVolume %s deleted (%.2f s)", volume_id, name,
                 time.monotonic() - started)

    # ---- waits on Cinder
    def _poll(self, what: str, check: Callable[[], dict | bool | None]):
        deadline = time.monotonic() + self.wait_timeout
        interval = 0.1
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline or self.stop.is_set():
                raise CloudError(f"timed out after {self.wait_timeout:.0f} s waiting for {what}")
            time.sleep(interval)
            interval = min(1.0, interval * 1.5)

    def _wait_status(self, volume_id: str, status: str, failed: tuple[str, ...]) -> dict:
        def check():
            volume = self.cloud.volume(volume_id)
            if volume is None:
                raise CloudError(f"volume {volume_id} disappeared")
            if volume.get("status") in failed:
                raise CloudError(f"volume {volume_id} is in {volume['status']} state")
            return volume if volume.get("status") == status else None
        return self._poll(f"volume {volume_id} to become {status}", check)

    def _wait_attached(self, volume_id: str, server_id: str) -> dict:
        def check():
            volume = self.cloud.volume(volume_id)
            if volume is None:
                raise CloudError(f"volume {volume_id} disappeared")
            return volume if server_id in attached_servers(volume) else None
        return self._poll(f"volume {volume_id} to be attached to {server_id}", check)

    def _wait_detached(self, volume_id: str, server_id: str) -> None:
        def check():
            volume = self.cloud.volume(volume_id)
            return volume is None or server_id not in attached_servers(volume)
        self._poll(f"volume {volume_id} to be detached from {server_id}", check)

    def _wait_gone(self, volume_id: str) -> None:
        def check():
            volume = self.cloud.volume(volume_id)
            if volume is not None and volume.get("status") == "error_deleting":
                raise CloudError(f"volume {volume_id} is in error_deleting state")
            return volume is None
        self._poll(f"volume {volume_id} to be deleted", check)


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
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("urllib3", "keystoneauth", "openstack", "stevedore", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    controller = CinderCSI(kube_api(args.kubeconfig), Cloud(args.clouds_yaml, args.cloud),
                           wait_timeout=profiles.delays(args.profile, args.delay_scale).csi_cinder_wait)

    def stop(signum, _frame):
        log.info("signal %d: stopping", signum)
        controller.stop.set()
        controller.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller.run()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
