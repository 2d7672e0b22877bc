"""The CSI external-resizer sidecar of the Cinder CSI double, and the claim resize status it and
the kubelet double write.

Read in kubernetes-csi/external-resizer (pkg/controller/controller.go, expand_and_recover.go,
resize_status.go, pkg/resizer/csi_resizer.go) and kubernetes/kubernetes
(pkg/volume/util/resize_util.go, pkg/volume/util/operationexecutor/node_expander.go,
pkg/volume/csi/expander.go), with RecoverVolumeExpansionFailure (GA in Kubernetes 1.34, so on in
the lab's control plane):

- a claim needs a resize when it is Bound and ``spec.resources.requests.storage`` is above
  ``status.capacity.storage`` (pvcNeedResize), and its PV is a CSI volume of this driver bound to
  it (CanSupport, pvCanBeExpanded). The resizer does not look at the StorageClass: the API
  server's PersistentVolumeClaimResize admission refuses a bigger request unless the class has
  ``allowVolumeExpansion``.
- expandAndRecover picks the size: nothing while a node expansion is pending or running and the
  PV already has the size; otherwise the request (or the size already allocated, resuming).
- markControllerResizeInProgress: condition ``Resizing``, ``allocatedResourceStatuses.storage =
  ControllerResizeInProgress``, ``allocatedResources.storage`` = the size; event ``Resizing``
  "External resizer is resizing volume <pv>". Then ControllerExpandVolume.
- a failure: event ``VolumeResizeFailed`` and the condition ``ControllerResizeError``; retried
  with the sidecar's backoff.
- success: the PV's ``spec.capacity.storage`` = the driver's capacity; the Cinder driver always
  answers NodeExpansionRequired, so the claim gets ``FileSystemResizePending`` and
  ``NodeResizePending`` (event ``FileSystemResizeRequired``) and its capacity is left to the
  kubelet, for a Filesystem and a Block volume alike (the kubelet's CSI expander calls
  NodeExpandVolume with the device path for a raw block volume). With no node expansion
  (markOverallExpansionAsFinished) the capacity would be set here, event ``VolumeResizeSuccessful``.
- the kubelet, for a volume mounted in a running pod whose claim is ``NodeResizePending`` (or
  ``NodeResizeInProgress``) and smaller than its PV: NodeResizeInProgress, NodeExpandVolume, then
  MarkNodeExpansionFinishedWithRecovery: capacity = the PV's, the storage status removed, every
  resize condition dropped; event ``FileSystemResizeSuccessful`` on the pod.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from kubernetes.client.rest import ApiException
from kubernetes.utils.quantity import parse_quantity

from lab.kube.client import meta, raw, rfc3339
from lab.kube.workqueue import Retry

RESIZING = "Resizing"
FILE_SYSTEM_RESIZE_PENDING = "FileSystemResizePending"
CONTROLLER_RESIZE_ERROR = "ControllerResizeError"
NODE_RESIZE_ERROR = "NodeResizeError"
# util.MergeResizeConditionsOfPVC replaces these and keeps every other condition.
RESIZE_CONDITIONS = (RESIZING, FILE_SYSTEM_RESIZE_PENDING, CONTROLLER_RESIZE_ERROR, NODE_RESIZE_ERROR)
CONTROLLER_RESIZE_IN_PROGRESS = "ControllerResizeInProgress"
CONTROLLER_RESIZE_INFEASIBLE = "ControllerResizeInfeasible"
NODE_RESIZE_PENDING = "NodeResizePending"
NODE_RESIZE_IN_PROGRESS = "NodeResizeInProgress"
NODE_RESIZE_INFEASIBLE = "NodeResizeInfeasible"
FS_RESIZE_PENDING_MESSAGE = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
_BINARY_SUFFIXES = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")

log = logging.getLogger("csi-resizer")


# --------------------------------------------------------------------------- sizes (pure)

def quantity_bytes(quantity: str | None) -> int | None:
    return None if quantity in (None, "") else int(parse_quantity(quantity))


def binary_quantity(size: int) -> str:
    """resource.NewQuantity(bytes, BinarySI) as the API server prints it: the largest binary
    suffix that divides the number ("2Gi"), else the plain number."""
    for power, suffix in zip(range(6, 0, -1), _BINARY_SUFFIXES, strict=True):
        if size and size % (1024 ** power) == 0:
            return f"{size // 1024 ** power}{suffix}"
    return str(size)


def _storage(mapping: dict | None) -> str | None:
    return (mapping or {}).get("storage")


def requested(claim: dict) -> int | None:
    return quantity_bytes(_storage(((claim.get("spec") or {}).get("resources") or {}).get("requests")))


def capacity(claim: dict) -> int | None:
    return quantity_bytes(_storage((claim.get("status") or {}).get("capacity")))


def allocated(claim: dict) -> int | None:
    return quantity_bytes(_storage((claim.get("status") or {}).get("allocatedResources")))


def resize_status(claim: dict) -> str:
    return _storage((claim.get("status") or {}).get("allocatedResourceStatuses")) or ""


def pv_capacity(pv: dict) -> int | None:
    return quantity_bytes(_storage((pv.get("spec") or {}).get("capacity")))


def has_condition(claim: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (claim.get("status") or {}).get("conditions") or [])


# --------------------------------------------------------------------------- resizer decisions (pure)

def claim_needs_resize(claim: dict) -> bool:
    """pvcNeedResize: Bound, with a volume, asking for more than it has."""
    status = claim.get("status") or {}
    if status.get("phase") != "Bound" or not (claim.get("spec") or {}).get("volumeName"):
        return False
    wanted, has = requested(claim), capacity(claim)
    return wanted is not None and wanted > (has or 0)


def pv_can_be_expanded(claim: dict, pv: dict | None, driver: str) -> bool:
    """CanSupport (a CSI PV of this driver) and pvCanBeExpanded (bound to this claim)."""
    spec = (pv or {}).get("spec") or {}
    if (spec.get("csi") or {}).get("driver") != driver:
        return False
    ref = spec.get("claimRef") or {}
    return ref.get("namespace") == meta(claim).get("namespace") and ref.get("uid") == meta(claim).get("uid")


def target_size(claim: dict, pv: dict) -> int | None:
    """expandAndRecover's size to expand to, or None when there is nothing to do now."""
    spec_size, pv_size = requested(claim) or 0, pv_capacity(pv) or 0
    status, allocated_size = resize_status(claim), allocated(claim)
    if pv_size < spec_size:
        if status in (NODE_RESIZE_PENDING, NODE_RESIZE_IN_PROGRESS, NODE_RESIZE_INFEASIBLE) and allocated_size:
            if status != NODE_RESIZE_INFEASIBLE and pv_size >= allocated_size:
                return None  # let the node finish the previous expansion first
            return allocated_size
        if status == CONTROLLER_RESIZE_IN_PROGRESS and allocated_size:
            return allocated_size
        return spec_size
    if status in (NODE_RESIZE_PENDING, NODE_RESIZE_IN_PROGRESS):
        return None  # the kubelet's turn
    if status in (CONTROLLER_RESIZE_IN_PROGRESS, CONTROLLER_RESIZE_INFEASIBLE, NODE_RESIZE_INFEASIBLE) \
            and allocated_size:
        return allocated_size
    if not status and allocated_size:
        return allocated_size
    return None if has_condition(claim, FILE_SYSTEM_RESIZE_PENDING) else spec_size


