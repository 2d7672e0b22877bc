"""The policies of the pack: the Devstack article's mistakes, caught at preview.

Each rule is a plain function over resource properties (as the engine passes them:
camelCase Kubernetes fields, the providers' input names) returning its violation
messages; the Policy objects at the bottom only wire them to CrossGuard. The engine
hands properties as read-only Mapping/Sequence proxies, hence the abc checks.
"""

from __future__ import annotations

import re
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

# The newest 1.36 release kubernetes-validate has schemas for; the lab's control plane is v1.36.3
# (patch releases do not change the API schemas).
KUBERNETES_VERSION_DEFAULT = "1.36.0"

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
SERVICE = "kubernetes:core/v1:Service"
POD = "kubernetes:core/v1:Pod"
WORKLOADS = (
    "kubernetes:core/v1:ReplicationController",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"


class _KubernetesObjectTypes:
    """Every Kubernetes object type token, kubernetes:<group>/<version>:<Kind> (providers excluded)."""

    def __contains__(self, resource_type: object) -> bool:
        return isinstance(resource_type, str) and resource_type.startswith("kubernetes:") \
            and resource_type.count(":") == 2


_KUBERNETES_TYPES = _KubernetesObjectTypes()


# --- reading properties -------------------------------------------------------------

def _map(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


def _name(props: Mapping) -> str:
    return _map(props.get("metadata")).get("name") or "(unnamed)"


def _namespace(props: Mapping) -> str:
    return _map(props.get("metadata")).get("namespace") or "default"


def _labels_match(selector: Mapping, labels: Mapping) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def pod_template(resource_type: str, props: Mapping) -> tuple[Mapping, Mapping]:
    """(labels, pod spec) of a workload's template, or of a Pod itself."""
    if resource_type == POD:
        return _map(_map(props.get("metadata")).get("labels")), _map(props.get("spec"))
    template = _map(_map(props.get("spec")).get("template"))
    return _map(_map(template.get("metadata")).get("labels")), _map(template.get("spec"))


def containers(pod: Mapping) -> list[Mapping]:
    return [_map(c) for c in [*_list(pod.get("initContainers")), *_list(pod.get("containers"))]]


def _claims_of(pod: Mapping) -> list[str]:
    return [
        _map(volume.get("persistentVolumeClaim")).get("claimName")
        for volume in map(_map, _list(pod.get("volumes")))
        if volume.get("persistentVolumeClaim")
    ]


def _multiattach_value(props: Mapping) -> str | None:
    return _map(props.get("extraSpecs")).get(MULTIATTACH_EXTRA_SPEC)


# --- resource rules: (props, policy config) -> messages ------------------------------

def multiattach_extra_spec(props: Mapping, _config: Mapping) -> list[str]:
    problems = []
    for key, value in _map(props.get("extraSpecs")).items():
        if key.lower() == MULTIATTACH_EXTRA_SPEC and (key != MULTIATTACH_EXTRA_SPEC or value != MULTIATTACH_ENABLED):
            problems.append(
                f"volume type {props.get('name')!r} has extra spec {key}={value!r}, which Cinder does not "
                f"read as multi-attach: set exactly multiattach=\"{MULTIATTACH_ENABLED}\" (with \"<is>\" and a "
                f"capital T), e.g. extra_specs={{\"multiattach\": \"{MULTIATTACH_ENABLED}\"}}"
            )
    return problems


def csi_provisioner(props: Mapping, config: Mapping) -> list[str]:
    provisioner = props.get("provisioner") or ""
    allowed = list(config.get("allowedProvisioners") or [CINDER_CSI_DRIVER])
    if "cinder" not in provisioner.lower() or provisioner in allowed:
        return []
    if provisioner == "kubernetes.io/cinder":
        why = "the retired in-tree Cinder provisioner (removed in Kubernetes 1.26; nothing provisions for it)"
    else:
        why = "not an allowed Cinder provisioner"
    return [f"StorageClass {_name(props)!r} uses provisioner {provisioner!r}, {why}: "
            f"use the Cinder CSI driver {CINDER_CSI_DRIVER!r} (allowed: {', '.join(allowed)})"]


def selector_matches_template(resource_type: str, props: Mapping) -> list[str]:
    labels, _ = pod_template(resource_type, props)
    selector = _map(props.get("spec")).get("selector")
    if resource_type == "kubernetes:core/v1:ReplicationController":
        selector = selector if selector is not None else labels  # an absent RC selector defaults to the labels
    else:
        selector = _map(_map(selector).get("matchLabels"))
    if _labels_match(_map(selector), labels):
        return []
    return [f"{resource_type.rsplit(':', 1)[-1]} {_name(props)!r} selects {dict(_map(selector))} but its pod "
            f"template is labelled {dict(labels)}: it would never own its pods; make every selector "
            f"label appear in spec.template.metadata.labels"]


def images_pinned(resource_type: str, props: Mapping) -> list[str]:
    _, pod = pod_template(resource_type, props)
    problems = []
    for container in containers(pod):
        image = container.get("image") or ""
        problem = image_pin_problem(image)
        if problem:
            problems.append(f"container {container.get('name')!r} of {_name(props)!r}: image {image!r} {problem}; "
                            f"pin a tag (nginx:1.27.4) or a digest (nginx@sha256:...) so every node runs the same code")
    return problems


def resource_limits(resource_type: str, props: Mapping) -> list[str]:
    _, pod = pod_template(resource_type, props)
    problems = []
    for container in containers(pod):
        limits = _map(_map(container.get("resources")).get("limits"))
        missing = [kind for kind in ("cpu", "memory") if kind not in limits]
        if missing:
            problems.append(f"container {container.get('name')!r} of {_name(props)!r} has no {' or '.join(missing)} "
                            f"limit: one runaway pod can starve the node; set resources.limits")
    return problems


def health_monitor(props: Mapping) -> list[str]:
    spec = _map(props.get("spec"))
    annotations = _map(_map(props.get("metadata")).get("annotations"))
    if spec.get("type") != "LoadBalancer" or str(annotations.get(HEALTH_MONITOR_ANNOTATION, "")).lower() == "true":
        return []
    return [f"LoadBalancer Service {_name(props)!r} has no Octavia health monitor: connections to a dead node "
            f"keep failing; add the annotation {HEALTH_MONITOR_ANNOTATION}: \"true\" "
            f"(config loadBalancerAnnotations)"]


def traffic_policy_cluster(props: Mapping) -> list[str]:
    spec = _map(props.get("spec"))
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
    return (f"policy config kubernetes-schema-valid.kubernetesVersion = {version!r} is not a Kubernetes release "
            f"kubernetes-validate has schemas for: use major.minor[.patch] within {known[0]} to {known[-1]}")


def _plain(value: Any) -> Any:
    """A JSON copy of engine properties; numbers arrive as floats, Kubernetes wants integers."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def kubernetes_schema_problems(resource_type: str, props: Mapping, config: Mapping) -> list[str]:
    """Strict validation (unknown fields too) against the Kubernetes release's own schemas.

    Patch resources are partial by design and custom resources have no built-in schema:
    both are left alone.
    """
    group_version, kind = resource_type.split(":")[1:]
    if kind.endswith("Patch"):
        return []
    version = config.get("kubernetesVersion") or KUBERNETES_VERSION_DEFAULT
    problem = kubernetes_version_problem(version)
    if problem:
        return [problem]
    manifest = _plain(props)
    manifest.setdefault("apiVersion", group_version.removeprefix("core/"))
    manifest.setdefault("kind", kind)
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return []
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "the top level"
        return [f"{kind} {_name(props)!r} is not a valid Kubernetes {version} object: {error.message} "
                f"(at {where}); fix the field, or set kubernetesVersion in this policy's config to the "
                f"cluster's release"]
    return []


# --- stack rules: (resources, policy config) -> (message, urn) ------------------------

def _of_type(resources: Iterable, *types: str) -> list:
    return [r for r in resources if r.resource_type in types]


def _cinder_classes(resources: Iterable, config: Mapping) -> dict[str, Any]:
    allowed = set(config.get("allowedProvisioners") or [CINDER_CSI_DRIVER])
    return {_name(sc.props): sc for sc in _of_type(resources, STORAGE_CLASS) if sc.props.get("provisioner") in allowed}


def _claim_modes(claim) -> set[str]:
    return set(_list(_map(claim.props.get("spec")).get("accessModes")))


def rwx_claim_on_multiattach_type(resources: Sequence, config: Mapping) -> list[tuple[str, str]]:
    classes = _cinder_classes(resources, config)
    types = {vt.props.get("name"): vt for vt in _of_type(resources, VOLUME_TYPE)}
    problems = []
    for claim in _of_type(resources, CLAIM):
        if "ReadWriteMany" not in _claim_modes(claim):
            continue
        class_name = _map(claim.props.get("spec")).get("storageClassName")
        storage_class = classes.get(class_name)
        if storage_class is None:
            continue  # not a Cinder class declared here: nothing to check against
        type_name = _map(storage_class.props.get("parameters")).get("type")
        volume_type = types.get(type_name)
        if volume_type is not None and _multiattach_value(volume_type.props) == MULTIATTACH_ENABLED:
            continue
        if not type_name:
            found = "names no volume type, so Cinder's default (single-attach) type is used"
        elif volume_type is None:
            found = f"names volume type {type_name!r}, which this stack does not declare"
        else:
            found = f"names volume type {type_name!r}, whose multiattach spec is {_multiattach_value(volume_type.props)!r}"
        problems.append((
            f"claim {_name(claim.props)!r} is ReadWriteMany but StorageClass {class_name!r} {found}: "
            f"pods on a second node would fail to attach; declare a volume type with "
            f"multiattach=\"{MULTIATTACH_ENABLED}\" in this stack and name it in the class's parameters.type",
            claim.urn,
        ))
    return problems


def _tolerates_control_plane(pod: Mapping) -> bool:
    for toleration in map(_map, _list(pod.get("tolerations"))):
        key, effect = toleration.get("key"), toleration.get("effect")
        if (key in CONTROL_PLANE_TAINTS or (not key and toleration.get("operator") == "Exists")) \
                and effect in (None, "", "NoSchedule"):
            return True
    return False


def _spreads_over_hosts(pod: Mapping) -> bool:
    spread = any(_map(c).get("topologyKey") == HOSTNAME_TOPOLOGY_KEY for c in _list(pod.get("topologySpreadConstraints")))
    anti = _map(_map(pod.get("affinity")).get("podAntiAffinity"))
    terms = [*_list(anti.get("requiredDuringSchedulingIgnoredDuringExecution")),
             *[_map(t).get("podAffinityTerm") for t in _list(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))]]
    return spread or any(_map(t).get("topologyKey") == HOSTNAME_TOPOLOGY_KEY for t in terms)


def _kept_on_one_node(pod: Mapping, labels: Mapping) -> bool:
    """A required pod affinity to its own pods on the same host keeps them together."""
    affinity = _map(_map(pod.get("affinity")).get("podAffinity"))
    return any(
        _map(term).get("topologyKey") == HOSTNAME_TOPOLOGY_KEY
        and _labels_match(_map(_map(_map(term).get("labelSelector")).get("matchLabels")), labels)
        for term in _list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    )


def rwo_claim_on_one_node(resources: Sequence, _config: Mapping) -> list[tuple[str, str]]:
    single_attach = {
        (_namespace(c.props), _name(c.props)): c
        for c in _of_type(resources, CLAIM)
        if _claim_modes(c) and _claim_modes(c) <= {"ReadWriteOnce", "ReadWriteOncePod"}
    }
    problems = []
    for workload in _of_type(resources, *WORKLOADS):
        labels, pod = pod_template(workload.resource_type, workload.props)
        replicas = None if workload.resource_type == DAEMON_SET else _map(workload.props.get("spec")).get("replicas", 1)
        many = replicas is None or replicas > 1
        reasons = [why for why, applies in (("tolerates the control-plane taint", _tolerates_control_plane(pod)),
                                            ("spreads over hosts", _spreads_over_hosts(pod))) if applies]
        if not many or not reasons or _kept_on_one_node(pod, labels):
            continue
        for claim_name in _claims_of(pod):
            if (_namespace(workload.props), claim_name) in single_attach:
                problems.append((
                    f"{_name(workload.props)!r} runs {'one pod per node' if replicas is None else f'{replicas:g} pods'} that may land on several nodes "
                    f"({' and '.join(reasons)}) but mounts the ReadWriteOnce claim {claim_name!r}: a Cinder volume "
                    f"attaches to one node, so pods elsewhere hang in \"Multi-Attach error\". Use a multi-attach "
                    f"volume type with a ReadWriteMany claim, keep the pods on one node (required podAffinity on "
                    f"{HOSTNAME_TOPOLOGY_KEY}), or run one replica",
                    workload.urn,
                ))
    return problems


def _exposes(pod: Mapping, target: Any) -> bool:
    for container in containers(pod):
        for port in map(_map, _list(container.get("ports"))):
            if (isinstance(target, str) and port.get("name") == target) or \
                    (not isinstance(target, str) and port.get("containerPort") == target):
                return True
    return False


def load_balancer_selects_pods(resources: Sequence, _config: Mapping) -> list[tuple[str, str]]:
    pods_by_namespace: dict[str, list[tuple[Mapping, Mapping]]] = {}
    for workload in _of_type(resources, *WORKLOADS, POD):
        pods_by_namespace.setdefault(_namespace(workload.props), []).append(
            pod_template(workload.resource_type, workload.props))
    problems = []
    for service in _of_type(resources, SERVICE):
        spec = _map(service.props.get("spec"))
        if spec.get("type") != "LoadBalancer":
            continue
        selector = _map(spec.get("selector"))
        name = _name(service.props)
        selected = [pod for labels, pod in pods_by_namespace.get(_namespace(service.props), [])
                    if _labels_match(selector, labels)]
        if not selected:
            problems.append((f"LoadBalancer Service {name!r} selects {dict(selector)}, but no workload of this stack "
                             f"in namespace {_namespace(service.props)!r} has pods with those labels: Octavia would "
                             f"balance to no endpoint; make spec.selector match the pod template labels", service.urn))
            continue
        for port in map(_map, _list(spec.get("ports"))):
            target = port.get("targetPort", port.get("port"))
            if not any(_exposes(pod, target) for pod in selected):
                problems.append((f"LoadBalancer Service {name!r} port {port.get('port')} targets {target!r}, which no "
                                 f"container of the selected pods exposes: set targetPort to a containerPort (or "
                                 f"port name) of those pods", service.urn))
    return problems


def rwx_filesystem_corruption_risk(resources: Sequence, config: Mapping) -> list[tuple[str, str]]:
    classes = _cinder_classes(resources, config)
    problems = []
    for claim in _of_type(resources, CLAIM):
        spec = _map(claim.props.get("spec"))
        if "ReadWriteMany" in _claim_modes(claim) and spec.get("volumeMode", "Filesystem") == "Filesystem" \
                and spec.get("storageClassName") in classes:
            problems.append((f"claim {_name(claim.props)!r} mounts one multi-attach Cinder volume as a filesystem "
                             f"(ext4 by default) on several nodes: ext4 is not cluster-aware, so a second writer, "
                             f"or kubelets formatting the fresh volume on two nodes at once, corrupts it. Use "
                             f"volumeMode: Block (raw device, no filesystem), a cluster filesystem, or a "
                             f"ReadWriteOnce claim", claim.urn))
    return problems


# --- CrossGuard wiring ---------------------------------------------------------------

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
        if args.resource_type in types:
            for message in check(args.resource_type, args.props, args.get_config()):
                report_violation(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=enforcement, config_schema=config_schema)


def _stack_policy(name: str, description: str, check, *, enforcement: EnforcementLevel | None = None,
                  config_schema: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    def validate(args, report_violation):
        for message, urn in check(args.resources, args.get_config()):
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
