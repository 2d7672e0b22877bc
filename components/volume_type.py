"""The Cinder volume type that lets one volume attach to several nodes (admin only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.volume_release import VolumeTypeRelease

# The capital T matters: Cinder matches the extra spec literally.
MULTIATTACH_EXTRA_SPECS = {"multiattach": "<is> True"}


@dataclass
class MultiAttachVolumeTypeArgs:
    name: str
    admin_cloud: str
    release_timeout_minutes: int


class MultiAttachVolumeType(pulumi.ComponentResource):
    """A public Cinder volume type with the multi-attach extra spec.

    Creating a volume type needs admin rights, so it goes through its own OpenStack
    provider built from the admin clouds.yaml entry; nothing else uses that provider.
    `name` comes out of the release step, so whatever uses the type is deleted before
    the step waits for Cinder to drop the type's volumes, and the type goes last.
    """

    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: MultiAttachVolumeTypeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:openstack:MultiAttachVolumeType", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.admin_provider = openstack.Provider(f"{resource_name}-admin", cloud=args.admin_cloud, opts=child)
        self.volume_type = openstack.blockstorage.VolumeTypeV3(
            resource_name,
            name=args.name,
            description="Cinder volumes that several Kubernetes nodes can attach at once",
            extra_specs=MULTIATTACH_EXTRA_SPECS,
            is_public=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.admin_provider),
        )
        self.release = VolumeTypeRelease(
            f"{resource_name}-release",
            cloud=args.admin_cloud,
            volume_type_name=self.volume_type.name,
            volume_type_id=self.volume_type.id,
            timeout_minutes=args.release_timeout_minutes,
            opts=child,
        )
        self.name = self.release.volume_type_name
        self.register_outputs({"name": self.name})
