"""Neutron's state and its address rules (allocation pools, one floating IP per fixed IP)."""
from __future__ import annotations

import ipaddress
import threading

from lab.cluster import ClusterShape
from lab.openstack.compute.models import COMPUTE_HOST
from lab.openstack.core.errors import neutron_error
from lab.openstack.core.ids import mac_for, new_uuid, stable_uuid, zulu_time
from lab.openstack.identity.models import ADMIN_PROJECT_ID

PUBLIC_NET_ID = stable_uuid("network:public")
PUBLIC_SUBNET_ID = stable_uuid("subnet:public")
PRIVATE_NET_ID = stable_uuid("network:private")
PRIVATE_SUBNET_ID = stable_uuid("subnet:private")
ROUTER_ID = stable_uuid("router:router1")


def _network(net_id: str, name: str, external: bool, subnet_id: str) -> dict:
    stamp = zulu_time()
    return {"id": net_id, "name": name, "status": "ACTIVE", "admin_state_up": True, "shared": False,
            "router:external": external, "subnets": [subnet_id], "tenant_id": ADMIN_PROJECT_ID,
            "project_id": ADMIN_PROJECT_ID, "mtu": 1500 if external else 1442, "description": "",
            "port_security_enabled": True, "provider:network_type": "flat" if external else "geneve",
            "provider:physical_network": "public" if external else None,
            "provider:segmentation_id": None if external else 1, "availability_zones": ["nova"],
            "availability_zone_hints": [], "ipv4_address_scope": None, "ipv6_address_scope": None,
            "is_default": external, "tags": [], "created_at": stamp, "updated_at": stamp,
            "revision_number": 1, "qos_policy_id": None, "dns_domain": ""}


def _subnet(subnet_id: str, name: str, net_id: str, external: bool, cidr: str, gateway: str, pools) -> dict:
    stamp = zulu_time()
    return {"id": subnet_id, "name": name, "network_id": net_id, "ip_version": 4, "cidr": cidr,
            "gateway_ip": gateway, "allocation_pools": pools, "enable_dhcp": not external,
            "dns_nameservers": [], "host_routes": [], "tenant_id": ADMIN_PROJECT_ID,
            "project_id": ADMIN_PROJECT_ID, "description": "", "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "subnetpool_id": None, "service_types": [], "tags": [],
            "created_at": stamp, "updated_at": stamp, "revision_number": 0, "segment_id": None}


