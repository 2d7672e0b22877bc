"""nginx pods under a ReplicationController: the storage app (`server`, mounting the claim)
and the load-balancing app (`lbserver`, no volume).

Each pod serves `Server <pod-name> on <node-name>` at `/`, written at start from the
downward API into the container's own docroot (never onto the claim), so a client can
tell which pod and node answered (the article did this by hand with `kubectl exec`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.await_annotations import CREATED_WAIT, WAIT_FOR_ANNOTATION
from components.ready_waits import ControllerAvailable
from policy.devstack_domain import CONTROL_PLANE_TAINTS, HOSTNAME_TOPOLOGY_KEY

CONTAINER_PORT = 80
PORT_NAME = "http"
CLAIM_VOLUME = "shared-content"
# Filesystem mode: where the article mounted the claim (nginx serves its own docroot).
CLAIM_MOUNT_PATH = "/var/lib/www/html"
# Block mode: the raw device inside the container, as in the Cinder CSI block example.
CLAIM_DEVICE_PATH = "/dev/xvda"
DOCUMENT_ROOT = "/usr/share/nginx/html"

# Runs before the image's own entrypoint; the identity file is pod-local, not on the claim.
IDENTITY_SCRIPT = (
    f"printf 'Server %s on %s\\n' \"$POD_NAME\" \"$NODE_NAME\" > {DOCUMENT_ROOT}/index.html"
    " && exec /docker-entrypoint.sh nginx -g 'daemon off;'"
)


# The label that tells one controller's pods from the next one's during a rollout (the name
# Deployments use for the same purpose, so `kubectl get pods -L pod-template-hash` reads the same).
# Its value digests the template and the replica count (see `controller_identity`).
TEMPLATE_HASH_LABEL = "pod-template-hash"
# Seconds a deleted pod keeps serving, so that kube-proxy on every node has stopped sending it new
# connections before nginx stops (the endpoint update is asynchronous; see README "Rollouts").
DRAIN_SECONDS = 5


def pod_labels(app_name: str) -> dict[str, str]:
    """The app's label: the Service, the placement rules and verify select every pod of the app by it."""
    return {"app": app_name}


def template_hash(template: dict) -> str:
    """A short, stable digest of plain values (a controller's identity), as a label value and name suffix."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def controller_name(app_name: str, hash_: str) -> str:
    """`server-3f9a1c0d2e`: the article's name, then the template it runs."""
    return f"{app_name}-{hash_}"


def control_plane_tolerations() -> list[dict]:
    """Tolerate both the current and the pre-1.24 control-plane taints; no node is modified."""
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in CONTROL_PLANE_TAINTS]


def placement(labels: dict[str, str], kept_on_one_node: bool) -> dict:
    """Where the pods may run.

    Spread over the nodes when they can be (no volume, or a multi-attach one). A
    single-attach volume attaches to one node, so its pods are kept together there;
    otherwise the pods landing elsewhere hang in "Multi-Attach error".
    """
    selector = {"matchLabels": dict(labels)}
    if kept_on_one_node:
        term = {"topologyKey": HOSTNAME_TOPOLOGY_KEY, "labelSelector": selector}
        return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}
    # matchLabelKeys: each controller's pods are spread among themselves, whatever the old controller
    # of a rollout still runs where (the way Deployments spread with the same label).
    spread = {"maxSkew": 1, "topologyKey": HOSTNAME_TOPOLOGY_KEY, "whenUnsatisfiable": "ScheduleAnyway",
              "labelSelector": selector, "matchLabelKeys": [TEMPLATE_HASH_LABEL]}
    return {"topologySpreadConstraints": [spread]}


def claim_usage(volume_mode: str) -> dict:
    """How the container sees the claim: a raw device (Block) has no filesystem to corrupt."""
    if volume_mode == "Block":
        return {"volumeDevices": [{"name": CLAIM_VOLUME, "devicePath": CLAIM_DEVICE_PATH}]}
    return {"volumeMounts": [{"name": CLAIM_VOLUME, "mountPath": CLAIM_MOUNT_PATH}]}


def nginx_container(image: str, volume_mode: str | None = None) -> dict:
    """nginx serving its identity; `volume_mode` None: no claim."""
    return {
        "name": "nginx",
        "image": image,
        "command": ["/bin/sh", "-c"],
        "args": [IDENTITY_SCRIPT],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "ports": [{"name": PORT_NAME, "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": PORT_NAME}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "200m", "memory": "64Mi"},
        },
        **(claim_usage(volume_mode) if volume_mode else {}),
    }


def pod_spec(image: str, labels: dict[str, str], schedule_on_control_plane: bool,
             claim_name: pulumi.Input[str] | None = None, volume_mode: str | None = None,
             multiattach: bool = False) -> dict:
    """The pods' spec; with `claim_name` they use the claim the way `volume_mode` says."""
    spec: dict = {"containers": [nginx_container(image, volume_mode if claim_name is not None else None)]}
    if claim_name is not None:
        spec["volumes"] = [{"name": CLAIM_VOLUME, "persistentVolumeClaim": {"claimName": claim_name}}]
    spec.update(placement(labels, kept_on_one_node=claim_name is not None and not multiattach))
    if schedule_on_control_plane:
        spec["tolerations"] = control_plane_tolerations()
    return spec


