"""Destroy-time wait: hold the volume type until Cinder has deleted every volume of it.

After `pulumi destroy` deletes the claim, the CSI provisioner deletes the PV and its
Cinder volume in the background, and Cinder refuses to delete a volume type that
still has volumes ("Target volume type is still in use"); the volume type's own
delete does not retry. A resource placed between the type and the StorageClass
therefore waits, in its delete, until Cinder lists no volume of the type.

The wait is plain functions (tested against a fake Keystone + Cinder); the Pulumi
dynamic provider around it is a thin shell that imports openstacksdk inside its
methods, as dynamic providers are serialized and run in the engine's own process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components import wait_for_clients
from components.progress import to_stderr

FIRST_POLL_DELAY_SECONDS = 2.0
MAX_POLL_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class VolumeInfo:
    id: str
    name: str | None
    status: str
    volume_type: str | None
    volume_type_id: str | None = None

    def describe(self) -> str:
        return f"{self.name or '(no name)'} ({self.id}, {self.status})"


class VolumeReleaseError(RuntimeError):
    """The wait cannot succeed: bad credentials, unknown cloud, or an API error that will not pass."""


class VolumeReleaseTimeout(VolumeReleaseError):
    def __init__(self, type_name: str, timeout_seconds: float, remaining: list[VolumeInfo]):
        self.remaining = remaining
        listed = "; ".join(volume.describe() for volume in remaining)
        super().__init__(
            f"Cinder still has {len(remaining)} volume(s) of type {type_name!r} after "
            f"{timeout_seconds:.0f}s: {listed}. Delete or retype them (openstack volume list "
            f"--all-projects --long), then run `pulumi destroy` again; raise "
            f"volumeReleaseTimeoutMinutes if the CSI driver is just slow."
        )


class TransientError(Exception):
    """A failure worth retrying: the API was unreachable or answered 5xx."""


def volumes_of_type(volumes: Iterable[VolumeInfo], type_name: str, type_id: str | None) -> list[VolumeInfo]:
    """Cinder shows a volume's type by name (and by id from microversion 3.63)."""
    return [
        volume for volume in volumes
        if volume.volume_type == type_name or (type_id and type_id in (volume.volume_type, volume.volume_type_id))
    ]


def wait_for_volume_type_release(
    list_volumes: Callable[[], list[VolumeInfo]],
    type_name: str,
    type_id: str | None,
    timeout_seconds: float,
    *,
    log: Callable[[str], None] = to_stderr,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_delay: float = FIRST_POLL_DELAY_SECONDS,
    max_delay: float = MAX_POLL_DELAY_SECONDS,
) -> int:
    """Poll until no volume of the type is left; returns the number of polls made.

    `list_volumes` raises TransientError for a failure to retry; any other exception
    ends the wait at once. Raises VolumeReleaseTimeout naming the volumes still there.
    """
    deadline = clock() + timeout_seconds
    delay = first_delay
    polls = 0
    while True:
        polls += 1
        try:
            remaining = volumes_of_type(list_volumes(), type_name, type_id)
        except TransientError as error:
            remaining = None
            log(f"volume type {type_name!r}: Cinder did not answer ({error}); retrying")
        if remaining == []:
            log(f"volume type {type_name!r}: no volume left, it can be deleted")
            return polls
        stuck = [volume for volume in remaining or [] if volume.status == "error_deleting"]
        if stuck:
            raise VolumeReleaseError(
                f"Cinder failed to delete {', '.join(volume.describe() for volume in stuck)} of type "
                f"{type_name!r}: error_deleting stays, so the type cannot be deleted. `openstack volume show "
                f"{stuck[0].id}`; once the backend is fixed an admin can `openstack volume set --state available "
                f"{stuck[0].id}` and `openstack volume delete {stuck[0].id}`, then run `pulumi destroy` again."
            )
        left = deadline - clock()
        if left <= 0:
            if remaining is None:
                raise VolumeReleaseError(
                    f"Cinder did not answer for {timeout_seconds:.0f}s while waiting to delete "
                    f"volume type {type_name!r}"
                )
            raise VolumeReleaseTimeout(type_name, timeout_seconds, remaining)
        if remaining:
            log(
                f"volume type {type_name!r}: waiting for Cinder to delete "
                f"{', '.join(volume.describe() for volume in remaining)} ({left:.0f}s left)"
            )
        sleep(min(delay, left))
        delay = min(delay * 2, max_delay)


