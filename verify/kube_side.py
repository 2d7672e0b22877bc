"""Read the Kubernetes side with the `kubernetes` client: nodes, the two ReplicationControllers
and their pods, the claim and its PV, the StorageClass and the Service. Reads only.

An API that cannot be reached, or refuses the credentials, raises Unreachable (exit 3); an
object that is not there is None in the facts (a check then fails).
"""

from __future__ import annotations

from pathlib import Path

import urllib3
import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from components.webserver import TEMPLATE_HASH_LABEL, pod_labels
from policy.devstack_domain import CONTROL_PLANE_TAINTS
from verify.facts import (
    ClaimFacts,
    ControllerFacts,
    KubeFacts,
    NodeFacts,
    PodFacts,
    ServiceFacts,
    ServicePort,
    StorageClassFacts,
    Taint,
    VolumeFacts,
    declared_controller,
)
from verify.target import Target, Unreachable

REQUEST_TIMEOUT = (5, 20)  # connect, read: an API that hangs is reported, not waited for
EVENTS_PER_CONTROLLER = 3  # not-ready pods whose Warning events are read
_NEXT = "kubectl cluster-info; kubectl config get-contexts"


def looks_like_contents(kubeconfig: str) -> bool:
    """pulumi-kubernetes' `kubeconfig` setting is a path or the file's contents."""
    return "\n" in kubeconfig or kubeconfig.lstrip().startswith(("apiVersion", "{"))


