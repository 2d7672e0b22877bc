"""Which stack owns what, and what a stack may not do to what it finds: checked before anything is registered.

Two stacks in one cluster and one cloud must not share an object: with server-side apply the second
would take the first one's objects over, or stop mid-`up` on a field-manager conflict, and its
`destroy` would delete them. So every object the program makes carries its stack's identity
(STACK_ANNOTATION; the Cinder type in its description), and a preview that finds one of its names
taken by another stack, or its apps' pods run by another stack in its namespace, is refused with what
to change. The same preflight refuses a smaller volume, which Kubernetes cannot shrink, and a
cluster without the Cinder CSI driver, where the claim would stay Pending for good.

Plain functions only: components/live_state.py reads the cluster and the cloud.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policy.devstack_domain import CINDER_CSI_DRIVER

STACK_ANNOTATION = "devstack-k8s-apps/stack"
# pulumi-kubernetes' server-side apply takes back a field someone else took (`kubectl scale` owns
# spec.replicas afterwards): without it, the `up` that should repair such drift stops on a field
# conflict. Safe because no other stack may share the object (see preflight).
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
_TYPE_OWNER = re.compile(r"\(Pulumi stack ([^()\s]+)\)")
HOW_TO_SEPARATE = ("give this stack its own `namespace` (with `createNamespace: true`), `storageClassName` and, "
                   "with multiattach, `volumeTypeName`, as Pulumi.devstack-single.yaml does")


def stack_identity(organization: str, project: str, stack: str) -> str:
    return f"{organization}/{project}/{stack}"


def ownership_annotations(identity: str) -> dict[str, str]:
    """On every Kubernetes object of the stack: whose it is, and that its declared values win."""
    return {STACK_ANNOTATION: identity, PATCH_FORCE_ANNOTATION: "true"}


def volume_type_description(identity: str) -> str:
    """Cinder types have no annotations: the owner is written in the description."""
    return f"Cinder volumes that several Kubernetes nodes can attach at once (Pulumi stack {identity})"


def volume_type_owner(description: str | None) -> str | None:
    match = _TYPE_OWNER.search(description or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class ObjectRef:
    kind: str  # Namespace, StorageClass, PersistentVolumeClaim, Service, ReplicationController, VolumeType, CSIDriver
    name: str
    namespace: str | None = None  # None: cluster-scoped (or the cloud's)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class LiveObject:
    ref: ObjectRef
    owner: str | None  # the stack identity it carries; None: none (made by hand or by an older version)
    app: str | None = None  # a ReplicationController's `app` label
    requested_gi: float | None = None  # a claim's spec.resources.requests.storage, in GiB


@dataclass(frozen=True)
class Plan:
    """What the stack is about to declare, by name (from the settings alone)."""

    identity: str
    objects: tuple[ObjectRef, ...]
    namespace: str
    apps: tuple[str, ...]
    claim: ObjectRef
    volume_size_gi: int
    required: tuple[ObjectRef, ...] = ()  # what must already be there (the cluster's Cinder CSI driver)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # refuse: nothing is registered
    warnings: list[str] = field(default_factory=list)  # say, and go on


def preflight(plan: Plan, live: Iterable[LiveObject]) -> Findings:
    """What stops this stack from being deployed as planned, given the objects found."""
    findings = Findings()
    planned = set(plan.objects)
    live = list(live)
    present = {found.ref for found in live}
    for ref in plan.required:
        if ref not in present:
            findings.problems.append(missing_problem(ref))
    for found in live:
        ours = found.owner == plan.identity
        if found.ref in planned and found.owner not in (None, plan.identity):
            findings.problems.append(f"{found.ref} belongs to the Pulumi stack {found.owner}: two stacks cannot "
                                     f"share it; {HOW_TO_SEPARATE}")
        elif (found.ref.kind == "ReplicationController" and found.ref.namespace == plan.namespace
              and found.app in plan.apps and found.owner not in (None, plan.identity)):
            findings.problems.append(
                f"{found.ref} of the Pulumi stack {found.owner} runs app={found.app} pods in namespace "
                f"{plan.namespace}: this stack's Service would balance them too; {HOW_TO_SEPARATE}")
        elif found.ref.kind == "Namespace" and found.ref in planned and found.owner is None:
            findings.problems.append(
                f"{found.ref} exists and no stack made it: with createNamespace true this stack would take it "
                f"over and delete it, with everything in it, on destroy; set createNamespace false to use it as "
                f"it is, or choose another namespace")
        elif found.ref in planned and found.owner is None:
            findings.warnings.append(
                f"{found.ref} exists and carries no stack annotation ({STACK_ANNOTATION}): `pulumi up` takes it "
                f"over. Right if this stack made it before the annotation existed; if it was made by hand, see "
                f"README 'Adopting what the article already created'")
        if found.ref == plan.claim and (ours or found.owner is None) and found.requested_gi is not None \
                and plan.volume_size_gi < found.requested_gi:
            findings.problems.append(
                f"volumeSizeGi = {plan.volume_size_gi} is smaller than the {_gi(found.requested_gi)} the claim "
                f"{found.ref.namespace}/{found.ref.name} already has: Kubernetes and Cinder cannot shrink a volume; "
                f"set volumeSizeGi to {_gi(found.requested_gi).removesuffix('Gi')} or more (nothing was changed)")
    return findings


def missing_problem(ref: ObjectRef) -> str:
    if ref.kind == "CSIDriver":
        return (f"{ref} is not in the cluster: the Cinder CSI plugin is not installed (or not registered), so "
                f"no volume would ever be made for the claim; install cloud-provider-openstack's cinder-csi-plugin, "
                f"then check with `kubectl get csidrivers`")
    return f"{ref} is not in the cluster, and this stack needs it"


def _gi(value: float) -> str:
    return f"{value:g}Gi"


def annotation_owner(annotations: Mapping[str, str] | None) -> str | None:
    return (annotations or {}).get(STACK_ANNOTATION)


class PreflightError(RuntimeError):
    """Every reason this stack cannot be deployed as configured; raised before anything is registered."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"this stack cannot be deployed as configured, nothing was changed:\n{lines}")


def plan_of(settings, identity: str, apps: tuple[str, ...]) -> Plan:
    """The names a stack with these settings (components/settings.py Settings) declares."""
    namespace = settings.namespace
    claim = ObjectRef("PersistentVolumeClaim", settings.claim_name, namespace)
    objects = [ObjectRef("StorageClass", settings.storage_class_name), claim,
               ObjectRef("Service", settings.service_name, namespace)]
    if settings.create_namespace:
        objects.append(ObjectRef("Namespace", namespace))
    if settings.multiattach:
        objects.append(ObjectRef("VolumeType", settings.volume_type_name))
    return Plan(identity=identity, objects=tuple(objects), namespace=namespace, apps=apps, claim=claim,
                volume_size_gi=settings.volume_size_gi, required=(ObjectRef("CSIDriver", CINDER_CSI_DRIVER),))
