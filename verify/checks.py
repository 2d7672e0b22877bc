"""Each check of `python -m verify`: a plain function from already-fetched facts to a Check.

Nothing here talks to Kubernetes, OpenStack or the network, so every rule is tested with
small hand-made facts. A Check carries one line of evidence and, when it does not hold,
what to look at next: the article's own commands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from kubernetes.utils.quantity import parse_quantity

from components.settings import LOAD_BALANCED_APP, STORAGE_APP
from components.webserver import TEMPLATE_HASH_LABEL, pod_labels
from policy.devstack_domain import (
    CINDER_CSI_DRIVER,
    CONTROL_PLANE_TAINTS,
    EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL,
    HEALTH_MONITOR_ANNOTATION,
    LOAD_BALANCER_ID_ANNOTATION,
    MULTIATTACH_ENABLED,
    MULTIATTACH_EXTRA_SPEC,
    excluded_from_external_load_balancers,
)
from probe import exit_codes as verdicts
from probe.check import ProbeResult
from probe.wording import counted
from verify.facts import (
    CinderType,
    CinderVolume,
    ClaimFacts,
    ControllerFacts,
    FloatingIP,
    LoadBalancer,
    NodeFacts,
    PodFacts,
    ServiceFacts,
    StorageClassFacts,
    VolumeFacts,
)
from verify.target import Target

OK, WARN, FAIL = "ok", "warn", "fail"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/openstack-internal-load-balancer"
KEEP_FLOATING_IP_ANNOTATION = "loadbalancer.openstack.org/keep-floatingip"  # exactly "true" keeps it
GIB = 2**30
# The claim conditions of a resize under way (k8s.io/api core/v1 PersistentVolumeClaimConditionType).
RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending")
SECURITY_GROUP_HINT = ("with manage-security-groups off (the cloud controller's default) the nodes' security group "
                       "must let the amphora reach the NodePorts: openstack security group rule list <nodes' group>")
_LISTED = 3  # pods or nodes named in one line of evidence before "and N more"
NGINX_CONTAINER = "nginx"  # the container components/webserver.py nginx_container names


@dataclass(frozen=True)
class Check:
    side: str  # kubernetes, cinder, octavia, http (or the side that could not be reached)
    name: str  # stable id, e.g. replicas/server
    status: str  # ok, warn or fail
    evidence: str  # one line: what was seen
    next: str = ""  # what to look at next when it does not hold

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- wording


def kubectl(target: Target, args: str) -> str:
    """The article's kubectl command, in the stack's namespace."""
    namespace = "" if target.namespace == "default" else f" -n {target.namespace}"
    return f"kubectl{namespace} {args}"


def pods_of(target: Target, app: str) -> str:
    """The article's `kubectl get pods -o wide`, selecting the app's pods by the program's own labels."""
    selector = ",".join(f"{key}={value}" for key, value in pod_labels(app).items())
    return kubectl(target, f"get pods -o wide -l {selector}")


def listed(names: Iterable[str], limit: int = _LISTED) -> str:
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _pod_trouble(pod) -> str:
    where = f"on {pod.node}" if pod.node else "not scheduled"
    why = pod.waiting_reason or (f"{pod.phase}, not Ready" if pod.phase == "Running" else pod.phase)
    return f"{pod.name} {where} ({why}{': ' + pod.warning if pod.warning else ''})"


def _short(identifier: str | None) -> str:
    return (identifier or "?")[:8]


# ---------------------------------------------------------------- Kubernetes


def candidate_nodes(nodes: Iterable[NodeFacts], schedule_on_control_plane: bool) -> list[NodeFacts]:
    """The nodes the apps' pods can run on: Ready, not cordoned, and the control plane only when the
    stack lets the pods tolerate its taints (any other NoSchedule/NoExecute taint keeps them off)."""
    tolerated = set(CONTROL_PLANE_TAINTS) if schedule_on_control_plane else set()
    return [node for node in nodes
            if node.ready and not node.unschedulable and (schedule_on_control_plane or not node.control_plane)
            and all(taint.key in tolerated for taint in node.taints if taint.effect in ("NoSchedule", "NoExecute"))]


def _node_label(node_name: str, nodes: Iterable[NodeFacts]) -> str:
    node = next((node for node in nodes if node.name == node_name), None)
    return f"{node_name} (control plane)" if node and node.control_plane else node_name