def merge_resize_conditions(conditions: list[dict], new: list[dict]) -> list[dict]:
    """util.MergeResizeConditionsOfPVC: other conditions stay; the resize ones become ``new``,
    keeping the transition time of one that was already there."""
    old = {c.get("type"): c for c in conditions or []}
    kept = [c for c in conditions or [] if c.get("type") not in RESIZE_CONDITIONS]
    merged = []
    for condition in new:
        previous = old.get(condition["type"])
        if previous is not None and previous.get("status") == condition.get("status"):
            condition = {**condition, "lastTransitionTime": previous.get("lastTransitionTime")}
        merged.append(condition)
    return kept + merged


def _with_status(claim: dict, conditions: list[dict], storage_status: str | None,
                 allocated_size: int | None = None, capacity_size: int | None = None) -> dict:
    status = dict(claim.get("status") or {})
    status["conditions"] = merge_resize_conditions(status.get("conditions") or [], conditions) or None
    statuses = {k: v for k, v in (status.get("allocatedResourceStatuses") or {}).items() if k != "storage"}
    if storage_status:
        statuses["storage"] = storage_status
    status["allocatedResourceStatuses"] = statuses or None
    if allocated_size is not None:
        status["allocatedResources"] = {**(status.get("allocatedResources") or {}),
                                        "storage": binary_quantity(allocated_size)}
    if capacity_size is not None:
        status["capacity"] = {**(status.get("capacity") or {}), "storage": binary_quantity(capacity_size)}
    return {**claim, "status": status}


def condition(kind: str, message: str | None = None, now: str | None = None) -> dict:
    found = {"type": kind, "status": "True", "lastTransitionTime": now or rfc3339()}
    if message:
        found["message"] = message
    return found


def controller_resize_in_progress(claim: dict, size: int, now: str | None = None) -> dict:
    return _with_status(claim, [condition(RESIZING, now=now)], CONTROLLER_RESIZE_IN_PROGRESS, allocated_size=size)


def controller_resize_failed(claim: dict, message: str, now: str | None = None) -> dict:
    """markControllerExpansionFailedCondition: the error as a condition, still in progress."""
    return _with_status(claim, [condition(CONTROLLER_RESIZE_ERROR, message, now)], CONTROLLER_RESIZE_IN_PROGRESS)


