"""The policies of the pack: the Devstack article's mistakes, caught at preview.

Each rule is a plain function over resource properties (as the engine passes them:
camelCase Kubernetes fields, the providers' input names) returning its violation
messages; the Policy objects at the bottom only wire them to CrossGuard.

Rules never raise, whatever the properties' shapes: they read them only through the
accessors below, which take any JSON-like value (and the engine's read-only Mapping /
Sequence proxies) and answer None or empty for a missing or wrongly typed field. A
wrongly typed field is kubernetes-schema-valid's to report, with its path; the other
rules then say nothing about it. A value unknown at preview still raises the engine's
UnknownValueError, which the engine itself reports as "can't run policy during preview".
"""

from __future__ import annotations

import functools
import os
import re
import traceback
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

import kubernetes_validate
from devstack_domain import (
    CINDER_CSI_DRIVER,
    CONTROL_PLANE_TAINTS,
    EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL,
    HEALTH_MONITOR_ANNOTATION,
    HOSTNAME_TOPOLOGY_KEY,
    MULTIATTACH_ENABLED,
    MULTIATTACH_EXTRA_SPEC,
    image_pin_problem,
)
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError


def _keep_schema_reads() -> None:
    """kubernetes-validate lists its schema folders and reads and parses the release's schema files
    (its 1.6 MB _definitions.json among them) on every validate(), and the pack validates every
    object of every preview and up: 50 ms an object. The files do not change while the pack runs,
    so each read is kept (a file that is missing raises again: lru_cache keeps no exception)."""
    utils = kubernetes_validate.utils
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.lru_cache(maxsize=32)(utils.schema_contents)
        utils.all_versions = functools.lru_cache(maxsize=1)(utils.all_versions)


_keep_schema_reads()