def openstack_volume_lister(cloud: str) -> Callable[[], list[VolumeInfo]]:
    """List every project's volumes through openstacksdk, with the clouds.yaml entry `cloud`.

    Authentication and configuration errors raise VolumeReleaseError; unreachable
    endpoints and 5xx answers raise TransientError.
    """
    wait_for_clients()  # keystoneauth1 comes with openstacksdk: imported by the same one thread
    import keystoneauth1.exceptions as ksa_exceptions
    import openstack
    import openstack.exceptions as sdk_exceptions

    try:
        connection = openstack.connect(cloud=cloud)
    except sdk_exceptions.ConfigException as error:
        raise VolumeReleaseError(f"clouds.yaml entry {cloud!r} (adminCloud): {error}") from error

    def list_volumes() -> list[VolumeInfo]:
        try:
            return [
                VolumeInfo(v.id, v.name, v.status, v.volume_type, getattr(v, "volume_type_id", None))
                for v in connection.block_storage.volumes(details=True, all_projects=True)
            ]
        except (ksa_exceptions.Unauthorized, ksa_exceptions.Forbidden) as error:
            raise VolumeReleaseError(
                f"OpenStack refused the credentials of clouds.yaml entry {cloud!r} (adminCloud): {error}"
            ) from error
        except sdk_exceptions.HttpException as error:
            status = error.status_code or 0
            if status in (401, 403):
                raise VolumeReleaseError(
                    f"OpenStack refused clouds.yaml entry {cloud!r} (adminCloud) the volume list "
                    f"of all projects (HTTP {status}): it needs admin rights"
                ) from error
            if status >= 500:
                raise TransientError(f"HTTP {status}") from error
            raise VolumeReleaseError(f"Cinder volume list failed: {error}") from error
        except (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout,
                ksa_exceptions.HttpError, ksa_exceptions.RetriableConnectionFailure) as error:
            if isinstance(error, ksa_exceptions.HttpError) and (error.http_status or 0) < 500:
                raise VolumeReleaseError(f"Keystone for clouds.yaml entry {cloud!r}: {error}") from error
            raise TransientError(type(error).__name__) from error

    return list_volumes


class VolumeReleaseProvider(pulumi.dynamic.ResourceProvider):
    """Create records the type; delete waits until Cinder has no volume of it."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"release-{props['volume_type_id']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("admin_cloud", "volume_type_name", "volume_type_id", "timeout_seconds")
                   if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed),
            replaces=[key for key in changed if key == "volume_type_id"],
            delete_before_replace=True,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        wait_for_volume_type_release(
            openstack_volume_lister(props["admin_cloud"]),
            props["volume_type_name"],
            props["volume_type_id"],
            float(props["timeout_seconds"]),
        )


@dataclass
class VolumeTypeReleaseArgs:
    admin_cloud: str  # clouds.yaml entry with admin rights: listing every project's volumes needs them
    volume_type_name: pulumi.Input[str]  # the Cinder volume type's name, as the type resource outputs it
    volume_type_id: pulumi.Input[str]  # the type's id (Cinder shows it on volumes from microversion 3.63)
    volume_release_timeout_minutes: int  # minutes; how long a destroy waits for Cinder before failing


class VolumeTypeRelease(pulumi.dynamic.Resource, module="openstack", name="VolumeTypeRelease"):
    """Sits between the volume type and the StorageClass; exists only with the type."""

    volume_type_name: pulumi.Output[str]
    volume_type_id: pulumi.Output[str]

    def __init__(self, resource_name: str, args: VolumeTypeReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            VolumeReleaseProvider(),
            resource_name,
            {
                "admin_cloud": args.admin_cloud,
                "volume_type_name": args.volume_type_name,
                "volume_type_id": args.volume_type_id,
                "timeout_seconds": args.volume_release_timeout_minutes * 60,
            },
            opts,
        )