def check_replicas(app: str, expected: int, controller: ControllerFacts | None, target: Target) -> Check:
    """The stack's ReplicationController asks for the stack's replicas, and all are Ready: its pods
    and its own count (status.readyReplicas and availableReplicas, what the engine waited for)."""
    name = f"replicas/{app}"
    pods_command = pods_of(target, app)
    if controller is None:
        wanted = target.controller_names.get(app)
        what = f"ReplicationController {wanted}" if wanted else f"ReplicationController with label app={app}"
        return Check("kubernetes", name, FAIL, f"{app}: no {what} in namespace {target.namespace}",
                     f"{kubectl(target, f'get rc -l app={app}')}; pulumi up")
    ready = [pod for pod in controller.pods if pod.ready]
    nodes = sorted({pod.node for pod in ready if pod.node})
    counted_by_status = (controller.ready_replicas, controller.available_replicas)
    label = controller.name or app
    if len(ready) == expected and controller.replicas == expected and counted_by_status == (expected, expected):
        return Check("kubernetes", name, OK,
                     f"{app}: {len(ready)}/{expected} ready and available ({label}) on {', '.join(nodes) or 'no node'}")
    troubled = [pod for pod in controller.pods if not pod.ready]
    evidence = f"{app}: {len(ready)}/{expected} ready"
    if troubled:
        evidence += f"; not ready: {listed([_pod_trouble(pod) for pod in troubled], 2)}"
    elif len(controller.pods) < expected:
        evidence += f"; only {len(controller.pods)} pods exist"
    if controller.replicas != expected:
        evidence += f"; the controller {label} asks for {controller.replicas}, the stack for {expected}"
    if counted_by_status != (len(ready), len(ready)):  # the controller's own count disagrees with its pods
        evidence += (f"; {label} counts {controller.ready_replicas} ready, {controller.available_replicas} "
                     f"available")
    hints = [pods_command]
    if troubled:
        hints.append(kubectl(target, f"describe pod {troubled[0].name}"))
    if any("Multi-Attach" in (pod.warning or "") for pod in troubled):
        hints.append(f"openstack volume type show {target.volume_type_name}" if target.volume_type_name
                     else "a ReadWriteOnce volume attaches to one node: set multiattach true")
    if controller.replicas != expected:
        hints.append(kubectl(target, f"get rc {label}"))
        hints.append("pulumi refresh; pulumi up")
    return Check("kubernetes", name, FAIL, evidence, "; ".join(hints))


def declared_template_hash(app: str, controller: ControllerFacts | None, target: Target) -> str | None:
    """The stack's template hash output; for a stack without it, the hash of the controller taken as declared."""
    return target.template_hashes.get(app) or (controller.template_hash if controller else None)


def _pod_template(pod: PodFacts) -> str:
    image = pod.images.get(NGINX_CONTAINER) or f"no {NGINX_CONTAINER} container"
    return f"{pod.name} ({pod.template_hash or 'no ' + TEMPLATE_HASH_LABEL}, {image})"


def check_template(app: str, pods: tuple[PodFacts, ...], declared_hash: str | None, target: Target) -> Check:
    """Every pod of the app runs the declared pod template: its pod-template-hash label and its
    nginx image are the stack's (a ReplicationController never restarts the pods it already has)."""
    name = f"template/{app}"
    command = kubectl(target, f"get pods -l app={app} -L {TEMPLATE_HASH_LABEL} -o wide")
    declared = (f"template {declared_hash}" if declared_hash else "template (the stack names no hash)") + (
        f", image {target.image}")
    if not pods:
        return Check("kubernetes", name, WARN, f"{app}: no pod with label app={app} to compare with the declared "
                     f"{declared} (see replicas/{app})", command)
    off = [pod for pod in pods if (declared_hash and pod.template_hash != declared_hash)
           or pod.images.get(NGINX_CONTAINER) != target.image]
    if not off:
        return Check("kubernetes", name, OK, f"{app}: all {counted(len(pods), 'pod')} run the declared {declared}")
    return Check("kubernetes", name, FAIL,
                 f"{app}: {len(off)} of {counted(len(pods), 'pod')} do not run the declared {declared}: "
                 f"{listed([_pod_template(pod) for pod in off])}",
                 f"{command}; pulumi up (a new template gets a new controller)")


def check_leftovers(app: str, declared: ControllerFacts | None, leftovers: tuple[ControllerFacts, ...],
                    target: Target) -> Check:
    """No ReplicationController of the app but the stack's: another one is a rollout that did not
    finish (the old controller is deleted at the end of `pulumi up`), still running its old pods."""
    name = f"leftover/{app}"
    command = kubectl(target, f"get rc -l app={app}")
    guessed = ""
    if declared is not None and app not in target.controller_names:
        guessed = f" (the stack names no controller: {declared.name or app}, the newest, taken as its own)"
    if not leftovers:
        beside = f" but {declared.name}" if declared is not None and declared.name else ""
        return Check("kubernetes", name, OK, f"{app}: no ReplicationController with label app={app}{beside}{guessed}")
    described = listed([f"{rc.name} ({rc.replicas} replicas, {counted(len(rc.pods), 'pod')})" for rc in leftovers])
    stack_own = declared.name if declared is not None else target.controller_names.get(app, "none found")
    return Check("kubernetes", name, FAIL,
                 f"{app}: {counted(len(leftovers), 'other ReplicationController')} with label app={app} beside the "
                 f"stack's {stack_own}{guessed}: {described}, left over by a rollout",
                 f"{command}; pulumi up (deletes the old controller once the new one is available)")


