"""The Service of type LoadBalancer that the OpenStack cloud controller turns into Octavia."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def service_spec(selector: dict[str, str], port: int, target_port: int | str) -> dict:
    """TCP becomes an Octavia TCP listener: it balances per connection, over the nodes' NodePort."""
    return {
        "type": "LoadBalancer",
        "selector": dict(selector),
        "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}],
    }


def external_address(status: Any) -> str | None:
    """The Service's ingress IP (floating IP or VIP), or its hostname; None until Octavia assigns one."""
    ingress = (getattr(getattr(status, "load_balancer", None), "ingress", None) or [None])[0]
    if ingress is None:
        return None
    return ingress.ip or ingress.hostname


def service_url(address: str | None, port: int) -> str | None:
    if address is None:
        return None
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/"


@dataclass
class LoadBalancedServiceArgs:
    name: str
    namespace: str
    selector: dict[str, str]
    port: int
    target_port: int | str
    timeout_minutes: int
    annotations: dict[str, str] = field(default_factory=dict)


class LoadBalancedService(pulumi.ComponentResource):
    external_ip: pulumi.Output[str | None]
    url: pulumi.Output[str | None]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, args: LoadBalancedServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("devstack-k8s-apps:network:LoadBalancedService", resource_name, None, opts)
        timeout = f"{args.timeout_minutes}m"
        self.service = k8s.core.v1.Service(
            resource_name,
            metadata={"name": args.name, "namespace": args.namespace, "annotations": dict(args.annotations)},
            spec=service_spec(args.selector, args.port, args.target_port),
            # An Octavia amphora boots a VM: on nested virtualisation that exceeds the 10-minute default.
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout)
            ),
        )
        self.name = self.service.metadata.apply(lambda metadata: metadata.name)
        self.external_ip = self.service.status.apply(external_address)
        self.url = self.external_ip.apply(lambda address: service_url(address, args.port))
        self.register_outputs({"name": self.name, "external_ip": self.external_ip, "url": self.url})