def pod_template(labels: dict[str, str], pod: dict) -> dict:
    return {"metadata": {"labels": dict(labels)}, "spec": pod}


def controller_identity(replicas: int, template: dict) -> dict:
    """What a controller is made for: its pod template and its replica count.

    The count is in it because a ReplicationController never rebalances: scaled down, it deletes
    the pods on the most crowded nodes, ranked once before it deletes any (replica_set.go,
    getPodsRankedByRelatedPodsOnSameNode), so a node, master1 included, can be left with none.
    A new controller is placed by the scheduler's spread from scratch, as a first deploy is.
    """
    return {"replicas": replicas, "template": template}


def hashed_labels(labels: dict[str, str], replicas: int, template: dict) -> dict[str, str]:
    """The app's labels plus the hash of the controller's identity (the template's own labels are the app's)."""
    return {**labels, TEMPLATE_HASH_LABEL: template_hash(controller_identity(replicas, template))}


def replication_controller_spec(replicas: int, labels: dict[str, str], pod: dict) -> dict:
    """Selects only its own template's pods: during a rollout two controllers of one app run side by side."""
    return {
        "replicas": replicas,
        "selector": dict(labels),
        "template": pod_template(labels, pod),
    }


@dataclass
class ClaimVolume:
    claim: k8s.core.v1.PersistentVolumeClaim  # created before the controller; the controller is replaced with it
    # The claim's class: its replacement takes the claim, so the controller too.
    storage_class: k8s.storage.v1.StorageClass
    # The claim's Kubernetes name. Plain, not the claim's output: the template hash needs it, and the
    # claim's outputs are unknown in a preview that replaces it (components/replacement_token.py).
    claim_name: str
    volume_mode: str  # "Block": raw device at CLAIM_DEVICE_PATH; "Filesystem": mounted at CLAIM_MOUNT_PATH
    multiattach: bool  # True: pods spread over the nodes; False: kept on one node (one attachment)
    # The claim's wait (components/claim_wait.py): no pod asks for a volume Cinder put in error, whose
    # attachment could not be undone; None: the claim alone.
    ready: pulumi.Resource | None = None


@dataclass
class WebServerArgs:
    name: str  # the app: its pods' `app` label and the first part of its controller's name
    namespace: pulumi.Input[str]  # namespace of the controller; must exist
    replicas: int  # number of pods
    image: str  # nginx image pinned to a tag or digest
    schedule_on_control_plane: bool  # tolerate the control-plane NoSchedule taints
    claim: ClaimVolume | None = None  # None: pods have no volume (the load-balancing app)
    annotations: dict[str, str] = field(default_factory=dict)  # on the controller, not its pods (no rollout)


class WebServer(pulumi.ComponentResource):
    """One app: a ReplicationController named after the app and the hash of its pod template and
    replica count.

    A ReplicationController never restarts running pods, so a template change (image, probes,
    resources, the claim's use) makes a new controller, with the new hash in its name; so does a
    replica change, which a controller would make by deleting pods off its busiest nodes: the engine
    creates it, waits until all its pods are available, and deletes the old controller (and its
    pods) at the end of the update. The Service and the placement rules select by the app label,
    so old and new pods serve side by side until the old ones go.
    """

    name: pulumi.Output[str]
    template_hash: str

    def __init__(self, resource_name: str, args: WebServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:workload:WebServer", resource_name, None, opts)
        labels = pod_labels(args.name)
        claim = args.claim

        pod = pod_spec(args.image, labels, args.schedule_on_control_plane,
                       claim_name=claim.claim_name if claim else None,
                       volume_mode=claim.volume_mode if claim else None,
                       multiattach=claim.multiattach if claim else False)
        own_labels = hashed_labels(labels, args.replicas, pod_template(labels, pod))
        self.template_hash = own_labels[TEMPLATE_HASH_LABEL]
        # When the claim is replaced (delete before replace), the engine first deletes what lists it
        # in replace_with (the pods release the old claim), and creates the controller again after
        # the new claim. The class is listed too: when it is replaced, the engine deletes the claim as
        # its dependent but looks at replace_with only for the class itself (seen with the CLI 3.274.1).
        follow_claim = (pulumi.ResourceOptions(depends_on=[claim.claim, *([claim.ready] if claim.ready else [])],
                                               replace_with=[claim.claim, claim.storage_class]) if claim else None)
        self.replication_controller = k8s.core.v1.ReplicationController(
            resource_name,
            metadata={"name": controller_name(args.name, self.template_hash), "namespace": args.namespace,
                      "labels": own_labels, "annotations": {**args.annotations, WAIT_FOR_ANNOTATION: CREATED_WAIT}},
            spec=replication_controller_spec(args.replicas, own_labels, pod),
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), follow_claim),
        )
        # Waits until all its pods are available (what pulumi-kubernetes' await checked), so a rollover
        # still deletes the old controller only after the new one serves; fails early on a Multi-Attach
        # that will not clear. A new controller (new name) gets a new wait.
        self.available = ControllerAvailable(
            f"{resource_name}-available", args.namespace,
            controller_name(args.name, self.template_hash),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.replication_controller],
                                        replace_with=[self.replication_controller]),
        )
        self.name = self.replication_controller.metadata.apply(lambda metadata: metadata.name)
        self.register_outputs({"name": self.name, "template_hash": self.template_hash})