def check_placement(app: str, expected: int, controller: ControllerFacts | None, nodes: tuple[NodeFacts, ...],
                    target: Target, kept_together: bool) -> Check:
    """Where the pods run: spread apps on at least two nodes (one a control-plane node when the
    stack schedules there), a single-attach storage app on exactly one."""
    name = f"placement/{app}"
    pods_command = pods_of(target, app)
    scheduled = [pod for pod in (controller.pods if controller else ()) if pod.node]
    if not scheduled:
        return Check("kubernetes", name, FAIL, f"{app}: no pod is scheduled on a node",
                     f"{pods_command}; {kubectl(target, 'get events --field-selector reason=FailedScheduling')}")
    per_node = Counter(pod.node for pod in scheduled)
    spread = ", ".join(f"{count} on {_node_label(node, nodes)}" for node, count in sorted(per_node.items()))
    if kept_together:
        if len(per_node) == 1:
            return Check("kubernetes", name, OK,
                         f"{app}: all {len(scheduled)} pods on {_node_label(next(iter(per_node)), nodes)}, "
                         f"as a single-attach volume needs")
        return Check("kubernetes", name, FAIL,
                     f"{app}: pods on {len(per_node)} nodes ({spread}), but a ReadWriteOnce volume attaches to one "
                     f"node: the others hang in Multi-Attach error", pods_command)
    candidates = candidate_nodes(nodes, target.schedule_on_control_plane)
    need = max(1, min(2, len(candidates), expected))
    control_planes = [node.name for node in candidates if node.control_plane]
    need_control_plane = bool(target.schedule_on_control_plane and control_planes and expected >= len(candidates))
    on_control_plane = [node for node in per_node if node in control_planes]
    requirement = f"at least {counted(need, 'node')}" + (
        ", one a control-plane node" if need_control_plane else "")
    evidence = f"{app}: pods on {counted(len(per_node), 'node')} ({spread}); {requirement} required"
    if len(per_node) >= need and (on_control_plane or not need_control_plane):
        return Check("kubernetes", name, OK, evidence)
    hints = [pods_command]
    if need_control_plane and not on_control_plane:
        hints.append(f"kubectl describe node {control_planes[0]} (taints: the pods tolerate only "
                     f"{', '.join(CONTROL_PLANE_TAINTS)})")
    return Check("kubernetes", name, FAIL, evidence, "; ".join(hints))


def check_claim(claim: ClaimFacts | None, volume: VolumeFacts | None, storage_class: StorageClassFacts | None,
                target: Target) -> Check:
    """The claim is Bound, with the access mode, volume mode and class the stack asks for, to a
    Cinder CSI volume (its volume handle is the Cinder volume id)."""
    describe = kubectl(target, f"describe pvc {target.claim_name}")
    if claim is None:
        return Check("kubernetes", "claim", FAIL,
                     f"claim {target.claim_name}: not found in namespace {target.namespace}",
                     f"{kubectl(target, 'get pvc')}; pulumi up")
    if claim.phase != "Bound":
        return Check("kubernetes", "claim", FAIL, f"claim {claim.name} is {claim.phase}, not Bound", describe)
    problems = []
    mode = "ReadWriteMany" if target.multiattach else "ReadWriteOnce"
    if mode not in claim.access_modes:
        problems.append(f"access modes {', '.join(claim.access_modes) or 'none'}, the stack asks for {mode}")
    if claim.volume_mode != target.volume_mode:
        problems.append(f"volume mode {claim.volume_mode}, the stack asks for {target.volume_mode}")
    if claim.storage_class != target.storage_class_name:
        problems.append(f"class {claim.storage_class}, the stack's is {target.storage_class_name}")
    class_type = (storage_class.parameters or {}).get("type") if storage_class else None
    if target.volume_type_name and storage_class and class_type != target.volume_type_name:
        problems.append(f"class {storage_class.name} asks for volume type {class_type or '(default)'}, "
                        f"the stack's is {target.volume_type_name}")
    if volume is None:
        problems.append(f"its volume {claim.volume_name} does not exist")
    elif volume.driver != CINDER_CSI_DRIVER or not volume.volume_handle:
        problems.append(f"its volume {volume.name} is not a {CINDER_CSI_DRIVER} volume (driver {volume.driver})")
    summary = (f"claim {claim.name} Bound to {claim.volume_name} ({', '.join(claim.access_modes)}, "
               f"{claim.volume_mode}, class {claim.storage_class})")
    if problems:
        return Check("kubernetes", "claim", FAIL, f"{summary}: " + "; ".join(problems),
                     f"{describe}; kubectl get pv {claim.volume_name} -o yaml")
    return Check("kubernetes", "claim", OK, f"{summary}: Cinder volume {volume.volume_handle}")