# The newest 1.36 release kubernetes-validate has schemas for; the lab's control plane is v1.36.3
# (patch releases do not change the API schemas).
KUBERNETES_VERSION_DEFAULT = "1.36.0"

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE = "kubernetes:core/v1:Service"
POD = "kubernetes:core/v1:Pod"
REPLICATION_CONTROLLER = "kubernetes:core/v1:ReplicationController"
WORKLOADS = (
    REPLICATION_CONTROLLER,
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"

# Marks the last-resort message of a rule that raised (a bug of the pack, never a user mistake).
RULE_FAILED = "could not run"


class _KubernetesObjectTypes:
    """Every Kubernetes object type token, kubernetes:<group>/<version>:<Kind> (providers excluded)."""

    def __contains__(self, resource_type: object) -> bool:
        return isinstance(resource_type, str) and resource_type.startswith("kubernetes:") \
            and resource_type.count(":") == 2


_KUBERNETES_TYPES = _KubernetesObjectTypes()


# --- reading properties: any JSON-like value in, never an exception out ---------------

def _at(value: Any, *path: str) -> Any:
    """The value at `path` (map keys, outermost first), or None when a step is missing or not a map."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence:
    return value if _is_list(value) else []


def _maps(value: Any) -> list[Mapping]:
    """The map items of a list (items of another type are the schema rule's to report)."""
    return [item for item in _list(value) if isinstance(item, Mapping)]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _int(value: Any) -> int | None:
    """An integer, also as the engine sends numbers (a float with no fraction); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _wrongly_typed(value: Any, *types: type) -> bool:
    """Present but of another type: the schema rule names it, the domain rules leave it alone."""
    return value is not None and not isinstance(value, types)


# Maps whose values are strings whatever they say: one unknown at preview (the claim's replacement
# token) is validated as a string rather than stopping the whole object's validation.
_STRING_MAPS = ("annotations", "labels")


def _plain(value: Any, key: Any = None) -> Any:
    """A JSON copy of engine properties; numbers arrive as floats, Kubernetes wants integers."""
    if isinstance(value, Mapping) and key in _STRING_MAPS:
        return {name: _string_or_unknown(value, name) for name in value}
    if isinstance(value, Mapping):
        return {name: _plain(item, name) for name, item in value.items()}
    if _is_list(value):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _string_or_unknown(mapping: Mapping, name: Any) -> Any:
    try:
        return _plain(mapping[name])
    except UnknownValueError:
        return ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shown(value: Any, limit: int = 120) -> str:
    """A user's value as a message shows it: its plain repr (one line: repr escapes newlines), cut short."""
    return _cut(repr(_plain(value)), limit)


def _name(props: Any) -> str:
    return _str(_at(props, "metadata", "name")) or "(unnamed)"


def _namespace(props: Any) -> str:
    return _str(_at(props, "metadata", "namespace")) or "default"


def _labels_match(selector: Mapping, labels: Mapping) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _label_selector_matches(selector: Mapping, labels: Mapping) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions, ANDed) selects these labels, as
    k8s.io/apimachinery pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector reads it. An empty one
    counts as no match: workload validation refuses it ("empty selector is invalid")."""
    match_labels = _map(selector.get("matchLabels"))
    expressions = _maps(selector.get("matchExpressions"))
    if not match_labels and not expressions:
        return False
    return all(labels.get(key) == value for key, value in match_labels.items()) \
        and all(_requirement_holds(expression, labels) for expression in expressions)


def _malformed_label_selector(selector: Any) -> bool:
    """A LabelSelector of the wrong shape: the schema rule names it, the domain rules leave it alone."""
    expressions = _at(selector, "matchExpressions")
    return _wrongly_typed(selector, Mapping) or _wrongly_typed(_at(selector, "matchLabels"), Mapping) \
        or (expressions is not None and not _is_list(expressions))


def _requirement_holds(expression: Mapping, labels: Mapping) -> bool:
    key, operator, values = _str(expression.get("key")), expression.get("operator"), _strings(expression.get("values"))
    present = key is not None and key in labels
    if operator == "In":
        return present and labels.get(key) in values
    if operator == "NotIn":
        return not present or labels.get(key) not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return False  # not an operator: the API server refuses the selector


def pod_template(resource_type: str, props: Any) -> tuple[Mapping, Mapping]:
    """(labels, pod spec) of a workload's template, or of a Pod itself."""
    if resource_type == POD:
        return _map(_at(props, "metadata", "labels")), _map(_at(props, "spec"))
    template = _at(props, "spec", "template")
    return _map(_at(template, "metadata", "labels")), _map(_at(template, "spec"))


def containers(pod: Mapping) -> list[Mapping]:
    return [*_maps(pod.get("initContainers")), *_maps(pod.get("containers"))]


def _claims_of(pod: Mapping) -> list[str]:
    return [name for volume in _maps(pod.get("volumes"))
            if (name := _str(_at(volume, "persistentVolumeClaim", "claimName")))]


def _multiattach_value(props: Any) -> Any:
    return _at(props, "extraSpecs", MULTIATTACH_EXTRA_SPEC)


# --- policy config: checked like the properties, a malformed one is named ---------------

def provisioner_config_problem(config: Any) -> str | None:
    """Why allowedProvisioners is not a list of provisioner names, or None when it is (or is unset)."""
    allowed = _at(config, "allowedProvisioners")
    if allowed is None or (_is_list(allowed) and all(isinstance(name, str) and name for name in allowed)):
        return None
    return (f"policy config allowedProvisioners = {_shown(allowed)} is not a list of StorageClass provisioner "
            f"names: use e.g. [\"{CINDER_CSI_DRIVER}\"]")


def _allowed_provisioners(config: Any) -> list[str]:
    return _strings(_at(config, "allowedProvisioners")) or [CINDER_CSI_DRIVER]


# --- resource rules: (props, policy config) -> messages ------------------------------

def multiattach_extra_spec(props: Any, _config: Any) -> list[str]:
    specs = _map(_at(props, "extraSpecs"))
    problems = []
    for key in specs:  # only the multiattach spec's value is read: another may be unknown at preview
        if isinstance(key, str) and key.lower() == MULTIATTACH_EXTRA_SPEC \
                and (key != MULTIATTACH_EXTRA_SPEC or specs[key] != MULTIATTACH_ENABLED):
            problems.append(
                f"volume type {_shown(_at(props, 'name'))} has extra spec {key}={_shown(specs[key])}, which Cinder "
                f"does not read as multi-attach: set exactly multiattach=\"{MULTIATTACH_ENABLED}\" (with \"<is>\" "
                f"and a capital T), e.g. extra_specs={{\"multiattach\": \"{MULTIATTACH_ENABLED}\"}}"
            )
    return problems


def csi_provisioner(props: Any, config: Any) -> list[str]:
    config_problem = provisioner_config_problem(config)
    if config_problem:
        return [config_problem]
    provisioner = _str(_at(props, "provisioner")) or ""
    allowed = _allowed_provisioners(config)
    if "cinder" not in provisioner.lower() or provisioner in allowed:
        return []
    if provisioner == "kubernetes.io/cinder":
        why = "the retired in-tree Cinder provisioner (removed in Kubernetes 1.26; nothing provisions for it)"
    else:
        why = "not an allowed Cinder provisioner"
    return [f"StorageClass {_name(props)!r} uses provisioner {provisioner!r}, {why}: "
            f"use the Cinder CSI driver {CINDER_CSI_DRIVER!r} (allowed: {', '.join(allowed)})"]


def selector_matches_template(resource_type: str, props: Any) -> list[str]:
    labels, _ = pod_template(resource_type, props)
    selector = _at(props, "spec", "selector")
    if resource_type == REPLICATION_CONTROLLER:
        # An empty or absent RC selector defaults to the template's labels
        # (kubernetes/kubernetes pkg/apis/core/v1/defaults.go, SetDefaults_ReplicationController).
        if selector is None or (isinstance(selector, Mapping) and not selector):
            selector = labels
        if _wrongly_typed(selector, Mapping) or _labels_match(selector, labels):
            return []
    elif _malformed_label_selector(selector) or _label_selector_matches(_map(selector), labels):
        return []
    return [f"{resource_type.rsplit(':', 1)[-1]} {_name(props)!r} selects {_shown(_map(selector))} but its pod "
            f"template is labelled {_shown(labels)}: it would never own its pods; make every selector "
            f"label appear in spec.template.metadata.labels"]


def images_pinned(resource_type: str, props: Any) -> list[str]:
    _, pod = pod_template(resource_type, props)
    problems = []
    for container in containers(pod):
        image = container.get("image")
        if _wrongly_typed(image, str):
            continue
        image = image or ""
        problem = image_pin_problem(image)
        if problem:
            problems.append(f"container {_shown(container.get('name'))} of {_name(props)!r}: image {image!r} "
                            f"{problem}; pin a tag (nginx:1.27.4) or a digest (nginx@sha256:...) so every node "
                            f"runs the same code")
    return problems


def resource_limits(resource_type: str, props: Any) -> list[str]:
    _, pod = pod_template(resource_type, props)
    problems = []
    for container in containers(pod):
        limits = _map(_at(container, "resources", "limits"))
        missing = [kind for kind in ("cpu", "memory") if limits.get(kind) is None]  # null is unset
        if missing:
            problems.append(f"container {_shown(container.get('name'))} of {_name(props)!r} has no "
                            f"{' or '.join(missing)} limit: one runaway pod can starve the node; set resources.limits")
    return problems


def health_monitor(props: Any) -> list[str]:
    # The cloud controller enables the monitor for exactly "true"; any other value falls back to the
    # cloud config's default (cloud-provider-openstack pkg/openstack/loadbalancer.go,
    # getBoolFromServiceAnnotation).
    if _at(props, "spec", "type") != "LoadBalancer" \
            or _at(props, "metadata", "annotations", HEALTH_MONITOR_ANNOTATION) == "true":
        return []
    return [f"LoadBalancer Service {_name(props)!r} has no Octavia health monitor: connections to a dead node "
            f"keep failing; add the annotation {HEALTH_MONITOR_ANNOTATION}: \"true\" (exactly, in lower case) "
            f"(config loadBalancerAnnotations)"]


def traffic_policy_cluster(props: Any) -> list[str]:
    spec = _map(_at(props, "spec"))
    if spec.get("type") != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
        return []
    return [f"LoadBalancer Service {_name(props)!r} has externalTrafficPolicy Local: nodes labelled "
            f"{EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL} (kubeadm's control plane) are never Octavia members, "
            f"so their pods get no traffic, and members without a local pod drop connections; use Cluster"]


_KUBERNETES_VERSION = re.compile(r"1\.\d{1,3}(\.\d{1,3})?")


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def kubernetes_version_problem(version: Any) -> str | None:
    """Why kubernetes-validate cannot check objects against `version`, or None when it can."""
    known = sorted({_major_minor(v) for v in kubernetes_validate.utils.all_versions()},
                   key=lambda v: tuple(map(int, v.split("."))))
    if isinstance(version, str) and _KUBERNETES_VERSION.fullmatch(version) and _major_minor(version) in known:
        return None
    return (f"policy config kubernetes-schema-valid.kubernetesVersion = {_shown(version)} is not a Kubernetes "
            f"release kubernetes-validate has schemas for: use major.minor[.patch] within {known[0]} to {known[-1]}")


def kubernetes_schema_problems(resource_type: str, props: Any, config: Any) -> list[str]:
    """Strict validation (unknown fields too) against the Kubernetes release's own schemas.

    Patch resources are partial by design and custom resources have no built-in schema:
    both are left alone. apiVersion and kind come from the type token (the SDK sets the
    same constants); a property that says otherwise is named.
    """
    group_version, kind = resource_type.split(":")[1:]
    if kind.endswith("Patch"):
        return []
    version = _at(config, "kubernetesVersion")
    version = KUBERNETES_VERSION_DEFAULT if version is None else version
    problem = kubernetes_version_problem(version)
    if problem:
        return [problem]
    identity = {"apiVersion": group_version.removeprefix("core/"), "kind": kind}
    for field, expected in identity.items():
        given = _at(props, field)
        if given is not None and given != expected:
            return [f"{kind} {_name(props)!r} has {field} {_shown(given)}, but its resource type {resource_type} "
                    f"means {expected!r}: drop the field or make it {expected!r}"]
    manifest = {**_map(_plain(props)), **identity}
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return []
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        return [_one_line(f"{kind} {_name(props)!r} is not a valid Kubernetes {version} object: {where}: "
                          f"{_cut(error.message, 300)}; fix the field, or set kubernetesVersion in this policy's "
                          f"config to the cluster's release")]
    return []


# --- stack rules: (resources, policy config) -> (message, urn or None for the stack) ---

def _of_type(resources: Iterable, *types: str) -> list:
    return [r for r in resources if r.resource_type in types]


def _cinder_classes(resources: Iterable, config: Any) -> dict[str, Any]:
    allowed = _allowed_provisioners(config)
    return {_name(sc.props): sc for sc in _of_type(resources, STORAGE_CLASS)
            if _str(_at(sc.props, "provisioner")) in allowed}


def _claim_modes(claim) -> set[str]:
    return set(_strings(_at(claim.props, "spec", "accessModes")))


def rwx_claim_on_multiattach_type(resources: Sequence, config: Any) -> list[tuple[str, str | None]]:
    config_problem = provisioner_config_problem(config)
    if config_problem:
        return [(config_problem, None)]
    classes = _cinder_classes(resources, config)
    types = {name: vt for vt in _of_type(resources, VOLUME_TYPE) if (name := _str(_at(vt.props, "name")))}
    problems: list[tuple[str, str | None]] = []
    for claim in _of_type(resources, CLAIM):
        if "ReadWriteMany" not in _claim_modes(claim):
            continue
        class_name = _str(_at(claim.props, "spec", "storageClassName"))
        storage_class = classes.get(class_name) if class_name else None
        if storage_class is None:
            continue  # not a Cinder class declared here: nothing to check against
        type_name = _at(storage_class.props, "parameters", "type")
        if _wrongly_typed(type_name, str):
            continue
        volume_type = types.get(type_name) if type_name else None
        if volume_type is not None and _multiattach_value(volume_type.props) == MULTIATTACH_ENABLED:
            continue
        if not type_name:
            found = "names no volume type, so Cinder's default (single-attach) type is used"
        elif volume_type is None:
            found = f"names volume type {type_name!r}, which this stack does not declare"
        else:
            found = (f"names volume type {type_name!r}, whose multiattach spec is "
                     f"{_shown(_multiattach_value(volume_type.props))}")
        problems.append((
            f"claim {_name(claim.props)!r} is ReadWriteMany but StorageClass {class_name!r} {found}: "
            f"pods on a second node would fail to attach; declare a volume type with "
            f"multiattach=\"{MULTIATTACH_ENABLED}\" in this stack and name it in the class's parameters.type",
            claim.urn,
        ))
    return problems


def _tolerates_control_plane(pod: Mapping) -> bool:
    for toleration in _maps(pod.get("tolerations")):
        key, effect = toleration.get("key"), toleration.get("effect")
        if (key in CONTROL_PLANE_TAINTS or (not key and toleration.get("operator") == "Exists")) \
                and effect in (None, "", "NoSchedule"):
            return True
    return False


def _spreads_over_hosts(pod: Mapping) -> bool:
    spread = any(c.get("topologyKey") == HOSTNAME_TOPOLOGY_KEY for c in _maps(pod.get("topologySpreadConstraints")))
    anti = _map(_at(pod, "affinity", "podAntiAffinity"))
    preferred = _maps(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))
    terms = [*_maps(anti.get("requiredDuringSchedulingIgnoredDuringExecution")),
             *[_map(t.get("podAffinityTerm")) for t in preferred]]
    return spread or any(t.get("topologyKey") == HOSTNAME_TOPOLOGY_KEY for t in terms)


