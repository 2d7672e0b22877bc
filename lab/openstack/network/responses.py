"""Neutron v2.0 handlers."""
from __future__ import annotations

import copy

from lab.openstack.core.errors import neutron_error
from lab.openstack.core.ids import zulu_time
from lab.openstack.core.paging import filter_by_query, paginate
from lab.openstack.core.request import json_body

EXTENSIONS = ["external-net", "router", "ext-gw-mode", "extraroute", "standard-attr-tag", "tag-ext",
              "binding", "security-group", "port-security", "dns-integration", "allowed-address-pairs",
              "standard-attr-description", "standard-attr-timestamp", "standard-attr-revisions",
              "fip-port-details", "project-id", "pagination", "sorting", "subnet_allocation",
              "network_availability_zone", "router_availability_zone", "availability_zone", "quotas"]
# collection -> (resource name in answers, "not found" kind)
_KINDS = {"networks": ("network", "NetworkNotFound"), "subnets": ("subnet", "SubnetNotFound"),
          "routers": ("router", "RouterNotFound"), "ports": ("port", "PortNotFound"),
          "floatingips": ("floatingip", "FloatingIPNotFound")}
_SHARED_COLLECTIONS = {"networks", "subnets"}  # the external network and its subnet are visible to all


def _visible(req, item: dict, shared_ok: bool = False) -> bool:
    return (req.is_admin or item.get("project_id") == req.project_id
            or (shared_ok and bool(item.get("shared") or item.get("router:external"))))


