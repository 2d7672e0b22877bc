"""Reads, at every preview and up, the objects of the cluster and the cloud that the stack's names
could meet (components/ownership.py decides what they mean). Read-only; nothing is registered.

The cluster is the one the default Kubernetes provider uses: config `kubernetes:kubeconfig` (a path
or the file's content) and `kubernetes:context`, else $KUBECONFIG or ~/.kube/config.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from components import wait_for_clients
from components.ownership import LiveObject, ObjectRef, Plan, annotation_owner, volume_type_owner

REQUEST_TIMEOUT_SECONDS = 10


class LiveStateError(RuntimeError):
    """The cluster or the cloud could not be read: the preflight cannot say whether names are free."""


def kube_api(kubeconfig: str | None, context: str | None):
    """A client for the cluster of the default Kubernetes provider (kubernetes:kubeconfig, a path or
    the contents, and kubernetes:context); the one way the program and its waits reach it."""
    wait_for_clients()
    import yaml
    from kubernetes import config

    try:
        if kubeconfig and kubeconfig.lstrip().startswith(("apiVersion", "{", "clusters", "kind")):
            return config.new_client_from_config_dict(yaml.safe_load(kubeconfig), context=context)
        return config.new_client_from_config(config_file=kubeconfig or None, context=context)
    except Exception as error:  # the client raises ConfigException, OSError, yaml errors...
        raise LiveStateError(f"cannot load the kubeconfig ({kubeconfig or '$KUBECONFIG or ~/.kube/config'}): "
                             f"{error}") from error


def _gib(quantity: object) -> float | None:
    wait_for_clients()
    from kubernetes.utils import parse_quantity

    try:
        return float(parse_quantity(quantity)) / 2**30 if isinstance(quantity, str) and quantity else None
    except ValueError:
        return None


# Where each kind the plan names is read (the API paths kubectl's GETs use).
OBJECT_PATHS = {
    "Namespace": "/api/v1/namespaces/{name}",
    "StorageClass": "/apis/storage.k8s.io/v1/storageclasses/{name}",
    "PersistentVolumeClaim": "/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}",
    "Service": "/api/v1/namespaces/{namespace}/services/{name}",
    "CSIDriver": "/apis/storage.k8s.io/v1/csidrivers/{name}",
}
CONTROLLERS_PATH = "/api/v1/namespaces/{namespace}/replicationcontrollers"


def object_path(ref: ObjectRef) -> str | None:
    """The API path of the object, None for a kind the cluster is not asked about."""
    template = OBJECT_PATHS.get(ref.kind)
    if template is None:
        return None
    return template.format(name=quote(ref.name, safe=""), namespace=quote(ref.namespace or "", safe=""))


def _metadata(document: object) -> dict:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def live_object(ref: ObjectRef, document: dict) -> LiveObject:
    """What the preflight needs of one object as the API server returned it (JSON)."""
    requested = None
    if ref.kind == "PersistentVolumeClaim":
        spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
        resources = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
        requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
        requested = _gib(requests.get("storage"))
    return LiveObject(ref, annotation_owner(_metadata(document).get("annotations")), requested_gi=requested)


def live_controllers(namespace: str, listing: dict) -> list[LiveObject]:
    """The ReplicationControllers of a list the API server returned (JSON)."""
    items = listing.get("items") if isinstance(listing.get("items"), list) else []
    found = []
    for item in items:
        metadata = _metadata(item)
        labels = metadata.get("labels") if isinstance(metadata.get("labels"), dict) else {}
        found.append(LiveObject(ObjectRef("ReplicationController", str(metadata.get("name", "")), namespace),
                                annotation_owner(metadata.get("annotations")), app=labels.get("app")))
    return found


def read_cluster(plan: Plan, kubeconfig: str | None, context: str | None) -> list[LiveObject]:
    """GETs of the plan's objects as JSON, with the client's kubeconfig handling (auth plugins,
    certificates) but without its typed API classes: importing CoreV1Api and its models took over
    a second of every preview and up, the reads themselves milliseconds."""
    api = kube_api(kubeconfig, context)

    def get(ref: ObjectRef, path: str, query: list[tuple[str, str]] | None = None) -> dict | None:
        method, url, headers, _body, _post = api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        response.read()
        if response.status == 404:
            return None
        if not 200 <= response.status < 300:
            raise LiveStateError(f"the cluster refused to read {ref}: {response.status} {response.reason}")
        return json.loads(response.data)

    found: list[LiveObject] = []
    try:
        for ref in plan.objects + plan.required:
            path = object_path(ref)
            document = get(ref, path) if path else None
            if document is not None:
                found.append(live_object(ref, document))
        listing = get(ObjectRef("Namespace", plan.namespace),
                      CONTROLLERS_PATH.format(namespace=quote(plan.namespace, safe="")),
                      [("labelSelector", f"app in ({','.join(plan.apps)})")])
        found += live_controllers(plan.namespace, listing or {})
    except LiveStateError:
        raise
    except Exception as error:  # urllib3 connection errors, timeouts, a body that is not JSON
        raise LiveStateError(f"cannot reach the Kubernetes cluster to check this stack's names: "
                             f"{type(error).__name__}: {error}") from error
    return found


def read_volume_types(names: list[str], admin_cloud: str) -> list[LiveObject]:
    """The Cinder types of those names, with the owner their description names (admin credentials)."""
    if not names:
        return []
    wait_for_clients()
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
