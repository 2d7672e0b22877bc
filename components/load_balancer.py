"""The Service of type LoadBalancer that the OpenStack cloud controller turns into Octavia."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.await_annotations import CREATED_WAIT, WAIT_FOR_ANNOTATION
from components.floating_ip_sweep import FloatingIpSweep, FloatingIpSweepArgs
from components.ready_waits import LoadBalancerReady, LoadBalancerReadyArgs
from policy.devstack_domain import DEFAULT_CLUSTER_NAME, KEEP_FLOATING_IP_ANNOTATION


def service_spec(selector: dict[str, str], service_port: int, target_port: int | str) -> dict:
    """TCP becomes an Octavia TCP listener: it balances per connection, over the nodes' NodePort.

    `Cluster` keeps the pods on the control-plane node reachable: kubeadm's label keeps that
    node out of Octavia's members, and kube-proxy forwards from the members to every pod.
    """
    return {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Cluster",
        "selector": dict(selector),
        "ports": [{"name": "http", "port": service_port, "targetPort": target_port, "protocol": "TCP"}],
    }


def service_url(address: str | None, service_port: int) -> str | None:
    if address is None:
        return None
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{service_port}/"


@dataclass
class LoadBalancedServiceArgs:
    service_name: str  # the Service's name (RFC 1123 label)
    namespace: pulumi.Input[str]  # namespace of the Service and of the pods it selects
    selector: dict[str, str]  # pod labels the Service balances over
    service_port: int  # port the load balancer listens on
    target_port: int | str  # the pods' port (number or name)
    load_balancer_timeout_minutes: int  # minutes to wait for Octavia on create, update and delete
    admin_cloud: str  # clouds.yaml entry the destroy-time floating IP sweep uses (needs admin)
    # The cloud controller's --cluster-name: in its load balancer's name and its floating IP's description.
    cluster_name: str = DEFAULT_CLUSTER_NAME
    load_balancer_annotations: dict[str, str] = field(default_factory=dict)  # OCCM annotations; empty: none
    annotations: dict[str, str] = field(default_factory=dict)  # the program's own (the stack's identity)


class LoadBalancedService(pulumi.ComponentResource):
    external_ip: pulumi.Output[str | None]
    url: pulumi.Output[str | None]
    service_name: pulumi.Output[str]
    load_balancer_id: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: LoadBalancedServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:network:LoadBalancedService", resource_name, None, opts)
        timeout = f"{args.load_balancer_timeout_minutes}m"
        # Deleted after the Service: removes a floating IP the cloud controller left without a port.
        self.floating_ip_sweep = FloatingIpSweep(
            f"{resource_name}-floating-ip-sweep",
            FloatingIpSweepArgs(admin_cloud=args.admin_cloud, namespace=args.namespace,
                                service_name=args.service_name, cluster_name=args.cluster_name,
                                keep=args.load_balancer_annotations.get(KEEP_FLOATING_IP_ANNOTATION) == "true"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.service = k8s.core.v1.Service(
            resource_name,
            metadata={"name": args.service_name, "namespace": args.namespace,
                      "annotations": {**args.load_balancer_annotations, **args.annotations,
                                      WAIT_FOR_ANNOTATION: CREATED_WAIT}},
            spec=service_spec(args.selector, args.service_port, args.target_port),
            # The Service waits only until it exists: `self.ready` waits for Octavia and fails early
            # on ERROR. On delete the cloud controller removes the load balancer before the Service
            # goes (an amphora on nested virtualisation can take longer than the 10-minute default).
            # Its name is fixed: a replacement (`pulumi up --replace`, the repair of a load balancer
            # deleted by hand) must delete it first, or the create would re-apply the old Service and
            # the delete then remove it.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.floating_ip_sweep], delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout, delete=timeout),
            ),
        )
        # Waits for an ingress address and an ACTIVE load balancer, within loadBalancerTimeoutMinutes;
        # replaced with the Service, so a replaced Service is waited for again.
        self.ready = LoadBalancerReady(
            f"{resource_name}-ready",
            LoadBalancerReadyArgs(namespace=args.namespace,
                                  service_name=args.service_name, cluster_name=args.cluster_name,
                                  admin_cloud=args.admin_cloud, timeout_minutes=args.load_balancer_timeout_minutes),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service], replace_with=[self.service]),
        )
        self.service_name = self.service.metadata.apply(lambda metadata: metadata.name)
        self.load_balancer_id = self.ready.load_balancer_id
        self.external_ip = self.ready.external_ip
        self.url = self.external_ip.apply(lambda address: service_url(address, args.service_port))
        self.register_outputs({"service_name": self.service_name, "external_ip": self.external_ip,
                               "url": self.url, "load_balancer_id": self.load_balancer_id})