def check_service(service: ServiceFacts | None, target: Target) -> Check:
    """The Service is a LoadBalancer on the stack's port, with a NodePort and an external IP, which
    is the stack's externalIp."""
    describe = kubectl(target, f"describe svc {target.service_name}")
    wide = kubectl(target, f"get svc {target.service_name} -o wide")
    if service is None:
        return Check("kubernetes", "service", FAIL,
                     f"service {target.service_name}: not found in namespace {target.namespace}",
                     f"{kubectl(target, 'get svc')}; pulumi up")
    ports = ", ".join(f"{port.port}:{port.node_port}/{port.protocol}" for port in service.ports) or "no ports"
    summary = f"{service.name} {service.type} {ports}"
    problems = []
    if service.type != "LoadBalancer":
        problems.append("not of type LoadBalancer")
    if not any(port.port == target.service_port for port in service.ports):
        problems.append(f"no port {target.service_port} (the stack's servicePort)")
    if any(port.node_port is None for port in service.ports):
        problems.append("a port without a NodePort")
    if problems:
        return Check("kubernetes", "service", FAIL, f"{summary}: " + "; ".join(problems), describe)
    if not service.ingress:
        return Check("kubernetes", "service", FAIL,
                     f"{summary}: no external IP yet (the cloud controller has not finished)",
                     f"{describe} (events: EnsuringLoadBalancer, 'there are no available nodes'); {wide}")
    if target.external_ip and service.ingress != target.external_ip:
        return Check("kubernetes", "service", FAIL,
                     f"{summary}: external IP {service.ingress}, but the stack's externalIp is {target.external_ip}",
                     f"{wide}; pulumi refresh")
    source = "= the stack's externalIp" if target.external_ip else "(the stack has no externalIp output)"
    return Check("kubernetes", "service", OK, f"{summary}, external IP {service.ingress} {source}")


# ---------------------------------------------------------------- Cinder


def expected_volume_type(target: Target, storage_class: StorageClassFacts | None) -> str | None:
    """The volume type the stack asks for: its multi-attach type, else what its class names, else
    None (Cinder's default type)."""
    if target.volume_type_name:
        return target.volume_type_name
    return (storage_class.parameters or {}).get("type") if storage_class else None


def not_admin_note(admin: bool | None, target: Target) -> str:
    """Why something may look missing: a cloud user without the admin role sees only its own project."""
    if admin is False:
        return f" (cloud {target.admin_cloud} has no admin role: other projects' resources are hidden)"
    return ""


def check_volume(volume_id: str | None, volume: CinderVolume | None, expected_type: str | None,
                 cinder_type: CinderType | None, target: Target, admin: bool | None = None) -> Check:
    """The claim's Cinder volume exists, is in-use, of the configured type, multiattach when asked."""
    if not volume_id:
        return Check("cinder", "volume", FAIL, "no volume to look up: the claim has no Cinder CSI volume",
                     kubectl(target, f"describe pvc {target.claim_name}"))
    show = f"openstack volume show {volume_id}"
    if volume is None:
        return Check("cinder", "volume", FAIL, f"volume {volume_id} (the PV's volume handle) does not exist in Cinder"
                     f"{not_admin_note(admin, target)}", f"{show}; kubectl get pv -o wide")
    problems = []
    if volume.status != "in-use":
        problems.append(f"status {volume.status}, not in-use")
    accepted = {expected_type} | ({cinder_type.id, cinder_type.name} if cinder_type else set())
    if expected_type and volume.volume_type not in accepted:
        problems.append(f"type {volume.volume_type}, the stack's is {expected_type}")
    if target.multiattach and not volume.multiattach:
        problems.append("multiattach false although the stack asks for it (the type's extra spec was not "
                        f"{MULTIATTACH_EXTRA_SPEC}={MULTIATTACH_ENABLED!r} when the volume was made)")
    type_note = "" if expected_type else " (Cinder's default; the stack names none)"
    summary = (f"volume {volume_id} {volume.status}, type {volume.volume_type}{type_note}, "
               f"multiattach {str(volume.multiattach).lower()}")
    if problems:
        hints = [show]
        if expected_type:
            hints.append(f"openstack volume type show {expected_type}")
        return Check("cinder", "volume", FAIL, f"volume {volume_id}: " + "; ".join(problems), "; ".join(hints))
    return Check("cinder", "volume", OK, summary)


def check_volume_type(type_name: str | None, cinder_type: CinderType | None, target: Target) -> Check:
    """The stack's multi-attach type carries exactly `multiattach: <is> True` (Cinder matches literally)."""
    if not target.multiattach:
        return Check("cinder", "volume-type", OK,
                     "multiattach not asked: a ReadWriteOnce claim on Cinder's default type attaches to one server")
    if not type_name:
        return Check("cinder", "volume-type", FAIL, "the stack asks for multiattach but names no volume type",
                     "pulumi stack output volumeTypeName")
    show = f"openstack volume type show {type_name}"
    if cinder_type is None:
        return Check("cinder", "volume-type", FAIL, f"volume type {type_name} does not exist",
                     "openstack volume type list; pulumi up")
    spec = (cinder_type.extra_specs or {}).get(MULTIATTACH_EXTRA_SPEC)
    if spec == MULTIATTACH_ENABLED:
        return Check("cinder", "volume-type", OK, f"type {type_name}: {MULTIATTACH_EXTRA_SPEC}={spec!r}")
    seen = "no multiattach extra spec" if spec is None else f"{MULTIATTACH_EXTRA_SPEC}={spec!r}"
    return Check("cinder", "volume-type", FAIL,
                 f"type {type_name}: {seen}; Cinder matches exactly {MULTIATTACH_ENABLED!r} (capital T)",
                 f"{show}; pulumi refresh; pulumi up (the stack declares {MULTIATTACH_ENABLED!r})")


