"""The article's cluster shape on the lab's control plane: nodes and the Cinder CSIDriver.

master1 is a kubeadm control-plane node (label, NoSchedule taint, excluded from external load
balancers); worker1 and worker2 take pods. KWOK plays their kubelets (annotation
``kwok.x-k8s.io/node: fake``). Each node names its OpenStack server in ``spec.providerID`` as
the OpenStack cloud controller does.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

CSI_DRIVER = "cinder.csi.openstack.org"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
EXCLUDE_FROM_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
_SERVER_NAMESPACE = uuid.UUID("6f1c1d1e-5a43-4c55-9a4e-2b0f6d3c7a10")


@dataclass(frozen=True)
class NodeShape:
    """One node of the article's cluster.

    name: node and Nova server name. control_plane: kubeadm's control-plane node.
    ip: the node's InternalIP, a loopback address its NodePorts really bind.
    pod_prefix: the first three octets of its pods' IPs (a /24 per node, like a pod CIDR).
    """

    name: str
    control_plane: bool
    ip: str
    pod_prefix: str

    @property
    def server_id(self) -> str:
        """The node's Nova server id: stable per name, so the compute side can map it back."""
        return str(uuid.uuid5(_SERVER_NAMESPACE, self.name))


# Every address of one lab lies in one 127.N.0.0/16 block of the loopback range, so labs that
# run side by side (tests start several) never bind each other's addresses. `lab up` picks a
# free block and hands it to every part it starts in this variable; each part reads it in its
# main() (shape_from_environment), never at import time.
ADDRESS_BLOCK_VARIABLE = "DEVSTACK_LAB_ADDRESS_BLOCK"
DEFAULT_ADDRESS_BLOCK = "127.0"
# The article's nodes: (name, control plane?). Names and server ids do not depend on the block.
NODE_ROLES = (("master1", True), ("worker1", False), ("worker2", False))


@dataclass(frozen=True)
class ClusterShape:
    """The article's cluster inside one address block ("127.N").

    nodes: master1 (control plane), worker1, worker2, with InternalIPs <block>.1.1-3 and pod
    prefixes <block>.11-13. vip_prefix: Octavia VIPs on the private subnet (<block>.0.0/16).
    floating_prefix: the public network's floating IPs.
    """

    address_block: str = DEFAULT_ADDRESS_BLOCK

    @property
    def nodes(self) -> tuple[NodeShape, ...]:
        return tuple(NodeShape(name, control_plane=control_plane, ip=f"{self.address_block}.1.{index}",
                               pod_prefix=f"{self.address_block}.{10 + index}")
                     for index, (name, control_plane) in enumerate(NODE_ROLES, start=1))

    @property
    def vip_prefix(self) -> str:
        return f"{self.address_block}.21"

    @property
    def floating_prefix(self) -> str:
        return f"{self.address_block}.31"

    @property
    def private_cidr(self) -> str:
        return f"{self.address_block}.0.0/16"


def shape_from_environment(environ: Mapping[str, str] | None = None) -> ClusterShape:
    """The shape of the lab this process belongs to (the block `lab up` handed it)."""
    environ = os.environ if environ is None else environ
    return ClusterShape(environ.get(ADDRESS_BLOCK_VARIABLE, DEFAULT_ADDRESS_BLOCK))


def environment_of(shape: ClusterShape) -> dict[str, str]:
    """What a part of the lab needs in its environment to read ``shape`` back."""
    return {ADDRESS_BLOCK_VARIABLE: shape.address_block}


def node_manifest(shape: NodeShape) -> dict:
    labels = {"kubernetes.io/hostname": shape.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "type": "kwok"}
    taints = []
    if shape.control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
        labels[EXCLUDE_FROM_LB_LABEL] = ""
        taints.append({"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": shape.name,
            "labels": labels,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                # The kubelet sets this; it makes kube-controller-manager's attach/detach
                # controller create VolumeAttachments for the node's pods.
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"providerID": f"openstack:///{shape.server_id}", "taints": taints},
        # KWOK's node-initialize stage keeps addresses a node already has.
        "status": {"addresses": [{"type": "InternalIP", "address": shape.ip},
                                 {"type": "Hostname", "address": shape.name}]},
    }


def csi_driver_manifest() -> dict:
    """The CSIDriver object the Cinder CSI plugin's Helm chart installs."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": CSI_DRIVER},
        "spec": {"attachRequired": True, "podInfoOnMount": True,
                 "volumeLifecycleModes": ["Persistent", "Ephemeral"]},
    }


def create_shape(api: client.ApiClient, cluster: ClusterShape) -> None:
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    for shape in cluster.nodes:
        _create(lambda body: core.create_node(body), node_manifest(shape))
    _create(lambda body: storage.create_csi_driver(body), csi_driver_manifest())


def _create(create, body: dict) -> None:
    try:
        create(body)
    except ApiException as error:
        if error.status != 409:  # already there from an earlier `up` on the same etcd
            raise


def nodes_not_ready(core: client.CoreV1Api, expected: Iterable[str] = ()) -> list[str]:
    """The nodes that are not Ready, with those of ``expected`` that do not exist yet."""
    nodes = core.list_node().items
    missing = sorted(set(expected) - {n.metadata.name for n in nodes})
    return [n.metadata.name for n in nodes if not _ready(n)] + missing


def _ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def has_default_service_account(core: client.CoreV1Api) -> bool:
    """kube-controller-manager's service-account controller made `default` in `default`."""
    try:
        core.read_namespaced_service_account("default", "default")
        return True
    except ApiException:
        return False
