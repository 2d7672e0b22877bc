"""What the claim's waits read, as plain data: the claim, its PV, their events, the Cinder volume
and Cinder's user messages. Used inside dynamic providers (components/claim_wait.py,
components/claim_release.py), so every client library is imported inside the functions.

A read that fails for a reason that passes (the API unreachable, a 5xx) raises TransientError;
one that will not pass (bad credentials, an unknown clouds.yaml entry) raises ReadError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components import wait_for_clients
from components.volume_release import TransientError

REQUEST_TIMEOUT_SECONDS = 10
# cinder/api/v3/messages.py: user messages from 3.3, filtered by resource_uuid from 3.5.
MESSAGES_MICROVERSION = "3.5"
# The metadata cinder-csi's CreateVolume gives the volume from external-provisioner's
# --extra-create-metadata (pkg/csi/cinder/controllerserver.go, RecognizedCSIProvisionerParams).
PVC_NAME_METADATA = "csi.storage.k8s.io/pvc/name"
PVC_NAMESPACE_METADATA = "csi.storage.k8s.io/pvc/namespace"


class ReadError(RuntimeError):
    """A read that will not succeed by retrying."""


@dataclass(frozen=True)
class CinderVolume:
    id: str
    name: str | None
    status: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal / Warning
    reason: str
    message: str
    count: int = 1


def _transient_http(error: Exception, what: str) -> Exception:
    status = (getattr(error, "status", None) or getattr(error, "status_code", None)
              or getattr(error, "http_status", None) or 0)
    if status == 0 or status >= 500 or status == 429:
        return TransientError(f"{what}: {type(error).__name__} {status or ''}".strip())
    return ReadError(f"{what}: {error}")


class KubeReader:
    """Reads through the kubeconfig the Kubernetes provider uses (a path, its contents, or
    $KUBECONFIG / ~/.kube/config when None)."""

    def __init__(self, kubeconfig: str | None, context: str | None):
        wait_for_clients()
        from kubernetes import client

        from components.live_state import LiveStateError, kube_api

        try:
            api = kube_api(kubeconfig, context)
        except LiveStateError as error:
            raise ReadError(str(error)) from error
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)

    def _call(self, what: str, call: Callable[[], Any], missing: Any = None) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call()
        except ApiException as error:
            if error.status == 404:
                return missing
            raise _transient_http(error, what) from error
        except Exception as error:  # urllib3 connection errors and timeouts
            raise TransientError(f"{what}: {type(error).__name__}") from error

    def claim(self, namespace: str, name: str) -> dict | None:
        found = self._call(f"read claim {namespace}/{name}", lambda: self.core.read_namespaced_persistent_volume_claim(
            name, namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS))
        return found.to_dict() if found is not None else None

    def volume(self, name: str) -> dict | None:
        found = self._call(f"read PersistentVolume {name}", lambda: self.core.read_persistent_volume(
            name, _request_timeout=REQUEST_TIMEOUT_SECONDS))
        return found.to_dict() if found is not None else None

    def volumes_of_claim(self, namespace: str, name: str) -> list[dict]:
        """PVs whose claimRef names the claim: a PV keeps it after the claim is deleted."""
        listed = self._call("list PersistentVolumes", lambda: self.core.list_persistent_volume(
            _request_timeout=REQUEST_TIMEOUT_SECONDS))
        return [pv.to_dict() for pv in (listed.items if listed else [])
                if pv.spec.claim_ref and (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name) == (namespace, name)]

    def attachments_of(self, pv_names: set[str]) -> list[dict]:
        """VolumeAttachments of those PVs (the attach-detach controller's, one per node)."""
        listed = self._call("list VolumeAttachments", lambda: self.storage.list_volume_attachment(
            _request_timeout=REQUEST_TIMEOUT_SECONDS))
        return [va.to_dict() for va in (listed.items if listed else [])
                if va.spec.source and va.spec.source.persistent_volume_name in pv_names]

    def events(self, kind: str, name: str, namespace: str | None, uid: str | None = None) -> list[Event]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        if uid:
            selector += f",involvedObject.uid={uid}"
        if namespace:
            listed = self._call("list events", lambda: self.core.list_namespaced_event(
                namespace, field_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS))
        else:
            listed = self._call("list events", lambda: self.core.list_event_for_all_namespaces(
                field_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS))
        items = sorted(listed.items if listed else [],
                       key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp or ""))
        return [Event(e.type or "", e.reason or "", e.message or "", e.count or 1) for e in items]


class CinderReader:
    """Reads Cinder with the clouds.yaml entry `cloud` (admin: the CSI driver's volumes may be
    in any project)."""

    def __init__(self, cloud: str):
        wait_for_clients()
        import openstack
        import openstack.exceptions as sdk_exceptions

        try:
            self.connection = openstack.connect(cloud=cloud)
        except sdk_exceptions.ConfigException as error:
            raise ReadError(f"clouds.yaml entry {cloud!r} (adminCloud): {error}") from error
        self.cloud = cloud

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        import keystoneauth1.exceptions as ksa_exceptions
        import openstack.exceptions as sdk_exceptions

        try:
            return call()
        except sdk_exceptions.NotFoundException:
            return None
        except sdk_exceptions.HttpException as error:
            raise _transient_http(error, f"Cinder {what}") from error
        except (ksa_exceptions.Unauthorized, ksa_exceptions.Forbidden) as error:
            raise ReadError(f"OpenStack refused clouds.yaml entry {self.cloud!r} (adminCloud): {error}") from error
        except (ksa_exceptions.ConnectFailure, ksa_exceptions.ConnectTimeout,
                ksa_exceptions.RetriableConnectionFailure) as error:
            raise TransientError(f"Cinder {what}: {type(error).__name__}") from error
        except ksa_exceptions.HttpError as error:
            raise _transient_http(error, f"Cinder {what}") from error

    def volume(self, volume_id: str) -> CinderVolume | None:
        found = self._call(f"show volume {volume_id}", lambda: self.connection.block_storage.get_volume(volume_id))
        return CinderVolume(found.id, found.name, found.status) if found is not None else None

    def volumes_of_claim(self, namespace: str, name: str) -> list[CinderVolume]:
        """Every project's volumes that cinder-csi made for the claim (its metadata names it)."""
        listed = self._call("list volumes", lambda: list(self.connection.block_storage.volumes(
            details=True, all_projects=True)))
        return [CinderVolume(v.id, v.name, v.status) for v in listed or []
                if (v.metadata or {}).get(PVC_NAME_METADATA) == name
                and (v.metadata or {}).get(PVC_NAMESPACE_METADATA) == namespace]

    def messages(self, volume_id: str) -> list[str]:
        """Cinder's user messages about the volume, newest first (`openstack volume message list`)."""
        response = self._call("list messages", lambda: self.connection.block_storage.get(
            f"/messages?resource_uuid={volume_id}", microversion=MESSAGES_MICROVERSION))
        if response is None or response.status_code >= 400:
            return []
        return [m.get("user_message", "") for m in response.json().get("messages", [])
                if m.get("resource_uuid") == volume_id]