class NetworkBackend:
    """`address_changes` is set whenever a floating IP or port changes: the amphorae bind them."""

    def __init__(self, cluster: ClusterShape, servers: list[dict], lock: threading.RLock,
                 address_changes: threading.Event):
        self.lock, self.address_changes = lock, address_changes
        self.networks: dict[str, dict] = {}
        self.subnets: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.routers: dict[str, dict] = {}
        floating, vip = cluster.floating_prefix, cluster.vip_prefix
        for net_id, name, external, subnet_id, cidr, prefix in (
                (PUBLIC_NET_ID, "public", True, PUBLIC_SUBNET_ID, f"{floating}.0/24", floating),
                (PRIVATE_NET_ID, "private", False, PRIVATE_SUBNET_ID, cluster.private_cidr, vip)):
            self.networks[net_id] = _network(net_id, name, external, subnet_id)
            self.subnets[subnet_id] = _subnet(subnet_id, f"{name}-subnet", net_id, external, cidr, f"{prefix}.1",
                                              [{"start": f"{prefix}.2", "end": f"{prefix}.254"}])
        stamp = zulu_time()
        self.routers[ROUTER_ID] = {
            "id": ROUTER_ID, "name": "router1", "status": "ACTIVE", "admin_state_up": True,
            "tenant_id": ADMIN_PROJECT_ID, "project_id": ADMIN_PROJECT_ID, "description": "",
            "external_gateway_info": {"network_id": PUBLIC_NET_ID, "enable_snat": True,
                                      "external_fixed_ips": [{"subnet_id": PUBLIC_SUBNET_ID,
                                                              "ip_address": f"{floating}.1"}]},
            "routes": [], "tags": [], "distributed": False, "ha": False, "availability_zones": ["nova"],
            "created_at": stamp, "updated_at": stamp, "revision_number": 1}
        for server in servers:
            self.new_port(PRIVATE_NET_ID, PRIVATE_SUBNET_ID, server["ip"], name="", device_owner="compute:nova",
                          device_id=server["id"], project_id=server["project_id"], mac=server["mac"],
                          port_id=stable_uuid("port:" + server["name"]))

    # ---- addresses
    def _used_ips(self, subnet_id: str) -> set[str]:
        used = {self.subnets[subnet_id]["gateway_ip"]}
        used |= {fixed["ip_address"] for port in self.ports.values() for fixed in port["fixed_ips"]
                 if fixed["subnet_id"] == subnet_id}
        return used | {fip["floating_ip_address"] for fip in self.floatingips.values()}

    def allocate_ip(self, subnet_id: str, wanted: str | None = None) -> str:
        subnet = self.subnets[subnet_id]
        used = self._used_ips(subnet_id)
        if wanted:
            if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
                raise neutron_error(400, f"IP address {wanted} is not a valid IP for the specified subnet.",
                                    "InvalidIpForSubnet")
            if wanted in used:
                raise neutron_error(409, f"IP address {wanted} already allocated in subnet {subnet_id}",
                                    "IpAddressAlreadyAllocated")
            return wanted
        for pool in subnet["allocation_pools"]:
            address, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
            while address <= end:
                if str(address) not in used:
                    return str(address)
                address += 1
        raise neutron_error(409, f"No more IP addresses available on network {subnet['network_id']}.",
                            "IpAddressGenerationFailure")

    # ---- ports
    def new_port(self, network_id, subnet_id, ip, name, device_owner, device_id, project_id,
                 mac=None, port_id=None, description="") -> dict:
        port_id = port_id or new_uuid()
        stamp = zulu_time()
        port = {
            "id": port_id, "name": name, "network_id": network_id, "tenant_id": project_id,
            "project_id": project_id, "mac_address": mac or mac_for(port_id), "admin_state_up": True,
            "status": "ACTIVE", "device_id": device_id, "device_owner": device_owner,
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}] if subnet_id else [],
            "allowed_address_pairs": [], "extra_dhcp_opts": [], "security_groups": [],
            "description": description, "binding:vnic_type": "normal", "binding:host_id": COMPUTE_HOST,
            "binding:vif_type": "ovs", "binding:vif_details": {}, "binding:profile": {},
            "port_security_enabled": True, "tags": [], "created_at": stamp, "updated_at": stamp,
            "revision_number": 1, "dns_name": "", "dns_assignment": [], "qos_policy_id": None,
            "propagate_uplink_status": False}
        self.ports[port_id] = port
        return port

    def remove_port(self, port_id: str) -> None:
        self.ports.pop(port_id, None)
        for fip in self.floatingips.values():
            if fip["port_id"] == port_id:
                self._unbind(fip)
        self.address_changes.set()

    # ---- floating IPs
    def fips_of_port(self, port_id: str) -> list[str]:
        return [fip["floating_ip_address"] for fip in self.floatingips.values() if fip["port_id"] == port_id]

    @staticmethod
    def _unbind(fip: dict) -> None:
        fip.update(port_id=None, fixed_ip_address=None, status="DOWN", router_id=None, port_details=None)

    def bind_fip(self, fip: dict, port_id: str | None, fixed_ip: str | None = None) -> None:
        if port_id is None:
            self._unbind(fip)
            return
        port = self.ports.get(port_id)
        if port is None:
            raise neutron_error(404, f"Port {port_id} could not be found.", "PortNotFound")
        if not port["fixed_ips"]:
            raise neutron_error(400, f"Bad floatingip request: Port {port_id} does not have any IP addresses.")
        if any(other["port_id"] == port_id and other["id"] != fip["id"] for other in self.floatingips.values()):
            raise neutron_error(409, f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) "
                                     f"with port {port_id} using fixed IP {port['fixed_ips'][0]['ip_address']}, "
                                     f"as that fixed IP already has a floating IP on external network "
                                     f"{PUBLIC_NET_ID}.", "FloatingIPPortAlreadyAssociated")
        fip.update(port_id=port_id, fixed_ip_address=fixed_ip or port["fixed_ips"][0]["ip_address"],
                   status="ACTIVE", router_id=ROUTER_ID,
                   port_details={"name": port["name"], "network_id": port["network_id"],
                                 "mac_address": port["mac_address"], "admin_state_up": True,
                                 "status": "ACTIVE", "device_id": port["device_id"],
                                 "device_owner": port["device_owner"]})

    def create_fip(self, body: dict, project_id: str) -> dict:
        net = self.networks.get(body.get("floating_network_id"))
        if net is None:
            raise neutron_error(404, f"Network {body.get('floating_network_id')} could not be found.",
                                "NetworkNotFound")
        if not net["router:external"]:
            raise neutron_error(400, f"Bad floatingip request: Network {net['id']} is not a valid external network.")
        address = self.allocate_ip(body.get("subnet_id") or net["subnets"][0], body.get("floating_ip_address"))
        stamp = zulu_time()
        fip = {"id": new_uuid(), "floating_ip_address": address, "floating_network_id": net["id"],
               "fixed_ip_address": None, "port_id": None, "router_id": None, "status": "DOWN",
               "project_id": project_id, "tenant_id": project_id, "description": body.get("description", ""),
               "tags": [], "port_details": None, "dns_domain": "", "dns_name": "", "qos_policy_id": None,
               "port_forwardings": [], "created_at": stamp, "updated_at": stamp, "revision_number": 0}
        if body.get("port_id"):
            self.bind_fip(fip, body["port_id"], body.get("fixed_ip_address"))
        self.floatingips[fip["id"]] = fip
        self.address_changes.set()
        print(f"neutron: floating IP {address} created (port {fip['port_id']})", flush=True)
        return fip
