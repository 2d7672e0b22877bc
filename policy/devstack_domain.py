"""Domain facts of Kubernetes on Devstack, in one place for the program and the policy pack.

The pack imports this module as `devstack_domain` (it runs from a copy of policy/ alone);
the program imports it as `policy.devstack_domain`. Standard library only, so both can.
"""

from __future__ import annotations

import re

# Cinder CSI: the driver's registered name (`kubectl get csidrivers`).
CINDER_CSI_DRIVER = "cinder.csi.openstack.org"
# The extra spec that lets one Cinder volume attach to several servers; Cinder matches
# the value literally, so "<is> True" with a capital T.
MULTIATTACH_EXTRA_SPEC = "multiattach"
MULTIATTACH_ENABLED = "<is> True"

# kubeadm taints control-plane nodes NoSchedule; `master` is the pre-1.24 key the article removed.
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
# kubeadm labels control-plane nodes with it: the cloud controller never makes them Octavia members.
EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

# Annotations the OpenStack cloud controller reads (the first) and writes (the second).
HEALTH_MONITOR_ANNOTATION = "loadbalancer.openstack.org/enable-health-monitor"
LOAD_BALANCER_ID_ANNOTATION = "loadbalancer.openstack.org/load-balancer-id"
KEEP_FLOATING_IP_ANNOTATION = "loadbalancer.openstack.org/keep-floatingip"
# The cloud controller's --cluster-name unless set otherwise: in its load balancers' names and
# its floating IPs' descriptions.
DEFAULT_CLUSTER_NAME = "kubernetes"


def load_balancer_name(namespace: str, service: str, cluster: str = DEFAULT_CLUSTER_NAME) -> str:
    """The name the OpenStack cloud controller gives a Service's Octavia load balancer, truncated as it
    does (cloud-provider-openstack pkg/openstack/loadbalancer.go, GetLoadBalancerName: 255 characters)."""
    return f"kube_service_{cluster}_{namespace}_{service}"[:255]


def floating_ip_description(namespace: str, service: str, cluster: str = DEFAULT_CLUSTER_NAME) -> str:
    """What the OpenStack cloud controller writes on the floating IP it makes for a Service, and the one
    way to tell it later (cloud-provider-openstack pkg/openstack/loadbalancer.go, getServiceAddress:
    "Floating IP for Kubernetes external service %s from cluster %s", namespace/name and --cluster-name)."""
    return f"Floating IP for Kubernetes external service {namespace}/{service} from cluster {cluster}"

_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


def image_pin_problem(image: str) -> str | None:
    """Why `image` is not pinned to a tag or digest, or None when it is."""
    if not image or image != image.strip():
        return "is empty or has surrounding spaces"
    name, _, digest = image.partition("@")
    if digest:
        return None if _IMAGE_DIGEST.match(digest) else f"has a malformed digest {digest!r}"
    last_part = name.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return "has no tag (an untagged image means latest)"
    tag = last_part.rsplit(":", 1)[1]
    if not _IMAGE_TAG.match(tag):
        return f"has a malformed tag {tag!r}"
    if tag == "latest":
        return "uses the moving tag latest"
    return None


# Go's strconv.ParseBool, which the OpenStack cloud controller applies to the exclude label.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def excluded_from_external_load_balancers(labels: object) -> bool:
    """Whether the cloud controller leaves a node with these labels out of every Octavia pool.

    The label excludes when present with "" (kubeadm sets it so) or a value ParseBool reads as
    true; "false" (or any value ParseBool reads as false) keeps the node. A value ParseBool
    refuses (say "yes") excludes, as the controller keeps to the safe side. Node readiness plays
    no part. The one rule for the cloud-controller double and `verify`.
    """
    if not isinstance(labels, dict) or EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL not in labels:
        return False
    value = labels[EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL]
    if not isinstance(value, str):
        return True
    return value not in _GO_FALSE
