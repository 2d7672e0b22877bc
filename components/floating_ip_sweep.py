"""Destroy-time sweep: the floating IPs the cloud controller made for the Service and then left behind.

The OpenStack cloud controller deletes the Service's floating IP only through its load balancer's
VIP port (ensureLoadBalancerDeleted). When that load balancer is gone first (deleted by hand in
Octavia), the floating IP stays, with no port and the controller's description "Floating IP for
Kubernetes external service <namespace>/<service> from cluster <cluster>", for good. The Service
depends on this resource, so its delete runs after the Service's (once the cloud controller has
done its own cleanup) and deletes every floating IP of exactly that description that has no port,
unless the Service keeps its floating IP (`loadbalancer.openstack.org/keep-floatingip: "true"`).
Creating it calls nothing remote.

Plain functions (tested against fakes), a thin dynamic provider that imports openstacksdk inside its
methods (it runs in the engine's provider host, from the project folder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components import wait_for_clients
from components.progress import to_stderr
from policy.devstack_domain import floating_ip_description


@dataclass(frozen=True)
class FloatingIpInfo:
    id: str
    address: str
    description: str | None
    port_id: str | None


class FloatingIpSweepError(RuntimeError):
    """The sweep could not list or delete: the destroy fails, naming what is left."""


def orphans(ips: Iterable[FloatingIpInfo], description: str) -> list[FloatingIpInfo]:
    """The controller's floating IPs of this Service that nothing uses any more."""
    return [ip for ip in ips if ip.description == description and not ip.port_id]


def sweep(list_ips: Callable[[], list[FloatingIpInfo]], delete_ip: Callable[[FloatingIpInfo], None],
          description: str, log: Callable[[str], None] = to_stderr
          ) -> list[FloatingIpInfo]:
    """Delete the orphans; returns them. A failed delete stops with the ones left named."""
    found = orphans(list_ips(), description)
    for index, ip in enumerate(found):
        try:
            delete_ip(ip)
        except Exception as error:  # openstacksdk raises many classes; the message names the cause
            left = ", ".join(f"{other.address} ({other.id})" for other in found[index:])
            raise FloatingIpSweepError(f"could not delete the floating IP {ip.address} ({ip.id}) the cloud "
                                       f"controller left behind: {error}; left: {left} (openstack floating ip "
                                       f"delete <id>, then pulumi destroy again)") from error
        log(f"deleted the floating IP {ip.address} ({ip.id}) the cloud controller left behind ({description})")
    return found


def openstack_floating_ips(cloud: str) -> tuple[Callable[[], list[FloatingIpInfo]], Callable[[FloatingIpInfo], None]]:
    """List (every project's, with admin credentials) and delete floating IPs through openstacksdk."""
    wait_for_clients()
    import openstack

    try:
        connection = openstack.connect(cloud=cloud)
    except Exception as error:  # ConfigException and the like
        raise FloatingIpSweepError(f"clouds.yaml entry {cloud!r} (adminCloud): {error}") from error

    def list_ips() -> list[FloatingIpInfo]:
        try:
            return [FloatingIpInfo(ip.id, ip.floating_ip_address, ip.description, ip.port_id)
                    for ip in connection.network.ips()]
        except Exception as error:
            raise FloatingIpSweepError(f"could not list floating IPs with clouds.yaml entry {cloud!r}: "
                                       f"{error}") from error

    def delete_ip(ip: FloatingIpInfo) -> None:
        connection.network.delete_ip(ip.id, ignore_missing=True)

    return list_ips, delete_ip


class FloatingIpSweepProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=f"sweep-{props['description']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = [key for key in ("admin_cloud", "description", "keep") if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("keep"):
            return
        sweep(*openstack_floating_ips(props["admin_cloud"]), props["description"])


@dataclass
class FloatingIpSweepArgs:
    admin_cloud: str  # clouds.yaml entry with admin rights: the cloud controller's project's floating IPs
    namespace: pulumi.Input[str]  # the Service's namespace
    service_name: str  # the Service's name
    cluster_name: str  # the cloud controller's --cluster-name
    keep: bool  # the Service keeps its floating IP (keep-floatingip "true"): sweep nothing


class FloatingIpSweep(pulumi.dynamic.Resource, module="network", name="FloatingIpSweep"):
    def __init__(self, resource_name: str, args: FloatingIpSweepArgs, opts: pulumi.ResourceOptions | None = None):
        description = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: floating_ip_description(namespace, args.service_name, args.cluster_name))
        super().__init__(FloatingIpSweepProvider(), resource_name,
                         {"admin_cloud": args.admin_cloud, "description": description, "keep": args.keep}, opts)
