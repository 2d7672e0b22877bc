"""The claim's one domain-aware wait: Bound, with the capacity it asks for, on a Cinder volume that
is not in error; and a clear failure within seconds when Cinder puts the volume in error.

Why not the claim's own await: pulumi-kubernetes' check of the claim (or its `pulumi.com/waitFor`)
knows nothing of Cinder, and a failing step does not end `pulumi up` while a sibling is still in
its await (the engine waits for running steps). So the claim waits only to exist (`pulumi.com/waitFor`
on its uid: components/await_annotations.py) and this resource, created after it, waits instead;
what mounts the claim is created after this resource.

What the real services do, which this wait follows:
- cinder-csi's CreateVolume returns right after Cinder's POST, without waiting for `available`,
  and returns a same-name volume as it is, even in `error`
  (kubernetes/cloud-provider-openstack pkg/csi/cinder/controllerserver.go CreateVolume). So a
  volume the scheduler cannot place ("No valid backend") still gets a PV and the claim binds:
  the failure shows only in Cinder (status `error` and a user message,
  cinder/message/message_field.py), and later as attach errors on the pods.
- A POST Cinder refuses (5xx, quota) is a ProvisioningFailed event; external-provisioner retries
  it with backoff (--retry-interval-start 1 s up to 5 min), so such events are reported as
  progress, never a failure: the retry may succeed.
- `error_extending` is left only by an admin's reset; the resizer's retries cannot get past it.

The decisions are plain functions (tests/test_claim_wait.py); the provider is a thin shell that
imports its clients inside its methods (dynamic providers run in another process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.dynamic

from components import wait_for_clients
from components.progress import ProgressLog, to_stderr
from components.ready_waits import kubernetes_access

POLL_SECONDS = 0.5  # cheap GETs twice a second: a volume in error fails `up` within seconds, a bound claim adds no wait
CINDER_FAILED_STATUSES = ("error", "error_extending")  # no retry leaves them
CINDER_PENDING_STATUSES = ("creating", "extending", "downloading")
READY, WAITING, FAILED = "ready", "waiting", "failed"


class ClaimFailed(RuntimeError):
    """The claim cannot become usable without someone fixing the cause."""


class ClaimWaitTimeout(ClaimFailed):
    """The bound ran out; the message says what the claim was still waiting for."""


@dataclass(frozen=True)
class ClaimState:
    """One look at the claim (the Kubernetes client's dict, snake_case) and what it stands on."""

    claim: dict | None
    volume_id: str | None = None  # the Cinder volume of its PV (spec.csi.volumeHandle)
    volume_status: str | None = None  # Cinder's status of that volume; None when not read
    cinder_messages: tuple[str, ...] = ()  # Cinder's user messages about the volume, newest first
    warnings: tuple[str, ...] = field(default=())  # the claim's Warning events "Reason: message", newest last


def gib_of(quantity: str | None) -> float | None:
    wait_for_clients()
    from kubernetes.utils.quantity import parse_quantity

    try:
        return float(parse_quantity(quantity)) / 2**30 if quantity else None
    except ValueError:
        return None


def look_further(namespace: str, name: str, volume_id: str | None) -> str:
    commands = [f"kubectl describe pvc {name} -n {namespace}"]
    if volume_id:
        commands = [f"openstack volume show {volume_id}",
                    "openstack --os-volume-api-version 3.3 volume message list",
                    *commands]
    return "Look further: " + "; ".join(f"`{c}`" for c in commands) + "."


def decide(state: ClaimState, namespace: str, name: str, size_gi: int) -> tuple[str, str]:
    """(READY | WAITING | FAILED, what it is waiting for or why it failed)."""
    claim = state.claim
    where = f"claim {namespace}/{name}"
    if state.volume_status in CINDER_FAILED_STATUSES:
        said = (f' Cinder says: "{state.cinder_messages[0]}".' if state.cinder_messages
                else " Cinder gave no user message.")
        events = f" Last events: {' | '.join(state.warnings[-2:])}." if state.warnings else ""
        return FAILED, (f"{where}: its Cinder volume {state.volume_id} is in status {state.volume_status!r}, "
                        f"which no retry leaves.{said}{events} {look_further(namespace, name, state.volume_id)} "
                        f"Fix the cause (volume type, backend, quota), delete the claim "
                        f"(`kubectl delete pvc {name} -n {namespace}`), then run `pulumi up` again.")
    if claim is None:
        return WAITING, f"{where} not found yet"
    status = claim.get("status") or {}
    phase = status.get("phase") or "Pending"
    last_warning = f" (last: {state.warnings[-1]})" if state.warnings else ""
    if phase != "Bound":
        return WAITING, f"{where} is {phase}{last_warning}"
    capacity = (status.get("capacity") or {}).get("storage")
    if gib_of(capacity) != float(size_gi):
        return WAITING, f"{where} is Bound with {capacity}, waiting for {size_gi}Gi (resize){last_warning}"
    if state.volume_status is None or state.volume_status in CINDER_PENDING_STATUSES:
        return WAITING, (f"{where} is Bound; its Cinder volume {state.volume_id} is "
                         f"{state.volume_status or 'not read yet'}")
    return READY, f"{where} is Bound with {capacity} on Cinder volume {state.volume_id} ({state.volume_status})"


def wait_for_claim(
    observe: Callable[[], ClaimState],
    namespace: str,
    name: str,
    size_gi: int,
    timeout_seconds: float,
    *,
    log: Callable[[str], None] = to_stderr,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float = POLL_SECONDS,
    others_failed: Callable[[], bool] | None = None,
    on_failure: Callable[[], None] | None = None,
) -> str:
    """Poll until decide() says READY (returns its text); ClaimFailed when it says FAILED or
    another wait of the update failed (`others_failed`), ClaimWaitTimeout after
    `timeout_seconds`; `on_failure` tells the other waits. `observe` raises TransientError for a
    read to retry; anything else ends the wait."""
    from components.volume_release import TransientError

    shared_is_set, shared_set = shared_failure()
    others_failed, on_failure = others_failed or shared_is_set, on_failure or shared_set
    start = clock()
    deadline = start + timeout_seconds
    progress = ProgressLog(log)
    while True:
        if others_failed():
            raise ClaimFailed(f"claim {namespace}/{name}: not waited for further, another wait of this update "
                              f"failed (last seen: {progress.last or 'nothing yet'}); the next `pulumi up` waits again")
        try:
            verdict, detail = decide(observe(), namespace, name, size_gi)
        except TransientError as error:
            verdict, detail = WAITING, f"claim {namespace}/{name}: a read failed ({error}); retrying"
        if verdict == READY:
            log(detail)
            return detail
        if verdict == FAILED:
            on_failure()
            raise ClaimFailed(detail)
        now = clock()
        if now >= deadline:
            on_failure()
            raise ClaimWaitTimeout(f"{detail}, after {timeout_seconds:.0f}s. "
                                   f"{look_further(namespace, name, None)}")
        progress.update(detail, now, f"{detail} ({now - start:.0f}s, {deadline - now:.0f}s left)")
        sleep(min(poll_seconds, deadline - now))


def shared_failure() -> tuple[Callable[[], bool], Callable[[], None]]:
    """The update's "a wait failed for good" flag, shared with components/ready_waits.py's waits:
    every dynamic resource of one update runs in one provider process, so when the claim fails
    the Service's and the controllers' waits stop too and `up` ends (and the other way round)."""
    from components.ready_waits import UPDATE_FAILED

    return UPDATE_FAILED.is_set, UPDATE_FAILED.set


def observe_claim(kube, cinder, namespace: str, name: str) -> ClaimState:
    """One ClaimState from the cluster and Cinder (components/storage_reads.py readers)."""
    claim = kube.claim(namespace, name)
    if claim is None:
        return ClaimState(None)
    metadata, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    warnings = tuple(f"{e.reason}: {e.message}" for e in kube.events(
        "PersistentVolumeClaim", name, namespace, metadata.get("uid")) if e.type == "Warning")
    volume_id = status = None
    messages: tuple[str, ...] = ()
    if spec.get("volume_name"):
        pv = kube.volume(spec["volume_name"]) or {}
        volume_id = (((pv.get("spec") or {}).get("csi")) or {}).get("volume_handle")
    if volume_id:
        volume = cinder.volume(volume_id)
        status = volume.status if volume else "gone"
        if status in CINDER_FAILED_STATUSES:
            messages = tuple(cinder.messages(volume_id))
    return ClaimState(claim, volume_id, status, messages, warnings)


WATCHED_INPUTS = ("namespace", "claim_name", "claim_uid", "size_gi", "admin_cloud", "kubeconfig", "context",
                  "timeout_seconds")


def changed_inputs(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    return [key for key in WATCHED_INPUTS if olds.get(key) != news.get(key)]


class ClaimReadyProvider(pulumi.dynamic.ResourceProvider):
    """Create and update wait (a new claim, a new size); delete does nothing."""

    @staticmethod
    def _wait(props: dict[str, Any]) -> None:
        from components.storage_reads import CinderReader, KubeReader

        kube = KubeReader(props.get("kubeconfig"), props.get("context"))
        cinder = CinderReader(props["admin_cloud"])
        namespace, name = props["namespace"], props["claim_name"]
        wait_for_claim(lambda: observe_claim(kube, cinder, namespace, name), namespace, name,
                       int(props["size_gi"]), float(props["timeout_seconds"]))

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        self._wait(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['namespace']}/{props['claim_name']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        return pulumi.dynamic.DiffResult(changes=bool(changed_inputs(olds, news)), replaces=[],
                                         delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        self._wait(news)
        return pulumi.dynamic.UpdateResult(outs=news)


@dataclass
class ClaimReadyArgs:
    namespace: pulumi.Input[str]
    claim_name: pulumi.Input[str]  # the claim's output name: created after the claim
    claim_uid: pulumi.Input[str]  # a replaced claim has a new uid: the wait runs again
    size_gi: int  # the capacity to wait for (a bigger one: the wait runs again)
    admin_cloud: str  # clouds.yaml entry that reads the claim's Cinder volume (any project)
    timeout_minutes: int  # the bound of the wait


class ClaimReady(pulumi.dynamic.Resource, module="storage", name="ClaimReady"):
    """Exists with the claim; whatever mounts the claim depends on it."""

    def __init__(self, resource_name: str, args: ClaimReadyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            ClaimReadyProvider(),
            resource_name,
            {
                "namespace": args.namespace,
                "claim_name": args.claim_name,
                "claim_uid": args.claim_uid,
                "size_gi": args.size_gi,
                "admin_cloud": args.admin_cloud,
                **kubernetes_access(),
                "timeout_seconds": args.timeout_minutes * 60,
            },
            opts,
        )
