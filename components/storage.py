"""StorageClass on the Cinder CSI driver and the claim the web servers share."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

CINDER_CSI_DRIVER = "cinder.csi.openstack.org"


def access_mode(multiattach: bool) -> str:
    """A multi-attach volume can be mounted by pods on several nodes; a plain one by one node."""
    return "ReadWriteMany" if multiattach else "ReadWriteOnce"


def storage_class_parameters(volume_type_name: pulumi.Input[str] | None) -> dict:
    """Cinder CSI parameters; no `type` means Cinder's default volume type."""
    return {} if volume_type_name is None else {"type": volume_type_name}


def claim_spec(storage_class_name: pulumi.Input[str], size_gi: int, multiattach: bool) -> dict:
    return {
        "accessModes": [access_mode(multiattach)],
        "storageClassName": storage_class_name,
        "resources": {"requests": {"storage": f"{size_gi}Gi"}},
    }


@dataclass
class CinderStorageArgs:
    storage_class_name: str
    claim_name: str
    namespace: str
    size_gi: int
    multiattach: bool
    # Output of the volume type (through its release step); None for Cinder's default type.
    volume_type_name: pulumi.Input[str] | None = None


class CinderStorage(pulumi.ComponentResource):
    """Looks up the Cinder CSI driver, then declares the StorageClass and the claim."""

    storage_class_name: pulumi.Output[str]
    claim_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: CinderStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:storage:CinderStorage", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Preflight, read at preview: a cluster without the Cinder CSI plugin fails here
        # ("cinder-csi-driver ... not found") instead of leaving a claim Pending forever.
        self.csi_driver = k8s.storage.v1.CSIDriver.get(
            "cinder-csi-driver", CINDER_CSI_DRIVER, opts=child
        )
        self.storage_class = k8s.storage.v1.StorageClass(
            resource_name,
            metadata={"name": args.storage_class_name},
            provisioner=self.csi_driver.metadata.apply(lambda metadata: metadata.name),
            parameters=storage_class_parameters(args.volume_type_name),
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            volume_binding_mode="Immediate",
            opts=child,
        )
        self.storage_class_name = self.storage_class.metadata.apply(lambda metadata: metadata.name)
        self.claim = k8s.core.v1.PersistentVolumeClaim(
            f"{resource_name}-claim",
            metadata={"name": args.claim_name, "namespace": args.namespace},
            spec=claim_spec(self.storage_class_name, args.size_gi, args.multiattach),
            opts=child,
        )
        self.claim_name = self.claim.metadata.apply(lambda metadata: metadata.name)
        self.register_outputs(
            {"storage_class_name": self.storage_class_name, "claim_name": self.claim_name}
        )