def _kept_on_one_node(pod: Mapping, labels: Mapping) -> bool:
    """A required pod affinity to its own pods on the same host keeps them together."""
    return any(
        term.get("topologyKey") == HOSTNAME_TOPOLOGY_KEY
        and _label_selector_matches(_map(term.get("labelSelector")), labels)
        for term in _maps(_at(pod, "affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"))
    )


def _replicas(workload) -> tuple[bool, int | None]:
    """(known, count): a DaemonSet runs one pod per node (None); an unset count means 1
    (SetDefaults_ReplicationController and the apps/v1 defaults); a wrongly typed one is not known."""
    if workload.resource_type == DAEMON_SET:
        return True, None
    replicas = _at(workload.props, "spec", "replicas")
    if replicas is None:
        return True, 1
    count = _int(replicas)
    return count is not None, count


def rwo_claim_on_one_node(resources: Sequence, _config: Any) -> list[tuple[str, str | None]]:
    single_attach = {
        (_namespace(c.props), _name(c.props))
        for c in _of_type(resources, CLAIM)
        if _claim_modes(c) and _claim_modes(c) <= {"ReadWriteOnce", "ReadWriteOncePod"}
    }
    problems: list[tuple[str, str | None]] = []
    for workload in _of_type(resources, *WORKLOADS):
        known, replicas = _replicas(workload)
        if not known or (replicas is not None and replicas <= 1):
            continue
        labels, pod = pod_template(workload.resource_type, workload.props)
        reasons = [why for why, applies in (("tolerates the control-plane taint", _tolerates_control_plane(pod)),
                                            ("spreads over hosts", _spreads_over_hosts(pod))) if applies]
        if not reasons or _kept_on_one_node(pod, labels):
            continue
        pods = "one pod per node" if replicas is None else f"{replicas} pods"
        for claim_name in _claims_of(pod):
            if (_namespace(workload.props), claim_name) in single_attach:
                problems.append((
                    f"{_name(workload.props)!r} runs {pods} that may land on several nodes "
                    f"({' and '.join(reasons)}) but mounts the ReadWriteOnce claim {claim_name!r}: a Cinder volume "
                    f"attaches to one node, so pods elsewhere hang in \"Multi-Attach error\". Use a multi-attach "
                    f"volume type with a ReadWriteMany claim, keep the pods on one node (required podAffinity on "
                    f"{HOSTNAME_TOPOLOGY_KEY}), or run one replica",
                    workload.urn,
                ))
    return problems


