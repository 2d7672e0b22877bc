"""A double of the nodes' kubelets and container runtime (the pod lifecycle), for the lab.

KWOK plays the nodes themselves (registration, heartbeats, leases); this double plays what the
kubelets of master1, worker1 and worker2 do with the pods bound to them, at the level this
project depends on. It is NOT a kubelet: nothing is pulled, no process or namespace is created,
no volume is formatted or mounted, probes are not run.

- A pod bound to one of the nodes is reported Pending with its containers waiting
  (``ContainerCreating``), hostIP = the node's IP. It starts only once its volumes are ready:
  each PersistentVolumeClaim volume must be Bound, and when its PV is a CSI volume whose
  CSIDriver has ``attachRequired`` (or has no CSIDriver object), the VolumeAttachment of
  kube-controller-manager's attach/detach controller for (PV, node) must be
  ``status.attached: true``. So a pod whose volume cannot attach (Multi-Attach error, or the
  Cinder CSI double's attachError) stays ContainerCreating, as in the article; after two minutes
  it gets the kubelet's FailedMount warning event. A claim used against its PV's volumeMode
  (``volumeDevices`` on a Filesystem PV, ``volumeMounts`` on a Block PV) is refused as the real
  kubelet refuses it: the pod stays ContainerCreating with FailedMount at once ("volume <name>
  has volumeMode Filesystem, but is specified in volumeDevices").
- Once ready, after the profile's pod start delay (fast 0.1 s, devstack 90 s, times
  --delay-scale), the pod gets an IP of its node's /24 (``NodeShape.pod_prefix`` + the lowest
  free N in 2..254, unique per node, freed when the pod goes), phase Running, conditions
  PodReadyToStartContainers/Initialized/ContainersReady/Ready True, containers running and
  ready; and its "containers" answer HTTP on podIP:<each TCP containerPort> (port 80 always):
  ``GET /`` returns ``Server <pod name> on <node name>`` (what the project's nginx pods write
  into their docroot from the downward API), one request per connection.
- The node's ``status.volumesInUse`` lists ``kubernetes.io/csi/<driver>^<volumeHandle>`` for the
  attachable CSI volumes of the node's pods, as the kubelet reports them (the attach/detach
  controller does not detach a volume a node still reports in use); only that field is patched,
  through the status subresource (KWOK's heartbeat does not touch it).
- Volume growth (online expansion, kubernetes pkg/volume/util/operationexecutor/node_expander.go):
  for a claim volume (not readOnly) of a Running pod whose claim the external-resizer marked
  ``NodeResizePending`` (or ``NodeResizeInProgress``) and whose PV is bigger than the claim's
  capacity, the node's kubelet marks ``NodeResizeInProgress``, "calls" NodeExpandVolume (for a
  Filesystem and a raw Block volume alike; nothing to grow here), then sets the claim's
  capacity to the PV's, drops the resize status and conditions and records
  FileSystemResizeSuccessful on the pod (lab/csi_resizer.py has the status rules). The pod keeps
  running. On several nodes (RWX) the first to finish wins; the others find nothing left to do.
- A pod being deleted (kubernetes pkg/kubelet/kuberuntime/kuberuntime_container.go killContainer,
  executePreStopHook; pkg/kubelet/lifecycle/handlers.go runSleepHandler): a Running pod's
  containers get the kubelet's "Killing" event and first run their preStop hook, serving
  meanwhile, for at most the grace period: metadata.deletionGracePeriodSeconds, else
  spec.terminationGracePeriodSeconds (30), never below 1 s (pkg/kubelet/pod_workers.go
  calculateEffectiveGracePeriod). A shortened grace period cancels the hook and the kill
  starts over with the new one. A pod gone from the API (force deletion, grace period 0) is
  killed with that 1 s floor. Then its listeners stop, its volumes leave ``volumesInUse``
  ("unmounted"), the pod is deleted for good (grace period 0) and its IP freed. A pod whose
  containers never started stops at once.
- Restarted, it adopts the pods already Running (keeps their IPs, serves again).

Not done: an ``exec`` preStop hook is not run: ``sleep N`` (or ``sh -c "sleep N"``) counts as
N seconds, any other command as 0; an ``httpGet`` hook as 0; SIGTERM handling after the hook
(nginx stops at once, so the remaining grace period is not waited); sidecar termination order;
probes, restarts, container exits (containers never terminate: a Job's pod runs
forever), init containers are reported completed at once, images, resources, hostPort,
hostNetwork pods get the node IP and are served there, exec/logs/port-forward, eviction, static
pods, pods on nodes other than the lab's three.

    python -m lab.kubelet --kubeconfig K [--profile fast|devstack] [--delay-scale F]

Uses the shared Kubernetes helpers of ``lab.kube``. Logs to stderr; SIGTERM stops it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.rest import ApiException

from lab import csi_resizer, daemon, profiles
from lab.cluster import NodeShape, shape_from_environment
from lab.kube.client import api_client, meta, name_key, namespaced_key, raw, rfc3339, uid_key
from lab.kube.events import Recorder
from lab.kube.informer import Informer, start_and_sync
from lab.kube.workqueue import Retry, Workers

MOUNT_TIMEOUT = 120.0  # the kubelet's "Unable to attach or mount volumes ... timed out"
HTTP_PORT = 80
DEFAULT_GRACE_SECONDS = 30  # the API's default spec.terminationGracePeriodSeconds
MIN_GRACE_SECONDS = 1  # pod_workers.go calculateEffectiveGracePeriod: "always supply a grace period of 1"

log = logging.getLogger("kubelet")


# --------------------------------------------------------------------------- the "containers"

class Containers:
    """The pods' containers: asyncio TCP listeners on pod IPs answering like nginx serving the
    identity file, all on one event loop thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="containers", daemon=True)
        self.thread.start()

    def start(self, ip: str, ports: list[int], body: str) -> list[asyncio.AbstractServer]:
        future = asyncio.run_coroutine_threadsafe(self._start(ip, ports, body.encode()), self.loop)
        return future.result(timeout=10)

    def stop(self, servers: list[asyncio.AbstractServer]) -> None:
        if servers:
            asyncio.run_coroutine_threadsafe(self._stop(servers), self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _start(self, ip: str, ports: list[int], body: bytes) -> list[asyncio.AbstractServer]:
        servers = []
        try:
            for port in ports:
                servers.append(await asyncio.start_server(
                    lambda r, w: self._serve(r, w, body), ip, port, reuse_address=True))
        except OSError:
            await self._stop(servers)
            raise
        return servers

    @staticmethod
    async def _stop(servers: list[asyncio.AbstractServer]) -> None:
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):  # closing is best effort (a timeout included)
                await asyncio.wait_for(server.wait_closed(), 2)

    @staticmethod
    async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            request = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            method = request[0] if request else "GET"
            path = (request[1] if len(request) > 1 else "/").split("?", 1)[0]
            if path in ("/", "/index.html"):
                status, payload, kind = "200 OK", body, "text/html"
            else:
                status, kind = "404 Not Found", "text/html"
                payload = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                           b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.27.4"
                           b"</center>\r\n</body>\r\n</html>\r\n")
            headers = (f"HTTP/1.1 {status}\r\nServer: nginx/1.27.4\r\nContent-Type: {kind}\r\n"
                       f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(headers + (b"" if method == "HEAD" else payload))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass
class Running:
    """A pod whose containers run here."""

    node: str
    ip: str
    servers: list = field(default_factory=list)
    pod: dict | None = None  # the pod as last seen: a force-deleted pod's hooks still run


# --------------------------------------------------------------------------- the kubelets

def container_ports(pod: dict) -> list[int]:
    ports = {HTTP_PORT}
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if (port.get("protocol") or "TCP") == "TCP" and port.get("containerPort"):
                ports.add(int(port["containerPort"]))
    return sorted(ports)


def identity(pod: dict) -> str:
    return f"Server {meta(pod)['name']} on {pod['spec']['nodeName']}\n"


# --------------------------------------------------------------------------- termination

def grace_period(pod: dict) -> int:
    """The seconds the kubelet gives a deleted pod (pod_workers.go calculateEffectiveGracePeriod):
    the API's deletionGracePeriodSeconds, else the pod's terminationGracePeriodSeconds, at least 1."""
    deletion = meta(pod).get("deletionGracePeriodSeconds")
    spec = pod.get("spec") or {}
    seconds = deletion if deletion is not None else spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    return max(MIN_GRACE_SECONDS, int(seconds if seconds is not None else DEFAULT_GRACE_SECONDS))


def _sleep_seconds(command: list) -> float:
    """N for `sleep N` or `sh -c "sleep N"`, else 0: the double runs no command."""
    argv = [str(part) for part in command or []]
    if len(argv) == 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash") and argv[1] == "-c":
        argv = argv[2].split()
    if len(argv) == 2 and argv[0].rsplit("/", 1)[-1] == "sleep":
        try:
            return max(0.0, float(argv[1]))
        except ValueError:
            return 0.0
    return 0.0


def pre_stop_seconds(container: dict) -> float:
    """How long a container's preStop hook takes (lifecycle/handlers.go: a ``sleep`` action
    sleeps its seconds; an ``exec`` is guessed from its command; an ``httpGet`` is instant)."""
    hook = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in hook:
        return max(0.0, float((hook["sleep"] or {}).get("seconds") or 0))
    if "exec" in hook:
        return _sleep_seconds((hook["exec"] or {}).get("command"))
    return 0.0


def serving_seconds(pod: dict) -> float:
    """How long a Running pod keeps serving once the kubelet starts killing it: its containers
    are killed in parallel, each after its preStop hook, the hook cut at the grace period
    (kuberuntime_container.go killContainer / executePreStopHook)."""
    grace = grace_period(pod)
    hooks = [pre_stop_seconds(c) for c in (pod.get("spec") or {}).get("containers") or []]
    return max((min(seconds, grace) for seconds in hooks), default=0.0)


@dataclass(frozen=True)
class Termination:
    """A pod being killed: since when, under which grace period, its containers stop at ``stop_at``."""

    since: float
    grace: int
    stop_at: float


def termination(previous: Termination | None, pod: dict, now: float) -> Termination:
    """The kill of ``pod`` as of ``now``. The grace period only shrinks; a shorter one cancels
    the kill under way and starts it again, hooks included (pod_workers.go UpdatePod cancels the
    sync when wasGracePeriodShortened)."""
    grace = grace_period(pod)
    if previous is not None and grace >= previous.grace:
        return previous
    return Termination(now, grace, now + serving_seconds(pod))


def force_deleted(pod: dict) -> dict:
    """The pod as the kubelet last knows it once it is gone from the API: deleted with grace 0."""
    return {**pod, "metadata": {**meta(pod), "deletionGracePeriodSeconds": 0}}


@dataclass(frozen=True)
class VolumeAdmission:
    """What the kubelet's volume manager decides for a pod's claims: ``ready`` when every one is
    bound, attached where attachment is required and used the way its volumeMode allows.
    unmounted / unattached: the pod's volume names still waiting; errors: the refusals."""

    ready: bool
    unmounted: tuple[str, ...] = ()
    unattached: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def claim_volumes(pod: dict) -> list[tuple[str, str]]:
    """(pod volume name, claim name) for each claim the pod uses, generic ephemeral included."""
    found = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            found.append((volume["name"], volume["persistentVolumeClaim"].get("claimName")))
        elif "ephemeral" in volume:
            found.append((volume["name"], f"{meta(pod)['name']}-{volume['name']}"))
    return found


def volume_mode_errors(pod: dict, modes: dict[str, str]) -> list[str]:
    """The desired-state-of-world populator's refusals (kubernetes/kubernetes
    pkg/kubelet/volumemanager/populator/desired_state_of_world_populator.go): a volume in a
    container's volumeMounts must be a Filesystem PV, one in volumeDevices a Block PV.
    ``modes``: pod volume name -> its PV's volumeMode."""
    spec = pod.get("spec") or {}
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    mounts = {m.get("name") for c in containers for m in c.get("volumeMounts") or []}
    devices = {d.get("name") for c in containers for d in c.get("volumeDevices") or []}
    errors = []
    for name, mode in modes.items():
        if name in mounts and mode != "Filesystem":
            errors.append(f"volume {name} has volumeMode {mode}, but is specified in volumeMounts")
        if name in devices and mode != "Block":
            errors.append(f"volume {name} has volumeMode {mode}, but is specified in volumeDevices")
    return errors


def admit_volumes(pod: dict, claims: dict[str, dict], pvs: dict[str, dict], attachment_needed,
                  attached) -> VolumeAdmission:
    """The volume manager's verdict for a pod on its node. ``claims`` by "<namespace>/<name>",
    ``pvs`` by name; ``attachment_needed(pv)`` and ``attached(pv name, node)`` answer for the
    CSI attach step."""
    namespace, node = meta(pod).get("namespace"), (pod.get("spec") or {}).get("nodeName")
    unmounted, unattached, modes = [], [], {}
    for volume_name, claim_name in claim_volumes(pod):
        claim = claims.get(f"{namespace}/{claim_name}")
        pv = pvs.get(((claim or {}).get("spec") or {}).get("volumeName") or "")
        if claim is None or pv is None or (claim.get("status") or {}).get("phase") != "Bound":
            unmounted.append(volume_name)
            unattached.append(volume_name)
            continue
        modes[volume_name] = (pv.get("spec") or {}).get("volumeMode") or "Filesystem"
        if attachment_needed(pv) and not attached(meta(pv)["name"], node):
            unmounted.append(volume_name)
            unattached.append(volume_name)
    errors = volume_mode_errors(pod, modes)
    refused = [name for name in modes if any(f"volume {name} " in e for e in errors)]
    unmounted += [name for name in refused if name not in unmounted]
    return VolumeAdmission(not unmounted, tuple(unmounted), tuple(unattached), tuple(errors))


def unique_volume_name(pv: dict) -> str | None:
    """The attach-detach controller's name for a CSI PV in node.status.volumesAttached:
    kubernetes.io/csi/<driver>^<volumeHandle> (pkg/volume/csi/csi_plugin.go GetVolumeName)."""
    csi = (pv.get("spec") or {}).get("csi") or {}
    if not csi.get("driver") or not csi.get("volumeHandle"):
        return None
    return f"kubernetes.io/csi/{csi['driver']}^{csi['volumeHandle']}"


def listed_as_attached(node: dict | None, volume_name: str | None) -> bool:
    """Whether the node's status lists the volume as attached: the kubelet mounts a volume that
    needs attaching only then (kubernetes/kubernetes pkg/volume/util/operationexecutor/
    operation_generator.go GenerateVerifyControllerAttachedVolumeFunc: "is not yet attached
    according to node status"), that is once the attach-detach controller has seen the attach
    succeed and updated the node, which may be seconds after the VolumeAttachment says attached
    when the controller is backing off a failed try."""
    attached = ((node or {}).get("status") or {}).get("volumesAttached") or []
    return volume_name is not None and any(entry.get("name") == volume_name for entry in attached)


def expandable_claims(pod: dict) -> list[tuple[str, str]]:
    """(pod volume name, claim name) of the pod's claims the kubelet may grow online: not the
    readOnly ones (desired_state_of_world_populator.go checkVolumeFSResize skips them)."""
    read_only = {v["name"] for v in (pod.get("spec") or {}).get("volumes") or []
                 if (v.get("persistentVolumeClaim") or {}).get("readOnly")}
    return [(name, claim) for name, claim in claim_volumes(pod) if name not in read_only]


def failed_mount_message(admission: VolumeAdmission) -> str:
    """The kubelet's FailedMount event: refusals at once (volume_manager.go WaitForAttachAndMount
    returns the populator's errors), otherwise the timeout after two minutes."""
    waiting = (f"unmounted volumes=[{' '.join(admission.unmounted)}], "
               f"unattached volumes=[{' '.join(admission.unattached)}]")
    if admission.errors:
        refused = [name for name in admission.unmounted if any(f"volume {name} " in e for e in admission.errors)]
        return (f"Unable to attach or mount volumes: {waiting}, failed to process volumes=[{' '.join(refused)}]: "
                f"{'; '.join(admission.errors)}")
    return f"Unable to attach or mount volumes: {waiting}: timed out waiting for the condition"


class Kubelets:
    def __init__(self, api: client.ApiClient, nodes: tuple[NodeShape, ...], start_delay: float):
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.shapes = {n.name: n for n in nodes}
        self.start_delay = start_delay
        self.wake, self.stop_event = threading.Event(), threading.Event()
        # The kubelet's pod workers retry a failed sync after a short backoff (10 s at most here).
        self.workers = Workers(self.wake.set, size=4, backoff_start=0.5, backoff_cap=10.0, logger=log)
        self.containers = Containers()
        self.recorders = {n: Recorder(self.core, "kubelet", host=n) for n in self.shapes}

        def informer(name, list_fn, key=name_key):
            return Informer(name, list_fn, self.wake.set, self.stop_event, key, log)

        self.pods = informer("pods", self.core.list_pod_for_all_namespaces, uid_key)
        self.claims = informer("pvcs", self.core.list_persistent_volume_claim_for_all_namespaces, namespaced_key)
        self.volumes = informer("pvs", self.core.list_persistent_volume)
        self.attachments = informer("volumeattachments", self.storage.list_volume_attachment)
        self.drivers = informer("csidrivers", self.storage.list_csi_driver)
        self.nodes = informer("nodes", self.core.list_node)
        self.informers = [self.pods, self.claims, self.volumes, self.attachments, self.drivers, self.nodes]
        self.lock = threading.RLock()
        self.running: dict[str, Running] = {}  # pod uid -> its containers
        self.ips: dict[str, dict[str, str]] = {n: {} for n in self.shapes}  # node -> ip -> pod uid
        self.reported: set[str] = set()  # pods whose Pending status we wrote
        self.unmounted: set[str] = set()  # terminating pods whose volumes are released
        self.deleted: set[str] = set()  # pods we deleted for good (the cache may lag)
        self.ready_since: dict[str, float] = {}  # pod uid -> when its volumes were first ready
        self.waiting_since: dict[str, float] = {}  # pod uid -> first seen waiting for volumes
        self.terminations: dict[str, Termination] = {}  # pod uid -> its kill under way
        self.foreign: dict[str, float] = {}  # pod IP held outside this double -> skip until
        self.node_locks = {n: threading.Lock() for n in self.shapes}

    # ---- main loop
    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def run(self) -> None:
        if not start_and_sync(self.informers, self.stop_event):
            return
        log.info("kubelet double: caches synced; playing the pods of %s", ", ".join(self.shapes))
        timeout = 0.4
        while not self.stop_event.is_set():
            self.wake.wait(timeout)
            self.wake.clear()
            try:
                timeout = self.reconcile()
            except Exception:  # noqa: BLE001
                log.exception("reconcile")
                timeout = 0.4
        self.workers.shutdown()
        with self.lock:
            for running in self.running.values():
                with contextlib.suppress(Exception):  # stopping anyway: best effort
                    self.containers.stop(running.servers)
        self.containers.close()

    def reconcile(self) -> float:
        """One pass over the pods; returns how long to sleep at most before the next."""
        self.workers.begin()
        try:
            return self._reconcile()
        finally:
            self.workers.end()

    def _reconcile(self) -> float:
        now = time.monotonic()
        next_due = 0.4
        pods = [p for p in self.pods.snapshot() if (p.get("spec") or {}).get("nodeName") in self.shapes]
        present = {meta(p)["uid"] for p in pods}
        with self.lock:
            for pod in pods:  # the latest spec: the grace period a kill uses may have shrunk
                if (running := self.running.get(meta(pod)["uid"])) is not None:
                    running.pod = pod
            for uid in [u for u in self.running if u not in present]:
                next_due = min(next_due, self._kill_gone(uid, now))  # gone without us (forced deletion)
            self.unmounted &= present
            self.deleted &= present
            for taken in self.ips.values():  # a gone pod still draining keeps its IP
                for ip in [ip for ip, uid in taken.items() if uid not in present and uid not in self.running]:
                    del taken[ip]
            for pod in pods:  # addresses of running pods are theirs, even before adoption
                ip = (pod.get("status") or {}).get("podIP")
                if ip and not pod["spec"].get("hostNetwork") and not meta(pod).get("deletionTimestamp") \
                        and ip.startswith(self.shapes[pod["spec"]["nodeName"]].pod_prefix + "."):
                    self.ips[pod["spec"]["nodeName"]].setdefault(ip, meta(pod)["uid"])
            self.reported &= present
            for table in (self.ready_since, self.waiting_since):
                for uid in [u for u in table if u not in present]:
                    del table[uid]
            for uid in [u for u in self.terminations if u not in present and u not in self.running]:
                del self.terminations[uid]
        for pod in pods:
            uid = meta(pod)["uid"]
            status = pod.get("status") or {}
            rv = meta(pod).get("resourceVersion")
            if uid in self.deleted:
                continue
            if meta(pod).get("deletionTimestamp"):
                wait = self._kill(pod, now)
                if wait <= 0:
                    self.workers.submit(uid, lambda p=pod: self.terminate(p), ("terminate", rv))
                else:
                    next_due = min(next_due, wait)
                continue
            if status.get("phase") in ("Succeeded", "Failed"):
                continue
            if uid in self.running:
                if not self._shows_running(pod):
                    self.workers.submit(uid, lambda p=pod: self.report_running(p), ("running", rv))
                continue
            if status.get("phase") == "Running" and status.get("podIP"):
                self.workers.submit(uid, lambda p=pod: self.start(p, adopt=True), ("adopt", rv))
                continue
            if uid not in self.reported:
                self.workers.submit(uid, lambda p=pod: self.report_pending(p), ("pending", rv))
                continue
            admission = self.admission(pod)
            if admission.ready:
                self.waiting_since.pop(uid, None)
                since = self.ready_since.setdefault(uid, now)
                due = since + self.start_delay - now
                if due <= 0:
                    self.workers.submit(uid, lambda p=pod: self.start(p), ("start", rv))
                else:
                    next_due = min(next_due, due)
            else:
                self.ready_since.pop(uid, None)
                # A refusal is reported at once, a wait after the two minutes; both again every two.
                since = self.waiting_since.setdefault(uid, now - (MOUNT_TIMEOUT if admission.errors else 0.0))
                if now - since >= MOUNT_TIMEOUT:
                    self.waiting_since[uid] = now
                    self.workers.submit(f"event/{uid}", lambda p=pod, a=admission: self.failed_mount(p, a))
        for pod in pods:
            if meta(pod)["uid"] in self.running and not meta(pod).get("deletionTimestamp"):
                self._submit_expansions(pod)
        for node in self.shapes:
            if self.in_use(node, pods) != self._reported_in_use(node):
                self.workers.submit(f"node/{node}", lambda n=node: self.sync_node(n))
        return max(0.02, next_due)

    # ---- volume growth
    def _submit_expansions(self, pod: dict) -> None:
        namespace, node = meta(pod).get("namespace"), pod["spec"]["nodeName"]
        for volume_name, claim_name in expandable_claims(pod):
            key = f"{namespace}/{claim_name}"
            claim = self.claims.get(key)
            pv = self.volumes.get(((claim or {}).get("spec") or {}).get("volumeName") or "")
            if csi_resizer.node_expansion_due(claim, pv):
                self.workers.submit(f"expand/{node}/{key}",
                                    lambda p=pod, v=volume_name, k=key: self.expand_volume(p, v, k),
                                    ("expand", meta(claim).get("resourceVersion"), meta(pv).get("resourceVersion")))

    def expand_volume(self, pod: dict, volume_name: str, key: str) -> None:
        """The node's online expansion of one mounted volume (NodeExpander.expandOnPlugin)."""
        claim = self.claims.get(key)
        pv = self.volumes.get(((claim or {}).get("spec") or {}).get("volumeName") or "")
        if self._current(pod) is None or not csi_resizer.node_expansion_due(claim, pv):
            return
        if csi_resizer.resize_status(claim) != csi_resizer.NODE_RESIZE_IN_PROGRESS:
            claim = self._write_claim(csi_resizer.node_resize_in_progress(claim))
        # NodeExpandVolume: a resize2fs, or a rescan for a raw block device; no device here.
        size = csi_resizer.pv_capacity(pv)
        self._write_claim(csi_resizer.expansion_finished(claim, size))
        node = pod["spec"]["nodeName"]
        self._event(pod, "Normal", "FileSystemResizeSuccessful",
                    f'MountVolume.NodeExpandVolume succeeded for volume "{volume_name}" {node}')
        log.info("claim %s: node expansion on %s done, capacity %s", key, node, csi_resizer.binary_quantity(size))

    def _write_claim(self, claim: dict) -> dict:
        written = csi_resizer.write_claim_status(self.core, claim)
        self.claims.put(written)
        return written

    # ---- volumes
    def _attach_required(self, pv: dict) -> bool:
        csi = (pv.get("spec") or {}).get("csi")
        if not csi:
            return False
        driver = self.drivers.get(csi.get("driver") or "")
        return driver is None or (driver.get("spec") or {}).get("attachRequired", True) is not False

    def admission(self, pod: dict) -> VolumeAdmission:
        names = {f"{meta(pod).get('namespace')}/{claim}" for _, claim in claim_volumes(pod)}
        claims = {key: c for key in names if (c := self.claims.get(key)) is not None}
        pvs = {name: pv for c in claims.values()
               if (name := (c.get("spec") or {}).get("volumeName")) and (pv := self.volumes.get(name)) is not None}
        return admit_volumes(pod, claims, pvs, self._attach_required, self._attached)

    def _pod_pvs(self, pod: dict) -> list[dict]:
        found = []
        for _, claim_name in claim_volumes(pod):
            claim = self.claims.get(f"{meta(pod).get('namespace')}/{claim_name}")
            pv_name = ((claim or {}).get("spec") or {}).get("volumeName")
            pv = self.volumes.get(pv_name) if pv_name else None
            if pv is not None:
                found.append(pv)
        return found

    def _attached(self, pv_name: str, node: str) -> bool:
        """The VolumeAttachment says attached (csi_attacher.go WaitForAttach) and the node's status
        lists the volume (the controller-attached check, see listed_as_attached)."""
        pv = self.volumes.get(pv_name)
        if pv is None or not listed_as_attached(self.nodes.get(node), unique_volume_name(pv)):
            return False
        for va in self.attachments.snapshot():
            spec = va.get("spec") or {}
            if spec.get("nodeName") == node and (spec.get("source") or {}).get("persistentVolumeName") == pv_name:
                return bool((va.get("status") or {}).get("attached"))
        return False

    def in_use(self, node: str, pods: list[dict] | None = None) -> list[str]:
        """The node's volumesInUse: attachable CSI volumes of its pods not yet unmounted."""
        if pods is None:
            pods = self.pods.snapshot()
        names = set()
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") != node or meta(pod)["uid"] in self.unmounted:
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            for pv in self._pod_pvs(pod):
                if self._attach_required(pv):
                    csi = pv["spec"]["csi"]
                    names.add(f"kubernetes.io/csi/{csi['driver']}^{csi['volumeHandle']}")
        return sorted(names)

    def _reported_in_use(self, node: str) -> list[str]:
        return sorted(((self.nodes.get(node) or {}).get("status") or {}).get("volumesInUse") or [])

    def sync_node(self, node: str) -> None:
        with self.node_locks[node]:
            wanted = self.in_use(node)
            if wanted == self._reported_in_use(node):
                return
            patched = raw(self.core.patch_node_status, node,
                          {"status": {"volumesInUse": wanted or None}})
            self.nodes.put(patched)
            log.info("node %s: volumesInUse %s", node, wanted)

    # ---- pod lifecycle
    def _current(self, pod: dict) -> dict | None:
        current = self.pods.get(meta(pod)["uid"])
        return current if current is not None and not meta(current).get("deletionTimestamp") else None

    def _event(self, pod: dict, event_type: str, reason: str, message: str) -> None:
        self.recorders[pod["spec"]["nodeName"]].event(pod, "Pod", event_type, reason, message)

    def report_pending(self, pod: dict) -> None:
        pod = self._current(pod)
        if pod is None or meta(pod)["uid"] in self.reported:
            return
        shape = self.shapes[pod["spec"]["nodeName"]]
        spec, now = pod["spec"], rfc3339()
        containers = [c["name"] for c in spec.get("containers") or []]
        has_init = bool(spec.get("initContainers"))
        unready = f"containers with unready status: [{' '.join(containers)}]"
        status = {
            "phase": "Pending", "hostIP": shape.ip, "hostIPs": [{"ip": shape.ip}],
            "startTime": (pod.get("status") or {}).get("startTime") or now,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "False", "lastTransitionTime": now},
                {"type": "Initialized", "status": "False" if has_init else "True",
                 "lastTransitionTime": now,
                 **({"reason": "ContainersNotInitialized"} if has_init else {})},
                {"type": "Ready", "status": "False", "lastTransitionTime": now,
                 "reason": "ContainersNotReady", "message": unready},
                {"type": "ContainersReady", "status": "False", "lastTransitionTime": now,
                 "reason": "ContainersNotReady", "message": unready},
            ],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                 "restartCount": 0, "started": False,
                 "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                for c in spec.get("containers") or []],
        }
        if has_init:
            status["initContainerStatuses"] = [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                 "restartCount": 0, "started": False,
                 "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}
                for c in spec["initContainers"]]
        self._patch_status(pod, status)
        with self.lock:
            self.reported.add(meta(pod)["uid"])

    def _patch_status(self, pod: dict, status: dict) -> None:
        m = meta(pod)
        try:
            self.pods.put(raw(self.core.patch_namespaced_pod_status, m["name"], m["namespace"],
                              {"metadata": {"uid": m["uid"]}, "status": status}))
        except ApiException as error:
            if error.status in (404, 409, 422):
                raise Retry(f"pod {m['namespace']}/{m['name']} changed: {error.reason}", 0.2) from error
            raise

    def _allocate(self, node: str, uid: str, wanted: str | None) -> str:
        shape = self.shapes[node]
        now = time.monotonic()
        with self.lock:
            taken = self.ips[node]
            if wanted and taken.get(wanted) in (None, uid):
                taken[wanted] = uid
                return wanted
            for n in range(2, 255):
                ip = f"{shape.pod_prefix}.{n}"
                if ip not in taken and self.foreign.get(ip, 0.0) < now:
                    taken[ip] = uid
                    return ip
        raise RuntimeError(f"node {node}: no free pod IP in {shape.pod_prefix}.0/24")

    def start(self, pod: dict, adopt: bool = False) -> None:
        pod = self._current(pod)
        if pod is None:
            return
        uid, node = meta(pod)["uid"], pod["spec"]["nodeName"]
        with self.lock:
            if uid in self.running:
                return
        wanted = (pod.get("status") or {}).get("podIP") if adopt else None
        if wanted and not wanted.startswith(self.shapes[node].pod_prefix + "."):
            wanted = None  # an address this double did not give: the pod gets one of its node's
        fixed = bool(pod["spec"].get("hostNetwork") or wanted)
        for _ in range(8):
            ip = self.shapes[node].ip if pod["spec"].get("hostNetwork") else self._allocate(node, uid, wanted)
            try:
                servers = self.containers.start(ip, container_ports(pod), identity(pod))
                break
            except OSError as error:
                self._release(node, ip, uid)
                if fixed or error.errno != errno.EADDRINUSE:
                    raise RuntimeError(f"pod {meta(pod)['namespace']}/{meta(pod)['name']}: cannot "
                                       f"serve on {ip}: {error}") from error
                # Something outside this lab (another lab's pod, a test server) holds the
                # address: leave it alone for a while and take the next one.
                log.warning("pod IP %s is in use outside this double: skipping it", ip)
                with self.lock:
                    self.foreign[ip] = time.monotonic() + 60.0
        else:
            raise RuntimeError(f"pod {meta(pod)['namespace']}/{meta(pod)['name']}: no bindable pod IP")
        with self.lock:
            self.running[uid] = Running(node, ip, servers, pod)
        try:
            if not adopt or not self._shows_running(pod):
                self.report_running(pod)
        except Exception:
            with self.lock:
                self._forget(uid)
            raise
        log.info("pod %s/%s %s on %s at %s:%s", meta(pod)["namespace"], meta(pod)["name"],
                 "adopted" if adopt else "started", node, ip, ",".join(map(str, container_ports(pod))))
        if not adopt:
            for container in pod["spec"].get("containers") or []:
                self._event(pod, "Normal", "Started", f"Started container {container['name']}")

    def _shows_running(self, pod: dict) -> bool:
        status = pod.get("status") or {}
        running = self.running.get(meta(pod)["uid"])
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
        return status.get("phase") == "Running" and ready and running is not None \
            and status.get("podIP") == running.ip

    def report_running(self, pod: dict) -> None:
        pod = self._current(pod) or pod
        running = self.running.get(meta(pod)["uid"])
        if running is None:
            return
        spec, now = pod["spec"], rfc3339()
        shape = self.shapes[running.node]
        old = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
        started = {name: ((s.get("state") or {}).get("running") or {}).get("startedAt")
                   for name, s in old.items()}
        status = {
            "phase": "Running", "hostIP": shape.ip, "hostIPs": [{"ip": shape.ip}],
            "podIP": running.ip, "podIPs": [{"ip": running.ip}],
            "startTime": (pod.get("status") or {}).get("startTime") or now,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""),
                 "imageID": f"{c.get('image', '')}@sha256:{uuid.uuid5(uuid.NAMESPACE_URL, c.get('image', '')).hex * 2}",
                 "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}",
                 "ready": True, "restartCount": 0, "started": True,
                 "state": {"running": {"startedAt": started.get(c["name"]) or now}}, "lastState": {}}
                for c in spec.get("containers") or []],
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True,
                 "restartCount": 0, "started": False, "lastState": {},
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": now, "finishedAt": now}}}
                for c in spec["initContainers"]]
        self._patch_status(pod, status)

    def _release(self, node: str, ip: str, uid: str) -> None:
        with self.lock:
            if self.ips.get(node, {}).get(ip) == uid:
                del self.ips[node][ip]

    def _forget(self, uid: str) -> None:
        """Stop a pod's containers and free its IP (lock held)."""
        running = self.running.pop(uid, None)
        if running is not None:
            try:
                self.containers.stop(running.servers)
            finally:
                self._release(running.node, running.ip, uid)

    def _kill(self, pod: dict, now: float) -> float:
        """Start or follow the kill of a deleted pod; the seconds until its containers stop."""
        uid = meta(pod)["uid"]
        with self.lock:
            if uid not in self.running:
                return 0.0  # nothing started: no hook to run
            previous = self.terminations.get(uid)
            current = self.terminations[uid] = termination(previous, pod, now)
        if previous is None:
            for container in pod["spec"].get("containers") or []:
                self.workers.submit(f"event/kill/{uid}/{container['name']}", lambda p=pod, c=container["name"]:
                                    self._event(p, "Normal", "Killing", f"Stopping container {c}"))
        if current is not previous:
            log.info("pod %s/%s: stopping, serving %.1f s more (preStop, grace period %d s)",
                     meta(pod)["namespace"], meta(pod)["name"], current.stop_at - now, current.grace)
        return current.stop_at - now

    def _kill_gone(self, uid: str, now: float) -> float:
        """A running pod gone from the API (lock held): stopped once its 1 s kill is over;
        returns how long to wait before looking again."""
        running = self.running[uid]
        previous = self.terminations.get(uid)
        pod = force_deleted(running.pod) if running.pod is not None else None
        current = termination(previous, pod, now) if pod is not None else Termination(now, 0, now)
        self.terminations[uid] = current
        if current.stop_at > now:
            return current.stop_at - now
        self._forget(uid)
        self.terminations.pop(uid, None)
        return 0.4

    def terminate(self, pod: dict) -> None:
        m = meta(pod)
        uid, node = m["uid"], pod["spec"]["nodeName"]
        with self.lock:
            if uid in self.deleted:
                return
            self._forget(uid)
            self.unmounted.add(uid)
        self.sync_node(node)  # the volumes are unmounted before the pod object goes
        try:
            raw(self.core.delete_namespaced_pod, m["name"], m["namespace"],
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
        except ApiException as error:
            if error.status not in (404, 409):
                raise
        with self.lock:
            self.deleted.add(uid)
        log.info("pod %s/%s on %s: containers stopped, volumes released, pod deleted",
                 m["namespace"], m["name"], node)

    def failed_mount(self, pod: dict, admission: VolumeAdmission) -> None:
        if self._current(pod) is not None:
            self._event(pod, "Warning", "FailedMount", failed_mount_message(admission))

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.kubelet",
                                     description="The lab's double of the nodes' kubelets and "
                                                 "containers (pod lifecycle, pod IPs, HTTP answers).")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="fast",
                        help="pod start delay: fast 0.1 s, devstack 90 s (%(default)s)")
    parser.add_argument("--delay-scale", type=float, default=1.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    daemon.setup_logging(args.verbose)
    kubelets = Kubelets(api_client(args.kubeconfig), shape_from_environment().nodes,
                        profiles.delays(args.profile, args.delay_scale).pod_start)
    return daemon.run_until_signalled(kubelets.run, kubelets.stop, "kubelet")

if __name__ == "__main__":
    sys.exit(main())
