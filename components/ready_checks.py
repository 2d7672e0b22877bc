"""When an object of the stack is ready, still on its way, or failed for good: plain decisions.

components/ready_waits.py reads the cluster and the cloud into the views below, asks these
functions, and waits, prints the progress or fails with the message they give. A failure is only
what the real system does not retry its way out of; everything else is progress.

Sources read for the rules (the words quoted are theirs):
- kubernetes/cloud-provider-openstack pkg/openstack/loadbalancer.go and
  pkg/util/openstack/loadbalancer.go: the load balancer is named kube_service_<cluster>_<ns>_<name>;
  the Service gets `loadbalancer.openstack.org/load-balancer-id` only once it is ACTIVE; waiting
  for ACTIVE fails with "loadbalancer <id> has gone into ERROR state", and a later sync of an
  existing one with "load balancer <id> is not ACTIVE, current provisioning status: ERROR"
  (Warning SyncLoadBalancerFailed). ERROR stays until an operator fails the load balancer over;
  PENDING_* and API errors are retried by the service controller (5 s doubling to 300 s).
- kubernetes/kubernetes pkg/controller/volume/attachdetach/reconciler/reconciler.go
  (reportMultiAttachError): Warning FailedAttachVolume "Multi-Attach error for volume <pv> Volume is
  already used by pod(s) <pods>" when pods on another node use it, "... Volume is already
  exclusively attached to one node and can't be attached to another" when none does (a detach is
  due); reported once per pod and node. The attach is retried on every reconcile: it succeeds once
  the other node's pods are gone and the volume detached. A CSI attach the driver refused
  (FailedAttachVolume "AttachVolume.Attach failed for volume ...") is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policy.devstack_domain import LOAD_BALANCER_ID_ANNOTATION

MULTI_ATTACH_PREFIX = "Multi-Attach error for volume"
LOAD_BALANCER_STATUS_COMMAND = "openstack loadbalancer status show {id}"
DESCRIBE_POD_COMMAND = "kubectl describe pod {pod} -n {namespace}"


@dataclass(frozen=True)
class Verdict:
    ready: bool = False
    failure: str | None = None  # the cause, for good: the wait fails with this message
    progress: str = ""  # what it still waits for


# --------------------------------------------------------------------------- load balancer

def external_address(status: Any) -> str | None:
    """The Service's ingress IP (floating IP or VIP), or its hostname; None until Octavia assigns one."""
    ingress = (getattr(getattr(status, "load_balancer", None), "ingress", None) or [None])[0]
    if ingress is None:
        return None
    return ingress.ip or ingress.hostname


def load_balancer_id(metadata: Any) -> str | None:
    """The Octavia load balancer's id, which the cloud controller writes on the Service; None until then."""
    return (getattr(metadata, "annotations", None) or {}).get(LOAD_BALANCER_ID_ANNOTATION)


@dataclass(frozen=True)
class ServiceView:
    namespace: str
    name: str
    address: str | None  # status.loadBalancer.ingress[0] (ip, else hostname)
    load_balancer_id: str | None  # the cloud controller's annotation, once it set it


@dataclass(frozen=True)
class LoadBalancerView:
    id: str
    provisioning_status: str
    operating_status: str


def load_balancer_failure(service: ServiceView, lb: LoadBalancerView, last_warning: str | None) -> str:
    said = f"; the cloud controller's last warning on the Service: \"{last_warning}\"" if last_warning else ""
    return (f"Service {service.namespace}/{service.name}: Octavia load balancer {lb.id} is "
            f"provisioning_status {lb.provisioning_status}, operating_status {lb.operating_status}{said}. "
            f"Octavia does not leave ERROR by itself. Look further: "
            f"{LOAD_BALANCER_STATUS_COMMAND.format(id=lb.id)}")