def check_attachments(volume_id: str | None, volume: CinderVolume | None, controller: ControllerFacts | None,
                      nodes: tuple[NodeFacts, ...], servers: dict[str, str], target: Target) -> Check:
    """The volume is attached to exactly the servers of the nodes the storage pods run on
    (node providerID <-> attachment server id)."""
    if volume is None:
        return Check("cinder", "attachments", FAIL, "not checked: no Cinder volume (see the volume check)",
                     f"openstack volume show {volume_id}" if volume_id else kubectl(
                         target, f"describe pvc {target.claim_name}"))
    show = f"openstack volume show {volume.id}"
    pods = [pod for pod in (controller.pods if controller else ()) if pod.node]
    pod_nodes = sorted({pod.node for pod in pods})
    by_server = {node.server_id: node.name for node in nodes if node.server_id}
    unmapped = [name for name in pod_nodes if not (node := _node(nodes, name)) or not node.server_id]
    expected = {_node(nodes, name).server_id for name in pod_nodes if name not in unmapped}
    attached = {attachment.server_id for attachment in volume.attachments}

    def shown(server_id: str) -> str:
        return by_server.get(server_id) or servers.get(server_id) or server_id

    attached_names = sorted(shown(server) for server in attached)
    if unmapped:
        return Check("cinder", "attachments", FAIL,
                     f"node {listed(unmapped)} has no OpenStack providerID (openstack:///<server id>): cannot match "
                     f"it to an attachment; attached to {listed(attached_names)}",
                     f"kubectl get nodes -o custom-columns=NAME:.metadata.name,PROVIDER:.spec.providerID; {show}")
    missing = sorted(shown(server) for server in expected - attached)
    extra = sorted(shown(server) for server in attached - expected)
    if not missing and not extra:
        where = listed(attached_names, 8) if attached else "nothing"
        return Check("cinder", "attachments", OK,
                     f"volume {volume.id} attached to {where} = the nodes of the {STORAGE_APP} pods")
    described = ", ".join(attached_names) + (" only" if missing and attached else "") if attached else "nothing"
    running = listed(pod_nodes, 8) if pod_nodes else "no node"
    evidence = f"volume {volume.id} attached to {described}; {STORAGE_APP} pods run on {running}"
    hints = [show]
    if missing:
        waiting = next((pod for pod in pods if _node(nodes, pod.node).server_id in expected - attached), None)
        if waiting:
            hints.append(kubectl(target, f"describe pod {waiting.name}") + " (Multi-Attach error?)")
    if extra:
        evidence += f"; also on {', '.join(extra)}, where no {STORAGE_APP} pod runs"
        hints.append("kubectl get volumeattachments")
    return Check("cinder", "attachments", FAIL, evidence, "; ".join(hints))


def _node(nodes: Iterable[NodeFacts], name: str | None) -> NodeFacts | None:
    return next((node for node in nodes if node.name == name), None)


def quantity_bytes(quantity: str | None) -> int | None:
    """A Kubernetes quantity (2Gi, 2147483648, 2G) in bytes; None when absent or not a quantity."""
    if quantity is None:
        return None
    try:
        return int(parse_quantity(quantity))
    except (ValueError, TypeError):
        return None