def connect(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """An API client for the kubeconfig (a path or contents; None: $KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        if kubeconfig and looks_like_contents(kubeconfig):
            kube_config.load_kube_config_from_dict(yaml.safe_load(kubeconfig), context=context,
                                                   client_configuration=configuration, persist_config=False)
        elif kubeconfig:
            path = Path(kubeconfig).expanduser()
            if not path.is_file():
                raise Unreachable("kubernetes", f"the kubeconfig {path} does not exist", _NEXT)
            kube_config.load_kube_config(config_file=str(path), context=context,
                                         client_configuration=configuration, persist_config=False)
        else:
            kube_config.load_kube_config(context=context, client_configuration=configuration, persist_config=False)
    except (ConfigException, yaml.YAMLError, OSError, TypeError, ValueError) as error:
        where = "the kubeconfig" if kubeconfig else "$KUBECONFIG or ~/.kube/config"
        raise Unreachable("kubernetes", f"no usable cluster in {where}"
                          f"{f' (context {context})' if context else ''}: {error}", _NEXT) from None
    configuration.retries = 1  # one retry, not urllib3's three: a closed port is reported at once
    return client.ApiClient(configuration)


def _call(server: str, what: str, function, *args, **kwargs):
    """One read; None for a 404, Unreachable for anything that means the side is not usable."""
    try:
        return function(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    except ApiException as error:
        if error.status == 404:
            return None
        reason = {401: "the credentials are refused", 403: "the credentials may not read it"}.get(
            error.status, "the API answered an error")
        raise Unreachable("kubernetes", f"{server}: reading {what}: HTTP {error.status} {error.reason}: {reason}",
                          _NEXT) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        cause = _root_cause(error)
        raise Unreachable("kubernetes", f"cannot reach the API at {server} ({what}): {cause}", _NEXT) from None


def _root_cause(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    while isinstance(reason, BaseException) and getattr(reason, "reason", None) not in (None, reason):
        reason = reason.reason
    text = str(reason or error)
    for known in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if known in text:
            return known.lower() if known != "Connection refused" else "connection refused"
    return text


def node_facts(node) -> NodeFacts:
    labels = node.metadata.labels or {}
    addresses = (node.status.addresses if node.status else None) or []
    conditions = (node.status.conditions if node.status else None) or []
    spec = node.spec
    return NodeFacts(
        name=node.metadata.name,
        internal_ip=next((address.address for address in addresses if address.type == "InternalIP"), None),
        provider_id=spec.provider_id if spec else None,
        ready=any(condition.type == "Ready" and condition.status == "True" for condition in conditions),
        control_plane=any(key in labels for key in CONTROL_PLANE_TAINTS),
        labels=dict(labels),
        unschedulable=bool(spec and spec.unschedulable),
        taints=tuple(Taint(taint.key, taint.effect) for taint in ((spec.taints if spec else None) or [])),
    )


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def pod_facts(pod, warning: str | None = None) -> PodFacts:
    status = pod.status
    conditions = (status.conditions if status else None) or []
    waiting = next((container.state.waiting.reason
                    for container in ((status.container_statuses if status else None) or [])
                    if container.state and container.state.waiting and container.state.waiting.reason), None)
    return PodFacts(
        name=pod.metadata.name,
        node=pod.spec.node_name if pod.spec else None,
        ready=any(condition.type == "Ready" and condition.status == "True" for condition in conditions),
        phase=(status.phase if status else None) or "Unknown",
        waiting_reason=waiting,
        warning=warning,
        template_hash=(pod.metadata.labels or {}).get(TEMPLATE_HASH_LABEL),
        images={container.name: container.image for container in ((pod.spec.containers if pod.spec else None) or [])},
    )


def _quantity(quantities) -> str | None:
    return (quantities or {}).get("storage")


def claim_facts(pvc) -> ClaimFacts:
    status = pvc.status
    return ClaimFacts(
        name=pvc.metadata.name,
        phase=(status.phase if status else None) or "Unknown",
        access_modes=tuple(pvc.spec.access_modes or ()),
        volume_mode=pvc.spec.volume_mode or "Filesystem",
        storage_class=pvc.spec.storage_class_name,
        volume_name=pvc.spec.volume_name,
        requested=_quantity(pvc.spec.resources.requests if pvc.spec.resources else None),
        capacity=_quantity(status.capacity if status else None),
        conditions=tuple(condition.type for condition in ((status.conditions if status else None) or [])
                         if condition.status == "True"),
    )


def _newest_warning(events) -> str | None:
    warnings = [event for event in events if event.type == "Warning" and event.message]
    if not warnings:
        return None

    def when(event):
        stamp = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
        return stamp.timestamp() if stamp else 0.0

    newest = max(warnings, key=when)
    message = " ".join(newest.message.split())
    return f"{newest.reason}: {message[:200]}" if newest.reason else message[:200]


class KubeReader:
    """Reads the facts the checks need; every call is bounded by REQUEST_TIMEOUT."""

    def __init__(self, api: client.ApiClient):
        self.api = api
        self.core = client.CoreV1Api(api)
        self.storage = client.StorageV1Api(api)
        self.server = api.configuration.host

    def _read(self, what, function, *args, **kwargs):
        return _call(self.server, what, function, *args, **kwargs)

    def controller(self, namespace: str, rc) -> ControllerFacts:
        """The controller and the pods its selector matches, with the newest Warning of a few not-ready ones."""
        selector = label_selector(rc.spec.selector or pod_labels(rc.metadata.name))
        listed = self._read(f"pods {selector}", self.core.list_namespaced_pod, namespace, label_selector=selector)
        pods = [pod for pod in (listed.items if listed else []) if not pod.metadata.deletion_timestamp]
        facts = []
        events_read = 0
        for pod in sorted(pods, key=lambda item: item.metadata.name):
            warning = None
            plain = pod_facts(pod)
            if not plain.ready and events_read < EVENTS_PER_CONTROLLER:
                events_read += 1
                events = self._read(f"events of pod {pod.metadata.name}", self.core.list_namespaced_event, namespace,
                                    field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod.metadata.name}")
                warning = _newest_warning(events.items if events else [])
            facts.append(pod_facts(pod, warning))
        status = rc.status
        created = rc.metadata.creation_timestamp
        return ControllerFacts(
            replicas=rc.spec.replicas or 0, pods=tuple(facts), name=rc.metadata.name,
            template_hash=(rc.spec.selector or {}).get(TEMPLATE_HASH_LABEL),
            ready_replicas=(status.ready_replicas if status else None) or 0,
            available_replicas=(status.available_replicas if status else None) or 0,
            created=created.timestamp() if created else 0.0,
        )

    def app_controllers(self, namespace: str, app: str, declared_name: str | None
                        ) -> tuple[ControllerFacts | None, tuple[ControllerFacts, ...]]:
        """The stack's controller of the app and the others carrying the app's label."""
        selector = label_selector(pod_labels(app))
        listed = self._read(f"replicationcontrollers {selector}", self.core.list_namespaced_replication_controller,
                            namespace, label_selector=selector)
        found = {rc.metadata.name: rc for rc in (listed.items if listed else [])}
        # The declared one even without the label; a stack of the program before hashed names: the app's name.
        wanted = declared_name or (None if found else app)
        if wanted and wanted not in found:
            rc = self._read(f"replicationcontroller {namespace}/{wanted}",
                            self.core.read_namespaced_replication_controller, wanted, namespace)
            if rc is not None:
                found[wanted] = rc
        return declared_controller([self.controller(namespace, rc) for rc in found.values()], declared_name)

    def app_pods(self, namespace: str, app: str) -> tuple[PodFacts, ...]:
        selector = label_selector(pod_labels(app))
        listed = self._read(f"pods {selector}", self.core.list_namespaced_pod, namespace, label_selector=selector)
        return tuple(sorted((pod_facts(pod) for pod in (listed.items if listed else [])
                             if not pod.metadata.deletion_timestamp), key=lambda pod: pod.name))

    def fetch(self, target: Target, apps: tuple[str, ...]) -> KubeFacts:
        ns = target.namespace
        nodes = self._read("nodes", self.core.list_node)
        controllers, leftovers = {}, {}
        for app in apps:
            controllers[app], leftovers[app] = self.app_controllers(ns, app, target.controller_names.get(app))
        pvc = self._read(f"persistentvolumeclaim {ns}/{target.claim_name}",
                         self.core.read_namespaced_persistent_volume_claim, target.claim_name, ns)
        claim = volume = None
        if pvc is not None:
            claim = claim_facts(pvc)
            pv = (self._read(f"persistentvolume {pvc.spec.volume_name}", self.core.read_persistent_volume,
                             pvc.spec.volume_name) if pvc.spec.volume_name else None)
            if pv is not None:
                csi = pv.spec.csi
                volume = VolumeFacts(name=pv.metadata.name, driver=csi.driver if csi else None,
                                     volume_handle=csi.volume_handle if csi else None,
                                     capacity=_quantity(pv.spec.capacity))
        sc = self._read(f"storageclass {target.storage_class_name}", self.storage.read_storage_class,
                        target.storage_class_name)
        storage_class = (StorageClassFacts(name=sc.metadata.name, parameters=dict(sc.parameters or {}))
                         if sc else None)
        svc = self._read(f"service {ns}/{target.service_name}", self.core.read_namespaced_service,
                         target.service_name, ns)
        service = None
        if svc is not None:
            ingress = ((svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer else None)
                       or [None])[0]
            service = ServiceFacts(
                name=svc.metadata.name,
                type=svc.spec.type or "ClusterIP",
                ports=tuple(ServicePort(port=port.port, node_port=port.node_port, protocol=port.protocol or "TCP")
                            for port in (svc.spec.ports or [])),
                annotations=dict(svc.metadata.annotations or {}),
                ingress=(ingress.ip or ingress.hostname) if ingress else None,
            )
        return KubeFacts(nodes=tuple(node_facts(node) for node in (nodes.items if nodes else [])),
                         controllers=controllers, claim=claim, volume=volume, storage_class=storage_class,
                         service=service, leftover_controllers=leftovers,
                         app_pods={app: self.app_pods(ns, app) for app in apps})


def fetch_kube(target: Target, apps: tuple[str, ...]) -> KubeFacts:
    api = connect(target.kubeconfig, target.context)
    try:
        return KubeReader(api).fetch(target, apps)
    finally:
        api.close()