def node_resize_pending(claim: dict, now: str | None = None) -> dict:
    return _with_status(claim, [condition(FILE_SYSTEM_RESIZE_PENDING, FS_RESIZE_PENDING_MESSAGE, now)],
                        NODE_RESIZE_PENDING)


def node_resize_in_progress(claim: dict) -> dict:
    """MarkNodeExpansionInProgress: only the storage status changes."""
    return _with_status(claim, [c for c in (claim.get("status") or {}).get("conditions") or []
                                if c.get("type") in RESIZE_CONDITIONS], NODE_RESIZE_IN_PROGRESS)


def expansion_finished(claim: dict, size: int) -> dict:
    """markOverallExpansionAsFinished / MarkNodeExpansionFinishedWithRecovery: the capacity, no
    storage status, no resize condition."""
    return _with_status(claim, [], None, capacity_size=size)


def node_expansion_due(claim: dict | None, pv: dict | None) -> bool:
    """The kubelet's check for a mounted volume (node_expander.go runPreCheck and the
    pvc-status-below-PV test of nodeExpandVolume)."""
    if claim is None or pv is None or resize_status(claim) not in (NODE_RESIZE_PENDING, NODE_RESIZE_IN_PROGRESS):
        return False
    return (pv_capacity(pv) or 0) > (capacity(claim) or 0)


# --------------------------------------------------------------------------- the sidecar

class Resizer:
    """external-resizer for one driver, on the caches and the expander of its controller.

    ``expand(volume_handle, required_bytes) -> (capacity_bytes, node_expansion_required)`` is
    the driver's ControllerExpandVolume; a failure raises."""

    def __init__(self, core, claims, volumes, recorder, expand: Callable[[str, int], tuple[int, bool]],
                 driver: str):
        self.core, self.claims, self.volumes, self.recorder = core, claims, volumes, recorder
        self.expand, self.driver = expand, driver

    def due(self) -> list[tuple[dict, dict]]:
        """The (claim, PV) pairs to work on now."""
        found = []
        for claim in self.claims.snapshot():
            if not claim_needs_resize(claim):
                continue
            pv = self.volumes.get(claim["spec"]["volumeName"])
            if pv_can_be_expanded(claim, pv, self.driver) and target_size(claim, pv) is not None:
                found.append((claim, pv))
        return found

    def resize(self, key: str) -> None:
        claim = self.claims.get(key)
        if claim is None or not claim_needs_resize(claim):
            return
        pv = self.volumes.get(claim["spec"]["volumeName"])
        if not pv_can_be_expanded(claim, pv, self.driver):
            return
        size = target_size(claim, pv)
        if size is None:
            return
        if allocated(claim) != size or resize_status(claim) != CONTROLLER_RESIZE_IN_PROGRESS:
            claim = self._write(controller_resize_in_progress(claim, size))
        pv_name = meta(pv)["name"]
        self._event(claim, "Normal", "Resizing", f"External resizer is resizing volume {pv_name}")
        try:
            new_size, node_expansion = self.expand(pv["spec"]["csi"]["volumeHandle"], size)
        except Exception as error:
            message = (f'resize volume "{pv_name}" by resizer "{self.driver}" failed: '
                       f"rpc error: code = Internal desc = {error}")
            self._event(claim, "Warning", "VolumeResizeFailed", message)
            self._write(controller_resize_failed(claim, message))
            raise
        if (pv_capacity(pv) or 0) < new_size:  # util.UpdatePVCapacity
            self.volumes.put(raw(self.core.patch_persistent_volume, pv_name,
                                 {"spec": {"capacity": {"storage": binary_quantity(new_size)}}}))
        if node_expansion:
            self._write(node_resize_pending(claim))
            self._event(claim, "Normal", "FileSystemResizeRequired", "Require file system resize of volume on node")
        else:
            self._write(expansion_finished(claim, new_size))
            self._event(claim, "Normal", "VolumeResizeSuccessful", "Resize volume succeeded")
        log.info("claim %s: volume %s expanded to %s (node expansion %s)", key, pv_name,
                 binary_quantity(new_size), "required" if node_expansion else "not required")

    def _write(self, claim: dict) -> dict:
        written = write_claim_status(self.core, claim)
        self.claims.put(written)
        return written

    def _event(self, claim: dict, event_type: str, reason: str, message: str) -> None:
        self.recorder.event(claim, "PersistentVolumeClaim", event_type, reason, message)


def write_claim_status(core, claim: dict) -> dict:
    """PUT the claim's status at the resourceVersion it was read at (a conflict raises 409, like
    the patches with a resourceVersion check of the resizer and the kubelet)."""
    m = meta(claim)
    try:
        return raw(core.replace_namespaced_persistent_volume_claim_status, m["name"], m["namespace"], claim)
    except ApiException as error:
        if error.status == 409:  # read again from the cache, soon
            raise Retry(f"claim {m['namespace']}/{m['name']} changed meanwhile", 0.2) from error
        raise