def _exposes(pod: Mapping, target: str | int) -> bool:
    for container in containers(pod):
        for port in _maps(container.get("ports")):
            if (isinstance(target, str) and port.get("name") == target) or \
                    (isinstance(target, int) and _int(port.get("containerPort")) == target):
                return True
    return False


def _target_port(port: Mapping) -> str | int | None:
    """The port's targetPort (a number or a port name), by default its port; None when wrongly typed."""
    target = port.get("targetPort")
    target = port.get("port") if target is None else target
    return target if isinstance(target, str) else _int(target)


def load_balancer_selects_pods(resources: Sequence, _config: Any) -> list[tuple[str, str | None]]:
    pods_by_namespace: dict[str, list[tuple[Mapping, Mapping]]] = {}
    for workload in _of_type(resources, *WORKLOADS, POD):
        pods_by_namespace.setdefault(_namespace(workload.props), []).append(
            pod_template(workload.resource_type, workload.props))
    problems: list[tuple[str, str | None]] = []
    for service in _of_type(resources, SERVICE):
        spec = _map(_at(service.props, "spec"))
        if spec.get("type") != "LoadBalancer" or _wrongly_typed(spec.get("selector"), Mapping):
            continue
        selector = _map(spec.get("selector"))
        name, namespace = _name(service.props), _namespace(service.props)
        selected = [pod for labels, pod in pods_by_namespace.get(namespace, []) if _labels_match(selector, labels)]
        if not selected:
            problems.append((f"LoadBalancer Service {name!r} selects {_shown(selector)}, but no workload of this "
                             f"stack in namespace {namespace!r} has pods with those labels: Octavia would balance "
                             f"to no endpoint; make spec.selector match the pod template labels", service.urn))
            continue
        for port in _maps(spec.get("ports")):
            target = _target_port(port)
            if target is not None and not any(_exposes(pod, target) for pod in selected):
                problems.append((f"LoadBalancer Service {name!r} port {_shown(port.get('port'))} targets "
                                 f"{target!r}, which no container of the selected pods exposes: set targetPort to "
                                 f"a containerPort (or port name) of those pods", service.urn))
    return problems


