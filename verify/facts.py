"""What verify reads from each side, as plain data: the checks take these and nothing else.

The fetch layers (kube_side.py, cloud_side.py) build them from the Kubernetes and OpenStack
clients; tests build them by hand. Nothing here talks to anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# The OpenStack cloud controller writes `openstack:///<server id>` (no region) or
# `openstack://<region>/<server id>` into each node's spec.providerID.
_PROVIDER_ID = re.compile(r"^openstack://(?P<region>[^/]*)/(?P<server>[^/]+)$")


def server_id_of(provider_id: str | None) -> str | None:
    """The Nova server id in a node's providerID, or None when it is not an OpenStack one."""
    match = _PROVIDER_ID.match(provider_id or "")
    return match["server"] if match else None


# ---------------------------------------------------------------- Kubernetes


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str  # NoSchedule, PreferNoSchedule or NoExecute


@dataclass(frozen=True)
class NodeFacts:
    name: str
    internal_ip: str | None = None
    provider_id: str | None = None
    ready: bool = True
    control_plane: bool = False  # node-role.kubernetes.io/control-plane (or master) label
    labels: dict[str, str] = field(default_factory=dict)  # metadata.labels, e.g. the exclude-from-LB one
    unschedulable: bool = False  # cordoned
    taints: tuple[Taint, ...] = ()

    @property
    def server_id(self) -> str | None:
        return server_id_of(self.provider_id)


@dataclass(frozen=True)
class PodFacts:
    name: str
    node: str | None  # spec.nodeName; None while unscheduled
    ready: bool
    phase: str = "Running"
    waiting_reason: str | None = None  # a container's state.waiting.reason, e.g. ContainerCreating
    warning: str | None = None  # the newest Warning event about the pod, e.g. a Multi-Attach error
    template_hash: str | None = None  # its pod-template-hash label: the controller template it was made from
    images: dict[str, str] = field(default_factory=dict)  # container name -> image


@dataclass(frozen=True)
class ControllerFacts:
    """A ReplicationController and its pods (those its selector matches, not being deleted)."""

    replicas: int  # spec.replicas
    pods: tuple[PodFacts, ...] = ()
    name: str = ""
    template_hash: str | None = None  # the pod-template-hash of its selector; None: a controller without one
    # status.readyReplicas / availableReplicas: the API leaves them out when 0
    ready_replicas: int = 0
    available_replicas: int = 0
    created: float = 0.0  # metadata.creationTimestamp, seconds since the epoch


def declared_controller(found: Iterable[ControllerFacts], declared_name: str | None
                        ) -> tuple[ControllerFacts | None, tuple[ControllerFacts, ...]]:
    """The stack's controller among those carrying the app's label, and the others (left over
    by a rollout). A stack deployed by an older program names none: then the newest is taken,
    since a rollout makes the new controller before it deletes the old one."""
    found = sorted(found, key=lambda controller: (controller.created, controller.name))
    if declared_name is not None:
        declared = next((controller for controller in found if controller.name == declared_name), None)
    else:
        declared = found[-1] if found else None
    return declared, tuple(controller for controller in found if controller is not declared)


@dataclass(frozen=True)
class ClaimFacts:
    name: str
    phase: str  # Pending, Bound, Lost
    access_modes: tuple[str, ...] = ()
    volume_mode: str | None = None
    storage_class: str | None = None
    volume_name: str | None = None  # the bound PV's name
    requested: str | None = None  # spec.resources.requests.storage, as written (e.g. 2Gi)
    capacity: str | None = None  # status.capacity.storage
    conditions: tuple[str, ...] = ()  # the types of its True conditions, e.g. Resizing, FileSystemResizePending


@dataclass(frozen=True)
class VolumeFacts:
    """A PersistentVolume: the CSI driver and the volume handle (the Cinder volume id)."""

    name: str
    driver: str | None
    volume_handle: str | None
    capacity: str | None = None  # spec.capacity.storage


@dataclass(frozen=True)
class StorageClassFacts:
    name: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServicePort:
    port: int
    node_port: int | None
    protocol: str = "TCP"


@dataclass(frozen=True)
class ServiceFacts:
    name: str
    type: str
    ports: tuple[ServicePort, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    ingress: str | None = None  # status.loadBalancer.ingress[0].ip (or hostname)


@dataclass(frozen=True)
class KubeFacts:
    nodes: tuple[NodeFacts, ...]
    controllers: dict[str, ControllerFacts | None]  # app name -> the stack's controller, None when missing
    claim: ClaimFacts | None
    volume: VolumeFacts | None  # the claim's PV
    storage_class: StorageClassFacts | None
    service: ServiceFacts | None
    # app name -> the other controllers with its label (a rollout left over)
    leftover_controllers: dict[str, tuple[ControllerFacts, ...]] = field(default_factory=dict)
    # app name -> every pod with its label, whichever controller made it (not being deleted)
    app_pods: dict[str, tuple[PodFacts, ...]] = field(default_factory=dict)


# ---------------------------------------------------------------- OpenStack


@dataclass(frozen=True)
class Attachment:
    server_id: str  # the Nova server the volume is attached to


@dataclass(frozen=True)
class CinderVolume:
    id: str
    status: str
    volume_type: str | None  # Cinder shows the type's name
    multiattach: bool
    attachments: tuple[Attachment, ...] = ()
    size: int | None = None  # in GB, which Cinder means as GiB


@dataclass(frozen=True)
class CinderType:
    id: str
    name: str
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    address: str
    port: int
    operating_status: str | None = None


@dataclass(frozen=True)
class Pool:
    id: str
    health_monitor_id: str | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True)
class Listener:
    id: str
    protocol: str
    port: int
    pool: Pool | None = None


@dataclass(frozen=True)
class LoadBalancer:
    id: str
    name: str | None
    provisioning_status: str
    operating_status: str
    vip_address: str | None = None
    vip_port_id: str | None = None
    floating_ips: tuple[str, ...] = ()  # the floating IPs of the VIP port
    listeners: tuple[Listener, ...] = ()
    found_by: str = ""  # how it was found: the Service's annotation, or the cloud controller's name


@dataclass(frozen=True)
class FloatingIP:
    id: str
    address: str
    port_id: str | None  # None: associated with no port
    description: str = ""


@dataclass(frozen=True)
class CloudFacts:
    volume_id: str | None  # what was looked up (the PV's volume handle)
    volume: CinderVolume | None  # None: not found (or nothing to look up)
    type_name: str | None  # the volume type looked up (the stack's multi-attach type)
    volume_type: CinderType | None
    servers: dict[str, str]  # Nova server id -> name
    load_balancer: LoadBalancer | None
    load_balancer_lookup: str  # what was looked for, e.g. "id 1234 (Service annotation)"
    roles: tuple[str, ...] | None = None  # the cloud user's roles in its token; None: unknown
    # the floating IPs whose description is the cloud controller's for the Service
    service_floating_ips: tuple[FloatingIP, ...] = ()

    @property
    def admin(self) -> bool | None:
        return None if self.roles is None else "admin" in self.roles
