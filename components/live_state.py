"""Reads, at every preview and up, the objects of the cluster and the cloud that the stack's names
could meet (components/ownership.py decides what they mean). Read-only; nothing is registered.

The cluster is the one the default Kubernetes provider uses: config `kubernetes:kubeconfig` (a path
or the file's content) and `kubernetes:context`, else $KUBECONFIG or ~/.kube/config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.ownership import LiveObject, ObjectRef, Plan, annotation_owner, volume_type_owner

REQUEST_TIMEOUT_SECONDS = 10


class LiveStateError(RuntimeError):
    """The cluster or the cloud could not be read: the preflight cannot say whether names are free."""


def _kube_api(kubeconfig: str | None, context: str | None):
    import yaml
    from kubernetes import config

    try:
        if kubeconfig and kubeconfig.lstrip().startswith(("apiVersion", "{", "clusters", "kind")):
            return config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)
        return config.new_client_from_config(config_file=kubeconfig or None, context=context)
    except Exception as error:  # the client raises ConfigException, OSError, yaml errors...
        raise LiveStateError(f"cannot load the kubeconfig ({kubeconfig or '$KUBECONFIG or ~/.kube/config'}): "
                             f"{error}") from error


def _gib(quantity: str | None) -> float | None:
    from kubernetes.utils import parse_quantity

    try:
        return float(parse_quantity(quantity)) / 2**30 if quantity else None
    except ValueError:
        return None


def read_cluster(plan: Plan, kubeconfig: str | None, context: str | None) -> list[LiveObject]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = _kube_api(kubeconfig, context)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    found: list[LiveObject] = []

    def read(ref: ObjectRef, reader: Callable[[], Any]) -> Any:
        try:
            return reader()
        except ApiException as error:
            if error.status == 404:
                return None
            raise LiveStateError(f"the cluster refused to read {ref}: {error.status} {error.reason}") from error

    timeout = {"_request_timeout": REQUEST_TIMEOUT_SECONDS}
    try:
        for ref in plan.objects:
            reader = {
                "Namespace": lambda r=ref: core.read_namespace(r.name, **timeout),
                "StorageClass": lambda r=ref: storage.read_storage_class(r.name, **timeout),
                "PersistentVolumeClaim": lambda r=ref: core.read_namespaced_persistent_volume_claim(
                    r.name, r.namespace, **timeout),
                "Service": lambda r=ref: core.read_namespaced_service(r.name, r.namespace, **timeout),
            }.get(ref.kind)
            obj = read(ref, reader) if reader else None
            if obj is None:
                continue
            requested = None
            if ref.kind == "PersistentVolumeClaim":
                requested = _gib(((obj.spec.resources.requests or {}) if obj.spec.resources else {}).get("storage"))
            found.append(LiveObject(ref, annotation_owner(obj.metadata.annotations), requested_gi=requested))
        namespace_ref = ObjectRef("Namespace", plan.namespace)
        controllers = read(namespace_ref, lambda: core.list_namespaced_replication_controller(
            plan.namespace, label_selector=f"app in ({','.join(plan.apps)})", **timeout))
        for rc in controllers.items if controllers else []:
            found.append(LiveObject(ObjectRef("ReplicationController", rc.metadata.name, plan.namespace),
                                    annotation_owner(rc.metadata.annotations),
                                    app=(rc.metadata.labels or {}).get("app")))
    except LiveStateError:
        raise
    except Exception as error:  # urllib3 connection errors, timeouts
        raise LiveStateError(f"cannot reach the Kubernetes cluster to check this stack's names: "
                             f"{type(error).__name__}: {error}") from error
    return found


def read_volume_types(names: list[str], admin_cloud: str) -> list[LiveObject]:
    """The Cinder types of those names, with the owner their description names (admin credentials)."""
    if not names:
        return []
    import openstack

    try:
        connection = openstack.connect(cloud=admin_cloud)
        types = list(connection.block_storage.types())
    except Exception as error:  # openstacksdk raises config, auth and HTTP errors of many classes
        raise LiveStateError(f"cannot list Cinder volume types with clouds.yaml entry {admin_cloud!r} (adminCloud): "
                             f"{type(error).__name__}: {error}") from error
    return [LiveObject(ObjectRef("VolumeType", t.name), volume_type_owner(t.description))
            for t in types if t.name in names]


def read_live(plan: Plan, kubeconfig: str | None, context: str | None, admin_cloud: str) -> list[LiveObject]:
    """Everything of the cluster and the cloud that the plan's names meet."""
    volume_types = [ref.name for ref in plan.objects if ref.kind == "VolumeType"]
    return read_cluster(plan, kubeconfig, context) + read_volume_types(volume_types, admin_cloud)