def check_size(claim: ClaimFacts | None, volume: VolumeFacts | None, cinder: CinderVolume | None,
               target: Target) -> Check:
    """The claim asks for volumeSizeGi, and its capacity, its PV's and the Cinder volume's size are
    that size (Cinder's GB are GiB: cinder-csi rounds the request up to GiB and reports size x 1 GiB,
    cloud-provider-openstack pkg/csi/cinder/controllerserver.go). Behind the request, a growing claim
    is grown by the CSI external-resizer: Resizing while it expands the volume and the PV,
    FileSystemResizePending once only the node's part is left (kubernetes-csi/external-resizer
    pkg/util/util.go); the claim's capacity follows last."""
    describe = kubectl(target, f"describe pvc {target.claim_name}")
    declared = target.volume_size_gi
    if claim is None or claim.phase != "Bound":
        return Check("cinder", "size/claim", FAIL, "not checked: no Bound claim (see the claim check)", describe)
    sizes = [(f"claim {claim.name} capacity", quantity_bytes(claim.capacity), claim.capacity)]
    if volume is not None:
        sizes.append((f"PV {volume.name}", quantity_bytes(volume.capacity), volume.capacity))
    if cinder is not None and cinder.size is not None:
        sizes.append((f"Cinder volume {_short(cinder.id)}", cinder.size * GIB, f"{cinder.size} GB (GiB)"))
    requested = quantity_bytes(claim.requested)
    show = f"openstack volume show {cinder.id}" if cinder is not None else f"kubectl get pv {claim.volume_name}"
    if requested != declared * GIB:
        too_big = requested is not None and requested > declared * GIB
        why = ("Kubernetes refuses to shrink a claim" if too_big else "pulumi up grows it")
        return Check("cinder", "size/claim", FAIL,
                     f"claim {claim.name} requests {claim.requested or 'nothing'}, the stack declares {declared}Gi: "
                     f"{why}", f"{describe}; pulumi refresh; pulumi preview")
    seen = "; ".join(f"{what} {shown or 'unknown'}" for what, _, shown in sizes)
    bigger = [what for what, size, _ in sizes if size is not None and size > declared * GIB]
    behind = [what for what, size, _ in sizes if size is None or size < declared * GIB]
    if not bigger and not behind:
        return Check("cinder", "size/claim", OK, f"claim {claim.name} requests {claim.requested} = the stack's "
                     f"{declared}Gi; {seen}")
    if bigger:
        return Check("cinder", "size/claim", FAIL,
                     f"{', '.join(bigger)} larger than the {declared}Gi the claim requests (grown outside the stack?): "
                     f"{seen}", f"{show}; {describe}")
    resizing = [condition for condition in claim.conditions if condition in RESIZE_CONDITIONS]
    if resizing:
        return Check("cinder", "size/claim", WARN,
                     f"resize in progress ({', '.join(resizing)}): claim {claim.name} requests {claim.requested}; "
                     f"{seen}", describe)
    return Check("cinder", "size/claim", FAIL,
                 f"claim {claim.name} requests {claim.requested}, but {', '.join(behind)} lag behind and no resize "
                 f"runs (no {' or '.join(RESIZE_CONDITIONS)} condition): {seen}",
                 f"{describe} (the resizer's events; the class needs allowVolumeExpansion); {show}")


# ---------------------------------------------------------------- Octavia


def _status_show(lb: LoadBalancer) -> str:
    return f"openstack loadbalancer status show {lb.id}"


def check_load_balancer(lb: LoadBalancer | None, lookup: str, target: Target, admin: bool | None = None,
                        annotated_id: str | None = None) -> Check:
    """The Service's load balancer (`annotated_id`: the one its annotation names) is ACTIVE and
    ONLINE (and is the stack's loadBalancerId)."""
    describe = kubectl(target, f"describe svc {target.service_name}")
    if lb is None and annotated_id:
        # With the annotation set, the cloud controller looks the load balancer up by id only and
        # fails each sync with "failed to get load balancer <id>" (cloud-provider-openstack
        # pkg/openstack/loadbalancer.go, ensureOctaviaLoadBalancer); it syncs again only when the
        # Service changes, and an annotation change is one (kubernetes/cloud-provider
        # controllers/service/controller.go, needsUpdate): without it, it builds one by name.
        unannotate = kubectl(target, f"annotate svc {target.service_name} {LOAD_BALANCER_ID_ANNOTATION}-")
        return Check("octavia", "load-balancer", FAIL,
                     f"load balancer {annotated_id} (the Service's {LOAD_BALANCER_ID_ANNOTATION} annotation) is not "
                     f"in Octavia{not_admin_note(admin, target)}: the cloud controller will not rebuild it by itself",
                     f"openstack loadbalancer show {annotated_id}; {describe} (the cloud controller's events); to "
                     f"have it rebuilt: {unannotate}, then pulumi refresh; pulumi up")
    if lb is None:
        return Check("octavia", "load-balancer", FAIL,
                     f"no load balancer: looked for {lookup}{not_admin_note(admin, target)}",
                     f"{describe} (the cloud controller's events); openstack loadbalancer list")
    summary = (f"load balancer {lb.name or lb.id} ({lb.id}, by {lb.found_by}) "
               f"{lb.provisioning_status}/{lb.operating_status}")
    if lb.provisioning_status != "ACTIVE":
        why = ("Octavia is still working on it" if lb.provisioning_status.startswith("PENDING_")
               else "Octavia gave up on it" if lb.provisioning_status == "ERROR" else "not ACTIVE")
        return Check("octavia", "load-balancer", FAIL, f"{summary}: {why}",
                     f"{_status_show(lb)}; {describe}")
    if lb.operating_status != "ONLINE":
        status = WARN if lb.operating_status in ("DEGRADED", "NO_MONITOR") else FAIL
        return Check("octavia", "load-balancer", status, f"{summary}: not ONLINE",
                     f"{_status_show(lb)}; {SECURITY_GROUP_HINT}")
    if target.load_balancer_id and target.load_balancer_id != lb.id:
        return Check("octavia", "load-balancer", WARN,
                     f"{summary}; the stack's loadBalancerId is {target.load_balancer_id}, another one",
                     "pulumi refresh")
    return Check("octavia", "load-balancer", OK, summary)