def service_verdict(service: ServiceView, lb: LoadBalancerView | None, last_warning: str | None) -> Verdict:
    """Ready: an ingress address and the load balancer ACTIVE. Failed: Octavia shows it in ERROR."""
    if lb is not None and lb.provisioning_status == "ERROR":
        return Verdict(failure=load_balancer_failure(service, lb, last_warning))
    if lb is not None and lb.provisioning_status == "ACTIVE" and service.address:
        return Verdict(ready=True, progress=f"{service.address}, load balancer {lb.id} ACTIVE")
    state = f"load balancer {lb.id} {lb.provisioning_status}" if lb else "no Octavia load balancer yet"
    address = service.address or "no ingress address yet"
    retry = f"; the cloud controller retries: \"{last_warning}\"" if last_warning else ""
    return Verdict(progress=f"{state}, {address}{retry}")


# --------------------------------------------------------------------------- storage pods

@dataclass(frozen=True)
class ControllerView:
    namespace: str
    name: str
    replicas: int
    available: int
    generation: int
    observed_generation: int


@dataclass(frozen=True)
class PodView:
    name: str
    uid: str
    node: str | None
    claims: tuple[str, ...]  # the claims its volumes name
    releasing: bool  # being deleted, or finished (Succeeded/Failed): its volumes are on their way out


@dataclass(frozen=True)
class AttachmentView:
    persistent_volume: str
    node: str
    attached: bool


@dataclass(frozen=True)
class AttachEvent:
    pod_uid: str
    message: str  # a FailedAttachVolume event's text


def multi_attach_held(pod: PodView, message: str, volume_of_claim: Mapping[str, str],
                      attachments: Iterable[AttachmentView], namespace_pods: Iterable[PodView]
                      ) -> tuple[str, str, str, list[str]] | None:
    """(claim, volume, node, pods) when `pod`'s Multi-Attach error will not clear by itself: its
    volume is attached to another node for pods there that are not going away. None otherwise (a
    pod moving: the other user is terminating, or no pod holds it and the detach is due)."""
    if not message.startswith(MULTI_ATTACH_PREFIX):
        return None
    attachments, namespace_pods = list(attachments), list(namespace_pods)
    for claim in pod.claims:
        volume = volume_of_claim.get(claim)
        if not volume:
            continue
        nodes = sorted({a.node for a in attachments
                        if a.persistent_volume == volume and a.attached and a.node != pod.node})
        for node in nodes:
            holders = sorted(other.name for other in namespace_pods
                             if claim in other.claims and other.node == node and not other.releasing)
            if holders:
                return claim, volume, node, holders
    return None


def controller_verdict(controller: ControllerView, own_pods: Iterable[PodView], events: Iterable[AttachEvent],
                       volume_of_claim: Mapping[str, str], attachments: Iterable[AttachmentView],
                       namespace_pods: Iterable[PodView]) -> Verdict:
    """Ready: availableReplicas == replicas for the current spec (what pulumi-kubernetes' RC await
    checks). Failed: one of its pods is held by a Multi-Attach error that will not clear."""
    attachments, namespace_pods = list(attachments), list(namespace_pods)
    by_uid = {pod.uid: pod for pod in own_pods if not pod.releasing}
    retried = []
    for event in events:
        pod = by_uid.get(event.pod_uid)
        if pod is None:
            continue
        held = multi_attach_held(pod, event.message, volume_of_claim, attachments, namespace_pods)
        if held is not None:
            claim, volume, node, holders = held
            return Verdict(failure=(
                f"ReplicationController {controller.namespace}/{controller.name}: pod {pod.name} (node "
                f"{pod.node}) cannot attach volume {volume} (claim {claim}): it is attached to node {node} "
                f"for pod(s) {', '.join(holders)}, which are not terminating, so it will not be detached. "
                f"The attach/detach controller: \"{event.message}\". "
                f"Look further: {DESCRIBE_POD_COMMAND.format(pod=pod.name, namespace=controller.namespace)}"))
        retried.append(f"{pod.name}: \"{event.message}\" (retried)")
    current = controller.observed_generation >= controller.generation
    if current and controller.available == controller.replicas:
        return Verdict(ready=True, progress=f"{controller.available}/{controller.replicas} available")
    progress = f"{controller.available if current else 0}/{controller.replicas} available"
    return Verdict(progress="; ".join([progress, *retried[-1:]]))
