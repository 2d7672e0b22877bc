"""The Cinder volume type that lets one volume attach to several nodes (admin only)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

from components.ownership import volume_type_description
from components.volume_release import VolumeTypeRelease, VolumeTypeReleaseArgs
from policy.devstack_domain import MULTIATTACH_ENABLED, MULTIATTACH_EXTRA_SPEC


def multiattach_extra_specs() -> dict[str, str]:
    return {MULTIATTACH_EXTRA_SPEC: MULTIATTACH_ENABLED}


@dataclass
class MultiAttachVolumeTypeArgs:
    volume_type_name: str  # Cinder volume type name, 1-255 characters
    owner: str  # the stack's identity, written in the description (Cinder types have no annotations)
    admin_cloud: str  # clouds.yaml entry the destroy-time wait lists volumes with (needs admin)
    volume_release_timeout_minutes: int  # minutes a destroy waits for Cinder to drop the type's volumes


class MultiAttachVolumeType(pulumi.ComponentResource):
    """A public Cinder volume type with the multi-attach extra spec.

    Creating a volume type needs admin rights: pass an admin OpenStack provider in
    `opts` (providers={"openstack": ...} or provider=...); the children inherit it.
    `volume_type_name` comes out of the release step, so whatever uses the type is deleted
    before the step waits for Cinder to drop the type's volumes, and the type goes last.
    """

    volume_type_name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: MultiAttachVolumeTypeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:openstack:MultiAttachVolumeType", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.volume_type = openstack.blockstorage.VolumeTypeV3(
            resource_name,
            name=args.volume_type_name,
            description=volume_type_description(args.owner),
            extra_specs=multiattach_extra_specs(),
            is_public=True,
            opts=child,
        )
        self.release = VolumeTypeRelease(
            f"{resource_name}-release",
            VolumeTypeReleaseArgs(
                admin_cloud=args.admin_cloud,
                volume_type_name=self.volume_type.name,
                volume_type_id=self.volume_type.id,
                volume_release_timeout_minutes=args.volume_release_timeout_minutes,
            ),
            opts=child,
        )
        self.volume_type_name = self.release.volume_type_name
        self.register_outputs({"volume_type_name": self.volume_type_name})