def rwx_filesystem_corruption_risk(resources: Sequence, config: Any) -> list[tuple[str, str | None]]:
    config_problem = provisioner_config_problem(config)
    if config_problem:
        return [(config_problem, None)]
    classes = _cinder_classes(resources, config)
    problems: list[tuple[str, str | None]] = []
    for claim in _of_type(resources, CLAIM):
        spec = _map(_at(claim.props, "spec"))
        volume_mode = spec.get("volumeMode")
        if "ReadWriteMany" in _claim_modes(claim) and volume_mode in (None, "Filesystem") \
                and _str(spec.get("storageClassName")) in classes:
            problems.append((f"claim {_name(claim.props)!r} mounts one multi-attach Cinder volume as a filesystem "
                             f"(ext4 by default) on several nodes: ext4 is not cluster-aware, so a second writer, "
                             f"or kubelets formatting the fresh volume on two nodes at once, corrupts it. Use "
                             f"volumeMode: Block (raw device, no filesystem), a cluster filesystem, or a "
                             f"ReadWriteOnce claim", claim.urn))
    return problems


# --- CrossGuard wiring ---------------------------------------------------------------

def rule_failed_message(policy_name: str, subject: str, error: Exception) -> str:
    """The last resort when a rule raises: a violation naming the rule and what it was checking, so
    one bug fails this policy for that resource instead of the whole analysis."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return _one_line(f"policy {policy_name!r} {RULE_FAILED} on {subject} ({type(error).__name__}: "
                     f"{_cut(str(error), 200)}{where}): a bug of the policy pack, not of the stack; please report it. "
                     f"This resource was not checked by this policy")


_PROVISIONER_CONFIG = PolicyConfigSchema(properties={
    "allowedProvisioners": {
        "type": "array",
        "items": {"type": "string"},
        "default": [CINDER_CSI_DRIVER],
        "description": "StorageClass provisioners accepted for Cinder volumes.",
    },
})


def _resource_policy(name: str, description: str, types: Container[str], check, *,
                     enforcement: EnforcementLevel | None = None,
                     config_schema: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        if args.resource_type not in types:
            return
        try:
            messages = check(args.resource_type, args.props, args.get_config())
        except UnknownValueError:
            raise  # the engine reports it: "can't run policy ... during preview"
        except Exception as error:  # last resort: reported as this policy's violation, never swallowed
            messages = [rule_failed_message(name, args.urn or args.name or args.resource_type, error)]
        for message in messages:
            report_violation(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=enforcement, config_schema=config_schema)


def _stack_policy(name: str, description: str, check, *, enforcement: EnforcementLevel | None = None,
                  config_schema: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    def validate(args, report_violation):
        try:
            problems = check(args.resources, args.get_config())
        except UnknownValueError:
            raise  # the engine reports it: "can't run policy ... during preview"
        except Exception as error:  # last resort: reported as this policy's violation, never swallowed
            problems = [(rule_failed_message(name, "the stack", error), None)]
        for message, urn in problems:
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=enforcement, config_schema=config_schema)


ADVISORY = EnforcementLevel.ADVISORY

_KUBERNETES_VERSION_CONFIG = PolicyConfigSchema(properties={
    "kubernetesVersion": {
        "type": "string",
        "default": KUBERNETES_VERSION_DEFAULT,
        "description": "Kubernetes release (major.minor[.patch]) whose API schemas every object must match.",
    },
})

POLICIES = [
    _resource_policy("cinder-multiattach-extra-spec",
                     'A volume type\'s multiattach extra spec is exactly "<is> True".',
                     [VOLUME_TYPE], lambda _t, props, config: multiattach_extra_spec(props, config)),
    _resource_policy("cinder-csi-provisioner",
                     "A StorageClass for Cinder uses the CSI driver cinder.csi.openstack.org.",
                     [STORAGE_CLASS], lambda _t, props, config: csi_provisioner(props, config),
                     config_schema=_PROVISIONER_CONFIG),
    _stack_policy("rwx-claim-on-multiattach-type",
                  "A ReadWriteMany Cinder claim's class names a multi-attach volume type declared in the stack.",
                  rwx_claim_on_multiattach_type, config_schema=_PROVISIONER_CONFIG),
    _stack_policy("rwo-claim-on-one-node",
                  "Pods that may land on several nodes do not share a ReadWriteOnce claim (Multi-Attach error).",
                  rwo_claim_on_one_node),
    _resource_policy("workload-selector-matches-template",
                     "A workload's selector matches its pod template's labels.",
                     WORKLOADS, lambda t, props, _c: selector_matches_template(t, props)),
    _stack_policy("load-balancer-selects-workload-pods",
                  "A LoadBalancer Service selects pods of a workload in the stack, on a port they expose.",
                  load_balancer_selects_pods),
    _resource_policy("kubernetes-schema-valid",
                     "Every Kubernetes object matches its API schema, strictly, for the cluster's release.",
                     _KUBERNETES_TYPES, kubernetes_schema_problems, config_schema=_KUBERNETES_VERSION_CONFIG),
    _resource_policy("image-pinned", "Container images are pinned to a tag or digest, never latest or untagged.",
                     [*WORKLOADS, POD], lambda t, props, _c: images_pinned(t, props)),
    _stack_policy("rwx-filesystem-corruption-risk",
                  "Advisory: a filesystem on a multi-attach volume mounted on several nodes risks corruption.",
                  rwx_filesystem_corruption_risk, enforcement=ADVISORY, config_schema=_PROVISIONER_CONFIG),
    _resource_policy("container-resource-limits", "Advisory: containers set CPU and memory limits.",
                     [*WORKLOADS, POD], lambda t, props, _c: resource_limits(t, props), enforcement=ADVISORY),
    _resource_policy("load-balancer-health-monitor",
                     "Advisory: a LoadBalancer Service asks Octavia for a health monitor.",
                     [SERVICE], lambda _t, props, _c: health_monitor(props), enforcement=ADVISORY),
    _resource_policy("load-balancer-traffic-policy-cluster",
                     "Advisory: a LoadBalancer Service keeps externalTrafficPolicy Cluster.",
                     [SERVICE], lambda _t, props, _c: traffic_policy_cluster(props), enforcement=ADVISORY),
]
