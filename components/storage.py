"""StorageClass on the Cinder CSI driver and the claim the storage app mounts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.await_annotations import CREATED_WAIT, WAIT_FOR_ANNOTATION
from components.claim_release import ClaimRelease, ClaimReleaseArgs
from components.claim_wait import ClaimReady, ClaimReadyArgs
from components.replacement_token import TOKEN_ANNOTATION, ReplacementToken, immutable_spec_key
from policy.devstack_domain import CINDER_CSI_DRIVER

# pulumi-kubernetes skips its own check of the claim: ClaimReady waits for it (components/claim_wait.py).


def access_mode(multiattach: bool) -> str:
    """A multi-attach volume can be attached on several nodes; a plain one on one node."""
    return "ReadWriteMany" if multiattach else "ReadWriteOnce"


def storage_class_parameters(volume_type_name: pulumi.Input[str] | None) -> dict:
    """Cinder CSI parameters; no `type` means Cinder's default volume type."""
    return {} if volume_type_name is None else {"type": volume_type_name}


def claim_spec(storage_class_name: pulumi.Input[str], volume_size_gi: int, multiattach: bool,
               volume_mode: str) -> dict:
    return {
        "accessModes": [access_mode(multiattach)],
        "storageClassName": storage_class_name,
        "volumeMode": volume_mode,
        "resources": {"requests": {"storage": f"{volume_size_gi}Gi"}},
    }


@dataclass
class CinderStorageArgs:
    storage_class_name: str  # StorageClass name (RFC 1123 subdomain)
    claim_name: str  # PersistentVolumeClaim name (RFC 1123 subdomain)
    namespace: pulumi.Input[str]  # namespace of the claim; must exist
    volume_size_gi: int  # GiB requested by the claim
    multiattach: bool  # True: ReadWriteMany claim (needs a multi-attach type); False: ReadWriteOnce
    volume_mode: str  # "Block" (raw device, no filesystem) or "Filesystem" (ext4)
    volume_type_name: pulumi.Input[str] | None = None  # the type's name output; None: Cinder's default type
    annotations: dict[str, str] = field(default_factory=dict)  # on the class and the claim (the stack's identity)
    admin_cloud: str = "devstack-admin"  # clouds.yaml entry the waits read Cinder with (every project)
    claim_timeout_minutes: int = 10  # how long `up` waits for the claim (bound, sized, volume not in error)
    volume_release_timeout_minutes: int = 10  # how long `destroy` waits for the PV and the Cinder volume


class CinderStorage(pulumi.ComponentResource):
    """Declares the StorageClass on the Cinder CSI driver and the claim, between
    ClaimRelease (destroy waits for the PV and the Cinder volume) and ClaimReady (`up` waits for
    a usable claim: whatever mounts it depends on `ready`)."""

    storage_class_name: pulumi.Output[str]
    claim_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: CinderStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:storage:CinderStorage", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The program's preflight (components/ownership.py) has checked that the cluster runs this
        # driver: a read step here instead was the first link of the preview's longest chain.
        self.storage_class = k8s.storage.v1.StorageClass(
            resource_name,
            metadata={"name": args.storage_class_name, "annotations": dict(args.annotations)},
            provisioner=CINDER_CSI_DRIVER,
            parameters=storage_class_parameters(args.volume_type_name),
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            volume_binding_mode="Immediate",
            opts=child,
        )
        self.storage_class_name = self.storage_class.metadata.apply(lambda metadata: metadata.name)
        # Unknown in the preview of a claim replacement, so that preview does not dry-run the new
        # claim onto the old one (see components/replacement_token.py).
        self.replacement_token = ReplacementToken(
            f"{resource_name}-claim-token",
            immutable_spec_key(args.claim_name, access_mode(args.multiattach), args.volume_mode,
                               args.storage_class_name),
            opts=child,
        )
        # Between the class and the claim: on destroy its wait for the claim's PV and Cinder volume
        # runs right after the claim's delete, before the class (and a volume type's release) go.
        # A plain depends_on: replacing the class does not replace it (the engine replaces only
        # dependents whose inputs come from a replaced resource).
        self.release = ClaimRelease(
            f"{resource_name}-claim-release",
            ClaimReleaseArgs(namespace=args.namespace, claim_name=args.claim_name, admin_cloud=args.admin_cloud,
                             timeout_minutes=args.volume_release_timeout_minutes),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.storage_class]),
        )
        self.claim = k8s.core.v1.PersistentVolumeClaim(
            f"{resource_name}-claim",
            metadata={"name": args.claim_name, "namespace": args.namespace,
                      "annotations": {**args.annotations, TOKEN_ANNOTATION: self.replacement_token.token,
                                      WAIT_FOR_ANNOTATION: CREATED_WAIT}},
            spec=claim_spec(self.storage_class_name, args.volume_size_gi, args.multiattach, args.volume_mode),
            # A claim's spec is immutable but for its size (which the driver expands in place), and
            # pulumi-kubernetes replaces it for a new access mode or class but not a new volume mode.
            # Its name is fixed, so a replacement cannot exist beside the old claim: delete first
            # (what mounts it is deleted before it: see ClaimVolume).
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, depends_on=[self.release],
                                        replace_on_changes=["spec.volumeMode"]),
        )
        self.claim_name = self.claim.metadata.apply(lambda metadata: metadata.name)
        self.ready = ClaimReady(
            f"{resource_name}-claim-ready",
            ClaimReadyArgs(namespace=args.namespace, claim_name=self.claim_name,
                           claim_uid=self.claim.metadata.apply(lambda metadata: metadata.uid),
                           size_gi=args.volume_size_gi, admin_cloud=args.admin_cloud,
                           timeout_minutes=args.claim_timeout_minutes),
            opts=child,
        )
        self.register_outputs({"storage_class_name": self.storage_class_name, "claim_name": self.claim_name})
