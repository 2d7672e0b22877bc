"""Destroy-time wait of every stack: `pulumi destroy` returns only when the claim's PersistentVolume
and its Cinder volume are gone, and fails naming what remains and why.

After the claim is deleted, external-provisioner calls cinder-csi's DeleteVolume for the Released
PV (reclaim policy Delete), which returns once Cinder accepted the DELETE
(pkg/csi/cinder/controllerserver.go DeleteVolume); the provisioner then deletes the PV and Cinder
deletes the volume in the background (`deleting`, or `error_deleting` when the backend fails).
A failed DeleteVolume is a VolumeFailedDelete event on the PV, retried with backoff. A PV keeps
spec.claimRef {namespace, name, uid} after its claim is gone, and cinder-csi tags the volume with
`csi.storage.k8s.io/pvc/name` and `.../pvc/namespace` (external-provisioner
--extra-create-metadata), so both are found by the claim's name even when the PV is already gone.

This resource is created before the claim and the claim depends on it, so its delete runs after
the claim's. A claim replacement (the multiattach flip) does not touch it: it does not wait for
the old volume's delete, which goes on in the background.

Decisions are plain functions (tests/test_claim_release.py); the provider imports its clients
inside its methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components.progress import ProgressLog, to_stderr
from components.ready_waits import kubernetes_access

# A few GETs a second is cheap for Kubernetes and Cinder, and destroy returns within a second of the
# volume's deletion (an exponential back-off to 10 s made it return up to 10 s late).
POLL_SECONDS = 1.0
DONE, WAITING, FAILED = "done", "waiting", "failed"
# openstack_volumes.go DetachVolume: `available` is already detached, `in-use` is detached, anything
# else is refused ("can not detach volume ..., its status is ..."); `detaching` passes by itself.
DETACHABLE_STATUSES = ("in-use", "available", "detaching", None)
CSI_CONTROLLER_PODS = "kubectl -n kube-system get pods -l app=csi-cinder-controllerplugin"


class ClaimReleaseError(RuntimeError):
    """Something of the claim stays; the message says what and why."""


@dataclass(frozen=True)
class Leftover:
    """A PV of the claim (with its events) or a Cinder volume of it."""

    kind: str  # "pv" | "volume" | "attachment"
    name: str
    status: str  # PV phase, Cinder status, or an attachment's node
    volume_id: str | None = None  # the PV's Cinder volume, or the volume's id
    reclaim_policy: str | None = None  # PVs only
    failed_deletes: tuple[str, ...] = ()  # the PV's VolumeFailedDelete messages, newest last
    detach_error: str | None = None  # attachments only: the CSI driver's last refusal to detach

    def describe(self) -> str:
        if self.kind == "attachment":
            return f"VolumeAttachment {self.name} (node {self.status}, Cinder volume {self.volume_id})"
        if self.kind == "pv":
            return f"PersistentVolume {self.name} ({self.status}, Cinder volume {self.volume_id})"
        return f"Cinder volume {self.volume_id} ({self.name}, {self.status})"


def leftovers_of(pvs: list[dict], events: dict[str, list], volumes: list,
                 attachments: list[dict] = ()) -> list[Leftover]:
    """PVs and VolumeAttachments (the Kubernetes client's dicts) and Cinder volumes
    (storage_reads.CinderVolume) as Leftovers."""
    handles = {pv["metadata"]["name"]: ((pv.get("spec") or {}).get("csi") or {}).get("volume_handle") for pv in pvs}
    found = []
    for va in attachments:
        spec, status = va.get("spec") or {}, va.get("status") or {}
        found.append(Leftover("attachment", va["metadata"]["name"], spec.get("node_name") or "?",
                              handles.get((spec.get("source") or {}).get("persistent_volume_name")),
                              detach_error=(status.get("detach_error") or {}).get("message")))
    for pv in pvs:
        spec, name = pv.get("spec") or {}, (pv.get("metadata") or {}).get("name", "")
        found.append(Leftover("pv", name, ((pv.get("status") or {}).get("phase")) or "Pending",
                              ((spec.get("csi") or {}).get("volume_handle")),
                              spec.get("persistent_volume_reclaim_policy") or "Delete",
                              tuple(e.message for e in events.get(name, []) if e.reason == "VolumeFailedDelete")))
    found += [Leftover("volume", v.name or "(no name)", v.status, v.id) for v in volumes]
    return found


def decide_release(left: list[Leftover]) -> tuple[str, str]:
    """(DONE | WAITING | FAILED, text). Fails at once only where no retry can help."""
    if not left:
        return DONE, "no PersistentVolume and no Cinder volume of the claim left"
    statuses = {item.volume_id: item.status for item in left if item.kind == "volume"}
    for item in left:
        stuck_in = statuses.get(item.volume_id)
        if item.kind == "attachment" and item.detach_error and stuck_in not in DETACHABLE_STATUSES:
            return FAILED, (f"{item.describe()} cannot be detached: the CSI driver detaches only a volume "
                            f"in-use or available, and Cinder shows it {stuck_in} ({item.detach_error}). "
                            f"`openstack volume show {item.volume_id}`; an admin can `openstack volume set "
                            f"--state available {item.volume_id}`, then the detach and the delete go on.")
        if item.kind == "volume" and item.status == "error_deleting":
            return FAILED, (f"Cinder failed to delete volume {item.volume_id} ({item.name}): it is "
                            f"error_deleting and stays. `openstack volume show {item.volume_id}`; once the "
                            f"backend is fixed an admin can `openstack volume set --state available "
                            f"{item.volume_id}` and `openstack volume delete {item.volume_id}`.")
        if item.kind == "pv" and item.reclaim_policy != "Delete":
            return FAILED, (f"PersistentVolume {item.name} has reclaimPolicy {item.reclaim_policy}: Kubernetes "
                            f"keeps it and its Cinder volume {item.volume_id} on purpose, nothing will delete "
                            f"them. Delete them by hand (`kubectl delete pv {item.name}`, `openstack volume "
                            f"delete {item.volume_id}`) if the data can go.")
    return WAITING, "waiting for " + "; ".join(describe_wait(item) for item in left)


def describe_wait(item: Leftover) -> str:
    if item.detach_error:
        return f"{item.describe()}: the CSI driver's detach failed: {item.detach_error}"
    if item.failed_deletes:
        return f"{item.describe()}: the CSI driver's delete failed: {item.failed_deletes[-1]}"
    return item.describe()


def why_it_stays(item: Leftover) -> str:
    """The cause to name when the bound runs out."""
    if item.kind == "attachment":
        return f"{item.describe()}: not detached ({item.detach_error or 'no detach error reported yet'})"
    if item.kind == "pv" and item.failed_deletes:
        return f"{item.describe()}: the CSI driver's delete keeps failing: {item.failed_deletes[-1]}"
    if item.kind == "pv" and item.status == "Released":
        return (f"{item.describe()}: nothing tried to delete it (no VolumeFailedDelete event): the Cinder CSI "
                f"controller (its external-provisioner) is not answering; `{CSI_CONTROLLER_PODS}`")
    if item.kind == "pv":
        return f"{item.describe()}: still {item.status}, so not released: `kubectl describe pv {item.name}`"
    if item.status == "deleting":
        return (f"{item.describe()}: Cinder is still deleting it; raise volumeReleaseTimeoutMinutes if "
                f"the backend is just slow")
    return (f"{item.describe()}: its PV is gone but nobody deletes the volume; "
            f"`openstack volume delete {item.volume_id}`")


def wait_for_claim_release(
    observe: Callable[[], list[Leftover]],
    claim: str,
    timeout_seconds: float,
    *,
    log: Callable[[str], None] = to_stderr,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float = POLL_SECONDS,
) -> int:
    """Poll until nothing of `claim` is left; returns the number of polls. ClaimReleaseError on a
    failure no retry helps, or after `timeout_seconds` naming each leftover and its cause.
    `observe` raises TransientError for a read to retry."""
    from components.volume_release import TransientError

    deadline = clock() + timeout_seconds
    polls, left = 0, None
    progress = ProgressLog(log)
    while True:
        polls += 1
        try:
            left = observe()
            verdict, detail = decide_release(left)
        except TransientError as error:
            verdict, detail = WAITING, f"a read failed ({error}); retrying"
        if verdict == DONE:
            log(f"claim {claim}: {detail}")
            return polls
        if verdict == FAILED:
            raise ClaimReleaseError(f"claim {claim}: {detail} Then run `pulumi destroy` again.")
        remaining = deadline - clock()
        if remaining <= 0:
            causes = "; ".join(why_it_stays(item) for item in left) if left else detail
            raise ClaimReleaseError(f"claim {claim}: after {timeout_seconds:.0f}s still left: {causes}. "
                                    f"Then run `pulumi destroy` again.")
        progress.update(detail, clock(), f"claim {claim}: {detail} ({remaining:.0f}s left)")
        sleep(min(poll_seconds, remaining))


def observe_release(kube, cinder, namespace: str, name: str) -> list[Leftover]:
    """The claim's PVs (by claimRef) and Cinder volumes (by cinder-csi's metadata, or a PV's handle)."""
    pvs = kube.volumes_of_claim(namespace, name)
    attachments = kube.attachments_of({pv["metadata"]["name"] for pv in pvs}) if pvs else []
    events = {pv["metadata"]["name"]: kube.events("PersistentVolume", pv["metadata"]["name"], None) for pv in pvs}
    volumes = cinder.volumes_of_claim(namespace, name)
    known = {v.id for v in volumes}
    for pv in pvs:
        handle = ((pv.get("spec") or {}).get("csi") or {}).get("volume_handle")
        if handle and handle not in known and (volume := cinder.volume(handle)) is not None:
            volumes.append(volume)
            known.add(handle)
    return leftovers_of(pvs, events, volumes, attachments)


RELEASE_INPUTS = ("namespace", "claim_name", "admin_cloud", "kubeconfig", "context", "timeout_seconds")


class ClaimReleaseProvider(pulumi.dynamic.ResourceProvider):
    """Create records the claim's name; delete waits until nothing of it is left."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"release-{props['namespace']}/{props['claim_name']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in RELEASE_INPUTS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from components.storage_reads import CinderReader, KubeReader

        kube = KubeReader(props.get("kubeconfig"), props.get("context"))
        cinder = CinderReader(props["admin_cloud"])
        namespace, name = props["namespace"], props["claim_name"]
        wait_for_claim_release(lambda: observe_release(kube, cinder, namespace, name), f"{namespace}/{name}",
                               float(props["timeout_seconds"]))


@dataclass
class ClaimReleaseArgs:
    namespace: pulumi.Input[str]  # the claim's namespace (the namespace's output: deleted after this)
    claim_name: str  # the claim's name (plain: known before the claim exists)
    admin_cloud: str  # clouds.yaml entry that lists every project's volumes
    timeout_minutes: int  # volumeReleaseTimeoutMinutes


class ClaimRelease(pulumi.dynamic.Resource, module="storage", name="ClaimRelease"):
    """The claim depends on it: deleted after the claim, it waits for the PV and the volume."""

    def __init__(self, resource_name: str, args: ClaimReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            ClaimReleaseProvider(),
            resource_name,
            {
                "namespace": args.namespace,
                "claim_name": args.claim_name,
                "admin_cloud": args.admin_cloud,
                **kubernetes_access(),
                "timeout_seconds": args.timeout_minutes * 60,
            },
            opts,
        )
