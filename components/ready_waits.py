"""The one wait of each waited object: a dynamic resource created after it that waits until it is
ready, prints progress, and fails early when the cause is definitive (components/ready_checks.py).

Why not the provider's own await: the engine waits for every step already running before it ends
a failed `pulumi up` (pulumi/pulumi pkg resource/deploy step_executor.go), so a fast failure
elsewhere does not help while the Service or a ReplicationController is still inside
pulumi-kubernetes' await (20 and 10 minutes). Those objects wait only until they exist
(components/await_annotations.py) and this resource does the waiting:
- LoadBalancerReady: the Service has an ingress address and its Octavia load balancer is ACTIVE;
  fails when Octavia shows it in ERROR; bound: loadBalancerTimeoutMinutes. Its outputs are the
  Service's address and load balancer id. Checked every 0.5 s and at once when a watch on the
  Service sees a change (components/change_signal.py).
- ControllerAvailable: availableReplicas == replicas; fails when a pod is held by a Multi-Attach
  error that will not clear; bound: CONTROLLER_TIMEOUT_SECONDS (pulumi-kubernetes' RC await's).
The waits of one update share one provider process: when one fails for good, the others stop
too (their objects are created; the next `pulumi up` waits for them again), so `up` ends then.

Each is keyed by its object's identity (kind, namespace, name) and replaced with it
(`replace_with`), so a new controller name or `pulumi up --replace <Service>` waits again; a
preview after `up` plans nothing (inputs are plain configuration); refresh keeps the state (no
read); delete does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components import wait_for_clients
from components.change_signal import ChangeSignal
from components.live_state import kube_api
from components.progress import ProgressLog, to_stderr
from components.ready_checks import (
    AttachEvent,
    AttachmentView,
    ControllerView,
    LoadBalancerView,
    PodView,
    ServiceView,
    Verdict,
    controller_verdict,
    service_verdict,
)
from policy.devstack_domain import load_balancer_name

POLL_SECONDS = 0.5
CONTROLLER_TIMEOUT_SECONDS = 600  # pulumi-kubernetes' fixed ReplicationController await
REQUEST_TIMEOUT_SECONDS = 10

# One per provider process (one `pulumi up`): set by the first wait that fails for good.
UPDATE_FAILED = threading.Event()


class ReadyWaitError(RuntimeError):
    """The object will not become ready (the message says why and where to look), or the bound ran out."""


class StillUnknown(Exception):
    """A read that failed in a way the real system retries (API 5xx/409, unreachable): wait on."""


def wait_until_ready(what: str, check: Callable[[], Verdict], timeout_seconds: float, *,
                     log: Callable[[str], None] = to_stderr,
                     sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                     others_failed: Callable[[], bool] = UPDATE_FAILED.is_set,
                     on_failure: Callable[[], None] = UPDATE_FAILED.set) -> Verdict:
    """Poll `check` until ready; raise ReadyWaitError at a definitive failure, when another wait of
    the update failed, or at the bound (naming the last progress)."""
    start = clock()
    progress = ProgressLog(log)
    while True:
        if others_failed():
            raise ReadyWaitError(f"{what}: not waited for further, another wait of this update failed "
                                 f"(last seen: {progress.last or 'nothing yet'})")
        try:
            verdict = check()
        except StillUnknown as error:
            verdict = Verdict(progress=f"cannot tell yet ({error})")
        if verdict.failure:
            on_failure()
            raise ReadyWaitError(verdict.failure)
        if verdict.ready:
            log(f"{what}: ready ({verdict.progress}) after {clock() - start:.0f}s")
            return verdict
        elapsed = clock() - start
        if elapsed >= timeout_seconds:
            on_failure()
            raise ReadyWaitError(f"{what}: not ready after {timeout_seconds:.0f}s: {verdict.progress}")
        progress.update(verdict.progress, elapsed, f"{what}: waiting: {verdict.progress} ({elapsed:.0f}s)")
        sleep(min(POLL_SECONDS, max(0.1, timeout_seconds - elapsed)))


# --------------------------------------------------------------------------- readers (I/O)

def _kube_read(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    wait_for_clients()
    from kubernetes.client.exceptions import ApiException

    try:
        return call(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
    except ApiException as error:
        if error.status in (409, 429) or (error.status or 0) >= 500:
            raise StillUnknown(f"Kubernetes answered {error.status}") from error
        raise
    except OSError as error:  # urllib3's connection errors are OSErrors
        raise StillUnknown(f"Kubernetes unreachable: {error}") from error


# The cloud controller's service controller records its events under this component
# (k8s.io/cloud-provider controllers/service); other controllers' warnings (the EndpointSlice
# controller's, for one) say nothing of Octavia.
CLOUD_CONTROLLER_COMPONENT = "service-controller"


def last_warning(core, namespace: str, uid: str) -> str | None:
    """The cloud controller's last warning on the Service, in its own words."""
    events = [event for event in _kube_read(core.list_namespaced_event, namespace,
                                            field_selector=f"involvedObject.uid={uid},type=Warning").items
              if (event.source and event.source.component) == CLOUD_CONTROLLER_COMPONENT
              or event.reporting_component == CLOUD_CONTROLLER_COMPONENT]
    latest = max(events, key=lambda e: (e.last_timestamp or e.event_time or e.metadata.creation_timestamp),
                 default=None)
    return latest.message if latest is not None else None