class NetworkResponses:
    def __init__(self, backends, base_url: str):
        self.neutron = backends.network
        self.base = base_url

    def _store(self, collection: str) -> dict[str, dict]:
        return {"networks": self.neutron.networks, "subnets": self.neutron.subnets,
                "routers": self.neutron.routers, "ports": self.neutron.ports,
                "floatingips": self.neutron.floatingips}[collection]

    def _listing(self, req, collection: str, items: list[dict], skip=frozenset()):
        items = [item for item in items if _visible(req, item, collection in _SHARED_COLLECTIONS)]
        page, more = paginate(filter_by_query(items, req, skip), req, neutron_error)
        body = {collection: [copy.deepcopy(item) for item in page]}
        if more:
            body[collection + "_links"] = [{"rel": "next", "href": f"{self.base}/networking/v2.0/{collection}"
                                            f"?limit={req.query_value('limit')}&marker={page[-1]['id']}"}]
        return 200, body

    def _item(self, req, collection: str, item_id: str) -> dict:
        item = self._store(collection).get(item_id)
        kind, not_found = _KINDS[collection]
        if item is None or not _visible(req, item, collection in _SHARED_COLLECTIONS):
            label = "Floating IP" if collection == "floatingips" else kind.capitalize()
            raise neutron_error(404, f"{label} {item_id} could not be found.", not_found)
        return item

    def _show(self, req, collection: str, item_id: str):
        with self.neutron.lock:
            return 200, {_KINDS[collection][0]: copy.deepcopy(self._item(req, collection, item_id))}

    # ---- discovery
    def root(self, req):
        return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                   "links": [{"rel": "self", "href": f"{self.base}/networking/v2.0/"}]}]}

    def v20(self, req):
        names = ["network", "subnet", "port", "floatingip", "router", "extension"]
        return 200, {"resources": [{"name": name, "collection": name + "s",
                                    "links": [{"rel": "self", "href": f"{self.base}/networking/v2.0/{name}s"}]}
                                   for name in names]}

    def extensions(self, req):
        return 200, {"extensions": [{"alias": alias, "name": alias, "description": alias, "links": [],
                                     "updated": "2013-01-01T10:00:00-00:00"} for alias in EXTENSIONS]}

    # ---- networks, subnets, routers
    def list_networks(self, req):
        with self.neutron.lock:
            return self._listing(req, "networks", list(self.neutron.networks.values()))

    def show_network(self, req, item_id):
        return self._show(req, "networks", item_id)

    def list_subnets(self, req):
        with self.neutron.lock:
            # a subnet is as visible as its network (the external one is shared)
            subnets = [dict(subnet, shared=self.neutron.networks[subnet["network_id"]]["router:external"])
                       for subnet in self.neutron.subnets.values()]
            status, body = self._listing(req, "subnets", subnets)
            for subnet in body["subnets"]:
                subnet.pop("shared", None)
            return status, body

    def show_subnet(self, req, item_id):
        return self._show(req, "subnets", item_id)

    def list_routers(self, req):
        with self.neutron.lock:
            return self._listing(req, "routers", list(self.neutron.routers.values()))

    def show_router(self, req, item_id):
        return self._show(req, "routers", item_id)

    # ---- ports
    def list_ports(self, req):
        with self.neutron.lock:
            items = list(self.neutron.ports.values())
            for value in req.query.get("fixed_ips", []):
                wanted = dict(part.split("=", 1) for part in value.split("&") if "=" in part)
                items = [port for port in items
                         if any(all(fixed.get(key) == value for key, value in wanted.items())
                                for fixed in port["fixed_ips"])]
            return self._listing(req, "ports", items, skip={"fixed_ips"})

    def show_port(self, req, item_id):
        return self._show(req, "ports", item_id)

    def create_port(self, req):
        body = json_body(req, "port", neutron_error)
        with self.neutron.lock:
            net = self.neutron.networks.get(body.get("network_id"))
            if net is None:
                raise neutron_error(404, f"Network {body.get('network_id')} could not be found.", "NetworkNotFound")
            fixed = (body.get("fixed_ips") or [{}])[0]
            subnet_id = fixed.get("subnet_id") or net["subnets"][0]
            address = self.neutron.allocate_ip(subnet_id, fixed.get("ip_address"))
            port = self.neutron.new_port(net["id"], subnet_id, address, body.get("name", ""),
                                         body.get("device_owner", ""), body.get("device_id", ""), req.project_id,
                                         description=body.get("description", ""))
            return 201, {"port": copy.deepcopy(port)}

    def update_port(self, req, port_id):
        body = json_body(req, "port", neutron_error)
        with self.neutron.lock:
            port = self._item(req, "ports", port_id)
            for key in ("name", "description", "device_id", "device_owner", "admin_state_up",
                        "allowed_address_pairs", "security_groups"):
                if key in body:
                    port[key] = body[key]
            port["revision_number"] += 1
            port["updated_at"] = zulu_time()
            return 200, {"port": copy.deepcopy(port)}

    def delete_port(self, req, port_id):
        with self.neutron.lock:
            self._item(req, "ports", port_id)
            self.neutron.remove_port(port_id)
            return 204, None

    # ---- floating IPs
    def list_fips(self, req):
        with self.neutron.lock:
            return self._listing(req, "floatingips", list(self.neutron.floatingips.values()))

    def show_fip(self, req, item_id):
        return self._show(req, "floatingips", item_id)

    def create_fip(self, req):
        body = json_body(req, "floatingip", neutron_error)
        with self.neutron.lock:
            return 201, {"floatingip": copy.deepcopy(self.neutron.create_fip(body, req.project_id))}

    def update_fip(self, req, fip_id):
        body = json_body(req, "floatingip", neutron_error)
        with self.neutron.lock:
            fip = self._item(req, "floatingips", fip_id)
            if "port_id" in body:
                self.neutron.bind_fip(fip, body["port_id"], body.get("fixed_ip_address"))
            if "description" in body:
                fip["description"] = body["description"]
            fip["revision_number"] += 1
            fip["updated_at"] = zulu_time()
            self.neutron.address_changes.set()
            return 200, {"floatingip": copy.deepcopy(fip)}

    def delete_fip(self, req, fip_id):
        with self.neutron.lock:
            fip = self._item(req, "floatingips", fip_id)
            del self.neutron.floatingips[fip_id]
            self.neutron.address_changes.set()
            print(f"neutron: floating IP {fip['floating_ip_address']} deleted", flush=True)
            return 204, None

    def put_fip_tag(self, req, fip_id, tag):
        with self.neutron.lock:
            fip = self._item(req, "floatingips", fip_id)
            if tag not in fip["tags"]:
                fip["tags"].append(tag)
            return 201, None

    def put_fip_tags(self, req, fip_id):
        body = json_body(req, None, neutron_error)
        with self.neutron.lock:
            fip = self._item(req, "floatingips", fip_id)
            fip["tags"] = list(body.get("tags") or [])
            return 200, {"tags": fip["tags"]}
