"""Nova v2.1 handlers."""
from __future__ import annotations

import re

from lab.openstack.compute.models import COMPUTE_HOST
from lab.openstack.core.errors import nova_error
from lab.openstack.core.ids import cinder_time, hex_id, stable_uuid, zulu_time
from lab.openstack.core.paging import paginate
from lab.openstack.core.request import json_body, parse_microversion, requested_microversion

NOVA_MAX_VERSION = (2, 96)
NOVA_MIN_VERSION = (2, 1)


class ComputeResponses:
    def __init__(self, backends, base_url: str):
        self.backends = backends
        self.nova = backends.compute
        self.base = base_url

    @staticmethod
    def _microversion(req) -> tuple[int, int]:
        raw = requested_microversion(req.headers, "compute", "X-OpenStack-Nova-API-Version")
        version = parse_microversion(raw, NOVA_MIN_VERSION, NOVA_MAX_VERSION)
        text = f"{version[0]}.{version[1]}"
        req.response_headers["OpenStack-API-Version"] = f"compute {text}"
        req.response_headers["X-OpenStack-Nova-API-Version"] = text
        req.response_headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return version

    def _versions(self) -> list[dict]:
        return [{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                 "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": f"{self.base}/compute/v2/"}]},
                {"id": "v2.1", "status": "CURRENT", "version": "{}.{}".format(*NOVA_MAX_VERSION),
                 "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
                 "links": [{"rel": "self", "href": f"{self.base}/compute/v2.1/"}]}]

    def root(self, req):
        return 200, {"versions": self._versions()}

    def v21(self, req):
        doc = dict(self._versions()[1])
        doc["media-types"] = [{"base": "application/json",
                               "type": "application/vnd.openstack.compute+json;version=2.1"}]
        return 200, {"version": doc}

    def _server(self, req, server_id: str) -> dict:
        return self.nova.find_server(server_id, req.project_id, req.is_admin)

    def _server_view(self, req, server: dict, version: tuple[int, int], detail: bool = True) -> dict:
        links = [{"rel": "self", "href": f"{self.base}/compute/v2.1/servers/{server['id']}"},
                 {"rel": "bookmark", "href": f"{self.base}/compute/servers/{server['id']}"}]
        if not detail:
            return {"id": server["id"], "name": server["name"], "links": links}
        flavor = ({"vcpus": 2, "ram": 4096, "disk": 20, "ephemeral": 0, "swap": 0,
                   "original_name": "m1.medium", "extra_specs": {}} if version >= (2, 47)
                  else {"id": "3", "links": [{"rel": "bookmark", "href": f"{self.base}/compute/flavors/3"}]})
        view = {
            "id": server["id"], "name": server["name"], "status": "ACTIVE", "tenant_id": server["project_id"],
            "user_id": server["user_id"], "metadata": {}, "hostId": hex_id("host:" + COMPUTE_HOST)[:28] * 2,
            "image": {"id": stable_uuid("image:ubuntu"), "links": []}, "flavor": flavor,
            "created": zulu_time(server["created"]), "updated": zulu_time(server["created"]),
            "addresses": {"private": [{"version": 4, "addr": server["ip"], "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": server["mac"]}]},
            "accessIPv4": "", "accessIPv6": "", "links": links, "OS-DCF:diskConfig": "MANUAL",
            "progress": 0, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "",
            "key_name": None, "OS-SRV-USG:launched_at": cinder_time(server["created"]),
            "OS-SRV-USG:terminated_at": None, "security_groups": [{"name": "default"}],
            "OS-EXT-STS:task_state": None, "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
            "os-extended-volumes:volumes_attached": [
                {"id": record["volume_id"], **({"delete_on_termination": False} if version >= (2, 3) else {})}
                for record in server["attachments"]],
        }
        if req.is_admin:
            view.update({"OS-EXT-SRV-ATTR:host": COMPUTE_HOST, "OS-EXT-SRV-ATTR:instance_name":
                         "instance-%08x" % (list(self.nova.servers).index(server["id"]) + 1),
                         "OS-EXT-SRV-ATTR:hypervisor_hostname": COMPUTE_HOST})
            if version >= (2, 3):
                view.update({"OS-EXT-SRV-ATTR:hostname": server["name"], "OS-EXT-SRV-ATTR:reservation_id": "r-lab",
                             "OS-EXT-SRV-ATTR:launch_index": 0, "OS-EXT-SRV-ATTR:kernel_id": "",
                             "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                             "OS-EXT-SRV-ATTR:user_data": None})
        for since, key, value in (((2, 9), "locked", False), ((2, 19), "description", None), ((2, 26), "tags", []),
                                  ((2, 73), "locked_reason", None), ((2, 96), "pinned_availability_zone", None)):
            if version >= since:
                view[key] = value
        return view

    def _list_servers(self, req, detail: bool):
        version = self._microversion(req)
        with self.nova.lock:
            items = list(self.nova.servers.values())
            if not (req.is_admin and (req.flag("all_tenants") or req.flag("all_projects"))):
                items = [server for server in items if server["project_id"] == req.project_id]
            name = req.query_value("name")
            if name:
                try:
                    pattern = re.compile(name)
                except re.error:
                    raise nova_error(400, f"Invalid regular expression {name}") from None
                items = [server for server in items if pattern.search(server["name"])]
            status = req.query_value("status")
            if status and status.upper() != "ACTIVE":
                items = []
            address = req.query_value("ip")
            if address:
                items = [server for server in items if re.search(address, server["ip"])]
            page, more = paginate(items, req, nova_error)
            body = {"servers": [self._server_view(req, server, version, detail) for server in page]}
            if more:
                body["servers_links"] = [{"rel": "next", "href": f"{self.base}/compute/v2.1/servers"
                                          f"{'/detail' if detail else ''}?limit={req.query_value('limit')}"
                                          f"&marker={page[-1]['id']}"}]
            return 200, body

    def list_servers(self, req):
        return self._list_servers(req, detail=False)

    def list_servers_detail(self, req):
        return self._list_servers(req, detail=True)

    def show_server(self, req, server_id):
        version = self._microversion(req)
        with self.nova.lock:
            return 200, {"server": self._server_view(req, self._server(req, server_id), version)}

    @staticmethod
    def _attachment_view(record: dict, server_id: str, version: tuple[int, int]) -> dict:
        view = {"device": record["device"], "serverId": server_id, "volumeId": record["volume_id"]}
        if version < (2, 89):
            view["id"] = record["volume_id"]
        if version >= (2, 70):
            view["tag"] = record.get("tag")
        if version >= (2, 79):
            view["delete_on_termination"] = record.get("delete_on_termination", False)
        if version >= (2, 89):
            view["attachment_id"] = record["attachment_id"]
            view["bdm_uuid"] = record["bdm_uuid"]
        return view

    def attach_volume(self, req, server_id):
        version = self._microversion(req)
        body = json_body(req, "volumeAttachment", nova_error)
        volume_id = body.get("volumeId")
        if not isinstance(volume_id, str) or not volume_id:
            raise nova_error(400, "Invalid input for field/attribute volumeId. Value: None. "
                                  "None is not of type 'string'")
        with self.nova.lock:
            server = self._server(req, server_id)
            volume = self.backends.block_storage.volumes.get(volume_id)
            if volume is None or not (req.is_admin or volume["project_id"] == req.project_id):
                raise nova_error(404, f"Volume {volume_id} could not be found.")
            record = self.nova.attach(server, volume, body, version)
            return 200, {"volumeAttachment": self._attachment_view(record, server_id, version)}

    def list_attachments(self, req, server_id):
        version = self._microversion(req)
        with self.nova.lock:
            server = self._server(req, server_id)
            items, _ = paginate([dict(record, id=record["volume_id"]) for record in server["attachments"]], req,
                                nova_error)
            return 200, {"volumeAttachments": [self._attachment_view(record, server_id, version) for record in items]}

    def _record(self, req, server_id: str, volume_id: str) -> tuple[dict, dict]:
        server = self._server(req, server_id)
        record = self.nova.bdm(server, volume_id)
        if record is None:
            raise nova_error(404, f"Volume {volume_id} is not attached to {server_id}")
        return server, record

    def show_attachment(self, req, server_id, volume_id):
        version = self._microversion(req)
        with self.nova.lock:
            _, record = self._record(req, server_id, volume_id)
            return 200, {"volumeAttachment": self._attachment_view(record, server_id, version)}

    def detach_volume(self, req, server_id, volume_id):
        self._microversion(req)
        with self.nova.lock:
            server, record = self._record(req, server_id, volume_id)
            self.nova.detach(server, record, self.backends.block_storage.volumes.get(volume_id))
            return 202, None

    def _flavors(self, req, detail: bool):
        self._microversion(req)
        flavor = {"id": "3", "name": "m1.medium", "links": []}
        if detail:
            flavor.update({"vcpus": 2, "ram": 4096, "disk": 20, "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0,
                           "os-flavor-access:is_public": True, "rxtx_factor": 1.0})
        return 200, {"flavors": [flavor]}

    def list_flavors(self, req):
        return self._flavors(req, detail=False)

    def list_flavors_detail(self, req):
        return self._flavors(req, detail=True)
