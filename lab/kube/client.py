"""An API client from a kubeconfig, raw-JSON calls, and helpers on raw objects (dicts)."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes import client, config


def api_client(kubeconfig: str, pool_size: int = 32) -> client.ApiClient:
    """A client for the cluster of ``kubeconfig``; a pool large enough for a few watches and
    workers at once (urllib3 otherwise drops connections above 10 and logs warnings)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def raw(call: Callable, *args, **kwargs) -> dict:
    """Call a kubernetes client method and return the JSON answer as a dict (the doubles work
    on raw objects: no model classes, the fields are the API's own names)."""
    kwargs.setdefault("_request_timeout", 30)
    return json.loads(call(*args, _preload_content=False, **kwargs).data or b"{}")


def meta(obj: dict | None) -> dict:
    return (obj or {}).get("metadata") or {}


def resource_version(obj: dict | None) -> int:
    """The object's resourceVersion as a number (0 when absent or not a number)."""
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def namespaced_key(obj: dict) -> str:
    """"<namespace>/<name>", client-go's MetaNamespaceKeyFunc ("/<name>" for cluster objects)."""
    return f"{meta(obj).get('namespace') or ''}/{meta(obj)['name']}"


def name_key(obj: dict) -> str:
    return meta(obj)["name"]


def uid_key(obj: dict) -> str:
    return meta(obj)["uid"]


def rfc3339(moment: datetime | None = None) -> str:
    """A Kubernetes timestamp (metav1.Time: seconds, UTC, "Z")."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remove_finalizer(finalizer: str) -> dict:
    """A strategic merge patch that removes one finalizer and keeps the others."""
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}}


def node_internal_ip(node: dict | None) -> str | None:
    for address in ((node or {}).get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return address.get("address")
    return None


def server_id_of(node: dict | None) -> str | None:
    """The OpenStack server id of a node, from ``spec.providerID`` (openstack:///<id>)."""
    provider_id = ((node or {}).get("spec") or {}).get("providerID") or ""
    if not provider_id.startswith("openstack://"):
        return None
    return provider_id.rstrip("/").rsplit("/", 1)[-1] or None