def load_balancer_checker(props: dict[str, Any]) -> Callable[[], Verdict]:
    wait_for_clients()
    import openstack
    import openstack.exceptions as sdk_exceptions
    from kubernetes import client

    from components.ready_checks import external_address, load_balancer_id

    core = client.CoreV1Api(kube_api(props.get("kubeconfig"), props.get("context")))
    connection = openstack.connect(cloud=props["admin_cloud"])
    namespace, name = props["namespace"], props["name"]
    lb_name = load_balancer_name(namespace, name, props["cluster_name"])

    def find_lb(annotated: str | None) -> LoadBalancerView | None:
        try:
            if annotated:
                found = [connection.load_balancer.get_load_balancer(annotated)]
            else:  # before ACTIVE the cloud controller has not annotated the Service yet
                found = [lb for lb in connection.load_balancer.load_balancers(name=lb_name) if lb.name == lb_name]
        except sdk_exceptions.NotFoundException:
            return None
        except sdk_exceptions.HttpException as error:
            if (error.status_code or 0) >= 500 or error.status_code == 409:
                raise StillUnknown(f"Octavia answered {error.status_code}") from error
            raise
        except OSError as error:
            raise StillUnknown(f"Octavia unreachable: {error}") from error
        live = [lb for lb in found if lb.provisioning_status != "DELETED"]
        return (LoadBalancerView(live[0].id, live[0].provisioning_status, live[0].operating_status)
                if live else None)

    def check() -> Verdict:
        svc = _kube_read(core.read_namespaced_service, name, namespace)
        annotated = load_balancer_id(svc.metadata)
        view = ServiceView(namespace, name, external_address(svc.status), annotated)
        return service_verdict(view, find_lb(annotated), last_warning(core, namespace, svc.metadata.uid))

    return check


def _pod_view(pod) -> PodView:
    claims = tuple(v.persistent_volume_claim.claim_name for v in (pod.spec.volumes or [])
                   if v.persistent_volume_claim)
    finished = (pod.status.phase if pod.status else None) in ("Succeeded", "Failed")
    return PodView(pod.metadata.name, pod.metadata.uid, pod.spec.node_name, claims,
                   bool(pod.metadata.deletion_timestamp) or finished)


def controller_checker(props: dict[str, Any]) -> Callable[[], Verdict]:
    wait_for_clients()
    from kubernetes import client

    api = kube_api(props.get("kubeconfig"), props.get("context"))
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    namespace, name = props["namespace"], props["name"]

    def check() -> Verdict:
        rc = _kube_read(core.read_namespaced_replication_controller, name, namespace)
        status = rc.status
        view = ControllerView(namespace, name, int(rc.spec.replicas or 0), int(status.available_replicas or 0),
                              int(rc.metadata.generation or 0), int(status.observed_generation or 0))
        namespace_pods = [_pod_view(p) for p in _kube_read(core.list_namespaced_pod, namespace).items]
        selector = ",".join(f"{k}={v}" for k, v in sorted((rc.spec.selector or {}).items()))
        own = [_pod_view(p) for p in _kube_read(core.list_namespaced_pod, namespace, label_selector=selector).items
               if any(ref.uid == rc.metadata.uid for ref in p.metadata.owner_references or [])]
        if view.available == view.replicas or not any(pod.claims for pod in own):
            return controller_verdict(view, own, [], {}, [], [])
        own_uids = {pod.uid for pod in own}
        events = [AttachEvent(e.involved_object.uid, e.message or "")
                  for e in _kube_read(core.list_namespaced_event, namespace,
                                      field_selector="reason=FailedAttachVolume").items
                  if e.involved_object.uid in own_uids]
        volume_of_claim = {}
        for claim in {c for pod in own for c in pod.claims}:
            pvc = _kube_read(core.read_namespaced_persistent_volume_claim, claim, namespace)
            if pvc.spec.volume_name:
                volume_of_claim[claim] = pvc.spec.volume_name
        attachments = [AttachmentView(a.spec.source.persistent_volume_name or "", a.spec.node_name,
                                      bool(a.status and a.status.attached))
                       for a in _kube_read(storage.list_volume_attachment).items]
        return controller_verdict(view, own, events, volume_of_claim, attachments, namespace_pods)

    return check


