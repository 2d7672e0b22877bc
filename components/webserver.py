"""The nginx pods: a ReplicationController mounting the shared claim.

Each pod serves `Server <pod-name> on <node-name>` at `/`, written at start from the
downward API, so a client can tell which pod and node answered (the article did this
by hand with `kubectl exec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

CONTAINER_PORT = 80
PORT_NAME = "http"
# The upstream Cinder CSI example mounts its claim here; nginx serves its own docroot.
CLAIM_MOUNT_PATH = "/var/lib/www/html"
DOCUMENT_ROOT = "/usr/share/nginx/html"
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")

# Runs before the image's own entrypoint; the identity file is pod-local, not on the shared claim.
IDENTITY_SCRIPT = (
    f"printf 'Server %s on %s\\n' \"$POD_NAME\" \"$NODE_NAME\" > {DOCUMENT_ROOT}/index.html"
    " && exec /docker-entrypoint.sh nginx -g 'daemon off;'"
)


def pod_labels(app_name: str) -> dict[str, str]:
    return {"app": app_name}


def control_plane_tolerations() -> list[dict]:
    """Tolerate both the current and the pre-1.24 control-plane taints; no node is modified."""
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in CONTROL_PLANE_TAINTS]


def placement(labels: dict[str, str], shared_volume: bool) -> dict:
    """Where the pods may run.

    A multi-attach volume lets pods spread over the nodes. A single-attach volume can
    only be attached to one node, so the pods are kept together on one node; otherwise
    the pods landing elsewhere hang in "Multi-Attach error".
    """
    if shared_volume:
        return {
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": HOSTNAME_TOPOLOGY_KEY,
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(labels)},
                }
            ]
        }
    return {
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": HOSTNAME_TOPOLOGY_KEY, "labelSelector": {"matchLabels": dict(labels)}}
                ]
            }
        }
    }


def nginx_container(image: str) -> dict:
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
        "readinessProbe": {
            "httpGet": {"path": "/", "port": PORT_NAME},
            "periodSeconds": 5,
        },
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "200m", "memory": "64Mi"},
        },
        "volumeMounts": [{"name": "shared-content", "mountPath": CLAIM_MOUNT_PATH}],
    }


def pod_spec(image: str, claim_name: pulumi.Input[str], labels: dict[str, str],
             shared_volume: bool, schedule_on_control_plane: bool) -> dict:
    spec = {
        "containers": [nginx_container(image)],
        "volumes": [{"name": "shared-content", "persistentVolumeClaim": {"claimName": claim_name}}],
        **placement(labels, shared_volume),
    }
    if schedule_on_control_plane:
        spec["tolerations"] = control_plane_tolerations()
    return spec


def replication_controller_spec(replicas: int, labels: dict[str, str], pod: dict) -> dict:
    return {
        "replicas": replicas,
        "selector": dict(labels),
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
    }


@dataclass
class WebServerArgs:
    name: str
    namespace: str
    replicas: int
    image: str
    claim_name: pulumi.Input[str]
    shared_volume: bool
    schedule_on_control_plane: bool


class WebServer(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: WebServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:workload:WebServer", resource_name, None, opts)
        labels = pod_labels(args.name)
        self.replication_controller = k8s.core.v1.ReplicationController(
            resource_name,
            metadata={"name": args.name, "namespace": args.namespace, "labels": labels},
            spec=replication_controller_spec(
                args.replicas,
                labels,
                pod_spec(args.image, args.claim_name, labels, args.shared_volume, args.schedule_on_control_plane),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.replication_controller.metadata.apply(lambda metadata: metadata.name)
        self.register_outputs({"name": self.name})