def check_listeners(lb: LoadBalancer | None, service: ServiceFacts | None, target: Target) -> Check:
    """One listener per Service port, same protocol and port."""
    if lb is None or service is None:
        return Check("octavia", "listeners", FAIL,
                     f"not checked: no {'load balancer' if lb is None else 'Service'}",
                     "openstack loadbalancer list" if lb is None else kubectl(target, "get svc"))
    wanted = Counter((port.protocol, port.port) for port in service.ports)
    have = Counter((listener.protocol, listener.port) for listener in lb.listeners)
    shown = ", ".join(f"{protocol} {port}" for protocol, port in sorted(have.elements())) or "none"
    if have == wanted and all(count == 1 for count in have.values()):
        return Check("octavia", "listeners", OK, f"one listener per Service port: {shown}")
    problems = []
    missing = wanted - have
    extra = have - wanted
    if missing:
        problems.append("missing " + ", ".join(f"{protocol} {port}" for protocol, port in sorted(missing)))
    if extra:
        problems.append("extra " + ", ".join(f"{protocol} {port}" for protocol, port in sorted(extra.elements())))
    return Check("octavia", "listeners", FAIL, f"listeners {shown}: " + "; ".join(problems),
                 f"openstack loadbalancer listener list --loadbalancer {lb.id}; {_status_show(lb)}")


def eligible_nodes(nodes: Iterable[NodeFacts]) -> list[NodeFacts]:
    """The nodes the cloud controller makes members: those the exclude label does not exclude.

    Readiness plays no part: the service controller's stable node set (kubernetes/cloud-provider
    controllers/service/controller.go, stableNodeSetPredicates) keeps NotReady nodes as members.
    """
    return [node for node in nodes if not excluded_from_external_load_balancers(node.labels)]


def check_members(lb: LoadBalancer | None, service: ServiceFacts | None, nodes: tuple[NodeFacts, ...],
                  target: Target) -> Check:
    """Each listener's pool has exactly the eligible nodes as members, at the port's NodePort."""
    if lb is None or service is None:
        return Check("octavia", "members", FAIL, f"not checked: no {'load balancer' if lb is None else 'Service'}",
                     "openstack loadbalancer list" if lb is None else kubectl(target, "get svc"))
    eligible = eligible_nodes(nodes)
    excluded = [node.name for node in nodes if node not in eligible]
    if not eligible:
        return Check("octavia", "members", FAIL,
                     f"no node is eligible (all carry {EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL}): "
                     "the cloud controller has 'no available nodes'",
                     "kubectl get nodes --show-labels; kubectl label node <node> "
                     f"{EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL}-")
    by_address = {node.internal_ip: node.name for node in nodes if node.internal_ip}
    problems, summaries, hints = [], [], []
    for port in service.ports:
        listener = next((item for item in lb.listeners if item.port == port.port and item.protocol == port.protocol),
                        None)
        if listener is None:
            problems.append(f"no listener for {port.protocol} {port.port}")
            continue
        if listener.pool is None:
            problems.append(f"listener {port.protocol} {port.port} has no pool")
            continue
        expected = {(node.internal_ip, port.node_port): node.name for node in eligible}
        actual = {(member.address, member.port) for member in listener.pool.members}

        def name(member: tuple[str, int]) -> str:
            return f"{by_address.get(member[0], member[0])} ({member[0]}:{member[1]})"

        missing = sorted(name(member) for member in expected.keys() - actual)
        extra = sorted(name(member) for member in actual - expected.keys())
        down = sorted(f"{by_address.get(member.address, member.address)} {member.operating_status}"
                      for member in listener.pool.members if member.operating_status in ("ERROR", "OFFLINE"))
        if missing:
            problems.append(f"pool {_short(listener.pool.id)} misses {', '.join(missing)}")
        if extra:
            problems.append(f"pool {_short(listener.pool.id)} has {', '.join(extra)}, not an eligible node at "
                            f"NodePort {port.node_port}")
        if down:
            problems.append(f"members {', '.join(down)}")
        if missing or extra or down:
            hints.append(f"openstack loadbalancer member list {listener.pool.id}")
        summaries.append(f"{', '.join(sorted(expected.values()))} at NodePort {port.node_port}")
    if problems:
        hints.append("kubectl get nodes --show-labels")
        hints.append(SECURITY_GROUP_HINT)
        return Check("octavia", "members", FAIL, "; ".join(problems), "; ".join(dict.fromkeys(hints)))
    left_out = f" ({', '.join(excluded)} excluded)" if excluded else ""
    return Check("octavia", "members", OK,
                 f"members {'; '.join(summaries)} = the nodes eligible for external load balancers{left_out}")


def check_health_monitor(lb: LoadBalancer | None) -> Check:
    """A warning, not a failure: without a health monitor a dead node keeps receiving connections."""
    if lb is None:
        return Check("octavia", "health-monitor", WARN, "not checked: no load balancer", "openstack loadbalancer list")
    pools = [listener.pool for listener in lb.listeners if listener.pool]
    bare = [pool for pool in pools if not pool.health_monitor_id]
    if pools and not bare:
        return Check("octavia", "health-monitor", OK, f"a health monitor on every pool ({len(pools)})")
    where = "pool " + ", ".join(_short(pool.id) for pool in bare) if bare else "any pool"
    return Check("octavia", "health-monitor", WARN,
                 f"no health monitor on {where}: a dead node keeps receiving connections",
                 f"pulumi config set --path 'loadBalancerAnnotations[\"{HEALTH_MONITOR_ANNOTATION}\"]' true; pulumi up")