# --------------------------------------------------------------------------- the dynamic resource

IDENTITY_KEYS = ("kind", "namespace", "name")
SERVICE, CONTROLLER = "Service", "ReplicationController"


def wait_for(props: dict[str, Any]) -> dict[str, Any]:
    """Wait for the object `props` name; returns the outputs (the Service's address and LB id)."""
    what = f"{props['kind']} {props['namespace']}/{props['name']}"
    if props["kind"] == SERVICE:
        check = load_balancer_checker(props)
        # Checked again as soon as the Service changes (the cloud controller writes its ingress).
        with service_changes(props) as changes:
            wait_until_ready(what, check, float(props["timeout_seconds"]), sleep=changes.wait)
        return service_outputs(props)
    wait_until_ready(what, controller_checker(props), float(props["timeout_seconds"]))
    return {}


WATCH_SECONDS = 30  # each watch's server-side bound; it is reopened until the wait ends


def service_changes(props: dict[str, Any]) -> ChangeSignal:
    """A signal set by every event of a watch on the Service."""
    wait_for_clients()
    from kubernetes import client, watch

    core = client.CoreV1Api(kube_api(props.get("kubeconfig"), props.get("context")))
    selector = f"metadata.name={props['name']}"

    def open_watch():
        return watch.Watch().stream(core.list_namespaced_service, props["namespace"], field_selector=selector,
                                    timeout_seconds=WATCH_SECONDS,
                                    _request_timeout=WATCH_SECONDS + REQUEST_TIMEOUT_SECONDS)

    return ChangeSignal(open_watch, name=f"watch-service-{props['name']}")


def service_outputs(props: dict[str, Any]) -> dict[str, Any]:
    """The Service's address and load balancer id, read as the program read them from its outputs."""
    wait_for_clients()
    from kubernetes import client

    from components.ready_checks import external_address, load_balancer_id

    core = client.CoreV1Api(kube_api(props.get("kubeconfig"), props.get("context")))
    svc = _kube_read(core.read_namespaced_service, props["name"], props["namespace"])
    return {"external_ip": external_address(svc.status), "load_balancer_id": load_balancer_id(svc.metadata)}


class ReadyWaitProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        from components import ready_waits  # the provider host imports the project's module: one UPDATE_FAILED

        outs = ready_waits.wait_for(props)
        return pulumi.dynamic.CreateResult(id_="/".join(str(props[key]) for key in IDENTITY_KEYS),
                                           outs={**props, **outs})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in news if key not in ("external_ip", "load_balancer_id")
                   and olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed),
                                         replaces=[key for key in changed if key in IDENTITY_KEYS],
                                         delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        # Only the bound or the access changed: what was waited for stays waited for.
        return pulumi.dynamic.UpdateResult(outs={**news, "external_ip": olds.get("external_ip"),
                                                 "load_balancer_id": olds.get("load_balancer_id")})


def kubernetes_access() -> dict[str, Any]:
    """The default Kubernetes provider's cluster, as its configuration names it (None: $KUBECONFIG)."""
    config = pulumi.Config("kubernetes")
    kubeconfig = config.get("kubeconfig")
    return {"kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig else None,
            "context": config.get("context")}


@dataclass
class LoadBalancerReadyArgs:
    namespace: pulumi.Input[str]
    service_name: str
    cluster_name: str  # the cloud controller's --cluster-name (its load balancer's name)
    admin_cloud: str  # clouds.yaml entry that can read the cloud controller's load balancer
    timeout_minutes: int  # loadBalancerTimeoutMinutes


class LoadBalancerReady(pulumi.dynamic.Resource, module="network", name="LoadBalancerReady"):
    external_ip: pulumi.Output[str | None]
    load_balancer_id: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: LoadBalancerReadyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(ReadyWaitProvider(), resource_name, {
            "kind": SERVICE, "namespace": args.namespace, "name": args.service_name,
            "cluster_name": args.cluster_name, "admin_cloud": args.admin_cloud,
            "timeout_seconds": args.timeout_minutes * 60, **kubernetes_access(),
            "external_ip": None, "load_balancer_id": None}, opts)


class ControllerAvailable(pulumi.dynamic.Resource, module="workload", name="ControllerAvailable"):
    def __init__(self, resource_name: str, namespace: pulumi.Input[str], controller_name: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(ReadyWaitProvider(), resource_name, {
            "kind": CONTROLLER, "namespace": namespace, "name": controller_name,
            "timeout_seconds": CONTROLLER_TIMEOUT_SECONDS, **kubernetes_access()}, opts)