def check_address(lb: LoadBalancer | None, service: ServiceFacts | None, target: Target) -> Check:
    """The stack's externalIp is the load balancer's floating IP (or its VIP, for an internal one)."""
    external = target.external_ip or (service.ingress if service else None)
    source = "the stack's externalIp" if target.external_ip else "the Service's external IP"
    wide = kubectl(target, f"get svc {target.service_name} -o wide")
    if not external:
        return Check("octavia", "address", FAIL, "no external IP: no externalIp output and no Service ingress",
                     f"{wide}; pulumi refresh")
    if lb is None:
        return Check("octavia", "address", FAIL, f"not checked: no load balancer for {source} {external}",
                     "openstack loadbalancer list")
    port_hint = f"openstack floating ip list --port {lb.vip_port_id}" if lb.vip_port_id else _status_show(lb)
    internal = service is not None and service.annotations.get(INTERNAL_LB_ANNOTATION, "").lower() == "true"
    if external in lb.floating_ips:
        return Check("octavia", "address", OK,
                     f"{source} {external} = the floating IP of the VIP port (VIP {lb.vip_address})")
    if external == lb.vip_address:
        kind = "internal load balancer" if internal else "no floating IP"
        return Check("octavia", "address", OK, f"{source} {external} = the VIP ({kind})")
    floating = ", ".join(lb.floating_ips) or "none"
    return Check("octavia", "address", FAIL,
                 f"{source} {external} is neither the VIP {lb.vip_address} nor a floating IP of its port ({floating})",
                 f"{port_hint}; {wide}")


def check_floating_ips(ips: Iterable[FloatingIP], service: ServiceFacts | None, target: Target) -> Check:
    """No floating IP the cloud controller made for the Service is left on no port: it deletes only
    the one on the load balancer's VIP port (by its own description), so one left behind, e.g. when
    the load balancer went, stays allocated for good."""
    ips = list(ips)
    owner = f"{target.namespace}/{target.service_name}"
    orphans = [ip for ip in ips if not ip.port_id]
    if not orphans:
        return Check("octavia", "floating-ips", OK,
                     f"no orphan floating IP of {owner}: {counted(len(ips), 'floating IP')} with the cloud "
                     f"controller's description for it, each on a port")
    named = listed([f"{ip.id} ({ip.address})" for ip in orphans])
    evidence = f"{counted(len(orphans), 'floating IP')} the cloud controller made for {owner} on no port: {named}"
    hint = f"openstack floating ip list --long; openstack floating ip delete {orphans[0].id}"
    kept = service is not None and service.annotations.get(KEEP_FLOATING_IP_ANNOTATION) == "true"
    if kept:
        return Check("octavia", "floating-ips", WARN, f"{evidence} (kept on purpose: {KEEP_FLOATING_IP_ANNOTATION})",
                     hint)
    return Check("octavia", "floating-ips", FAIL, f"{evidence}: allocated, and the cloud controller never deletes it",
                 hint)


# ---------------------------------------------------------------- HTTP


def http_requirements(nodes: Iterable[NodeFacts], target: Target) -> tuple[int, int]:
    """(min pods, min nodes) the probe must see: two nodes whenever the cluster has two nodes the
    load-balanced pods can run on (and there are two pods)."""
    candidates = candidate_nodes(nodes, target.schedule_on_control_plane)
    replicas = max(1, target.lbserver_replicas)
    return min(2, replicas), max(1, min(2, len(candidates), replicas))


def check_http(url: str | None, result: ProbeResult | None, min_pods: int, min_nodes: int,
               lb: LoadBalancer | None, target: Target) -> Check:
    """The probe's verdict: new connections through the load balancer reach pods on enough nodes."""
    pods_command = pods_of(target, LOAD_BALANCED_APP)
    wide = kubectl(target, f"get svc {target.service_name} -o wide")
    required = f"{counted(min_pods, 'pod')} on {counted(min_nodes, 'node')} required"
    if not url or result is None:
        return Check("http", "probe", FAIL, "not probed: no URL (no url output and no external IP)",
                     f"{wide}; pulumi refresh")
    if result.verdict == verdicts.PASS:
        return Check("http", "probe", OK, f"{url}: {result.reason} ({required})")
    errors = result.tally.errors + result.waiting.errors
    timeouts = errors["connect-timeout"] + errors["read-timeout"]
    hints = []
    if result.verdict == verdicts.UNREACHABLE:
        hints.append(wide)
        if lb:
            hints.append(_status_show(lb))
    else:
        hints.append(pods_command)
        if lb:
            pools = [listener.pool.id for listener in lb.listeners if listener.pool]
            hints.extend(f"openstack loadbalancer member list {pool}" for pool in pools[:1])
    if timeouts or result.verdict == verdicts.UNREACHABLE:
        hints.append(SECURITY_GROUP_HINT)
    return Check("http", "probe", FAIL, f"{url}: {result.reason} ({required})", "; ".join(hints))
