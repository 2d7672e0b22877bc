"""Cinder v3 handlers: parse the request, call the backend, shape the answer."""
from __future__ import annotations

from lab.openstack.block_storage import volumes as volume_rules
from lab.openstack.block_storage.volume_types import VolumeTypes, policy_refusal
from lab.openstack.compute.models import COMPUTE_HOST
from lab.openstack.core.errors import cinder_error
from lab.openstack.core.ids import cinder_time, now, stable_uuid
from lab.openstack.core.paging import paginate
from lab.openstack.core.request import json_body, parse_microversion, requested_microversion

CINDER_MAX_VERSION = (3, 70)
CINDER_MIN_VERSION = (3, 0)
MESSAGES_MICROVERSION = (3, 3)


def need_admin(req, action: str) -> None:
    if not req.is_admin:
        raise policy_refusal(action)


class BlockStorageResponses:
    def __init__(self, backends, base_url: str):
        self.backends = backends
        self.cinder = backends.block_storage
        self.base = base_url

    def _microversion(self, req) -> tuple[int, int]:
        """Every Cinder handler starts here: the place a 503 burst (lab_faults) answers instead."""
        with self.cinder.lock:
            if self.cinder.failing_requests > 0:
                self.cinder.failing_requests -= 1
                raise cinder_error(503, "Service Unavailable: the lab's fault hook (cinder_errors)")
        version = parse_microversion(requested_microversion(req.headers, "volume", None),
                                     CINDER_MIN_VERSION, CINDER_MAX_VERSION)
        req.response_headers["OpenStack-API-Version"] = f"volume {version[0]}.{version[1]}"
        req.response_headers["Vary"] = "OpenStack-API-Version"
        return version

    def _version_doc(self) -> dict:
        return {"id": "v3.0", "status": "CURRENT", "version": "{}.{}".format(*CINDER_MAX_VERSION),
                "min_version": "3.0", "updated": "2023-08-31T00:00:00Z",
                "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                          {"rel": "self", "href": f"{self.base}/volume/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    def root(self, req):
        return 300, {"versions": [self._version_doc()]}

    def v3_root(self, req, *_project):
        return 200, {"versions": [self._version_doc()]}

    # ---- types
    def _type(self, req, type_id: str) -> dict:
        return self.cinder.types.get(type_id, req.project_id, req.is_admin)

    def _type_view(self, req, volume_type: dict) -> dict:
        return VolumeTypes.view(volume_type, req.is_admin)

    def list_types(self, req, project):
        self._microversion(req)
        with self.cinder.lock:
            items = self.cinder.types.listed(req.query_value("is_public") if req.is_admin else None,
                                             req.project_id)
            page, _ = paginate(items, req)
            return 200, {"volume_types": [self._type_view(req, volume_type) for volume_type in page]}

    def create_type(self, req, project):
        self._microversion(req)
        need_admin(req, "volume_extension:type_create")
        body = json_body(req, "volume_type")
        with self.cinder.lock:
            return 200, {"volume_type": self._type_view(req, self.cinder.create_type(body))}

    def show_type(self, req, project, type_id):
        self._microversion(req)
        with self.cinder.lock:
            volume_type = self.cinder.types.default if type_id == "default" else self._type(req, type_id)
            return 200, {"volume_type": self._type_view(req, volume_type)}

    def update_type(self, req, project, type_id):
        self._microversion(req)
        need_admin(req, "volume_extension:type_update")
        body = json_body(req, "volume_type")
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            self.cinder.types.update(volume_type, body)
            return 200, {"volume_type": self._type_view(req, volume_type)}

    def delete_type(self, req, project, type_id):
        self._microversion(req)
        need_admin(req, "volume_extension:type_delete")
        with self.cinder.lock:
            self.cinder.delete_type(self._type(req, type_id))
            return 202, None

    def list_specs(self, req, project, type_id):
        self._microversion(req)
        with self.cinder.lock:
            return 200, {"extra_specs": self._type_view(req, self._type(req, type_id))["extra_specs"]}

    def create_specs(self, req, project, type_id):
        self._microversion(req)
        need_admin(req, "volume_extension:types_extra_specs:create")
        body = json_body(req, "extra_specs")
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            self.cinder.change_specs(volume_type)
            return 200, {"extra_specs": VolumeTypes.set_specs(volume_type, body)}

    def show_spec(self, req, project, type_id, key):
        self._microversion(req)
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            specs = self._type_view(req, volume_type)["extra_specs"]
            if key not in specs:
                raise cinder_error(404, f"Volume Type {volume_type['id']} has no extra specs with key {key}.")
            return 200, {key: specs[key]}

    def update_spec(self, req, project, type_id, key):
        self._microversion(req)
        need_admin(req, "volume_extension:types_extra_specs:update")
        body = json_body(req, None)
        if key not in body or len(body) != 1:
            raise cinder_error(400, "Request body and URI mismatch")
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            self.cinder.change_specs(volume_type)
            return 200, VolumeTypes.set_specs(volume_type, {key: body[key]})

    def delete_spec(self, req, project, type_id, key):
        self._microversion(req)
        need_admin(req, "volume_extension:types_extra_specs:delete")
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            self.cinder.change_specs(volume_type)
            if key not in volume_type["extra_specs"]:
                raise cinder_error(404, f"Volume Type {volume_type['id']} has no extra specs with key {key}.")
            del volume_type["extra_specs"][key]
            return 202, None

    def type_access(self, req, project, type_id):
        self._microversion(req)
        need_admin(req, "volume_extension:volume_type_access")
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            if volume_type["is_public"]:
                raise cinder_error(404, "Access list not available for public volume types.")
            return 200, {"volume_type_access": [{"volume_type_id": volume_type["id"], "project_id": project_id}
                                                for project_id in sorted(volume_type["access"])]}

    def type_action(self, req, project, type_id):
        self._microversion(req)
        body = json_body(req, None)
        with self.cinder.lock:
            volume_type = self._type(req, type_id)
            if "addProjectAccess" in body:
                need_admin(req, "volume_extension:volume_type_access:addProjectAccess")
                VolumeTypes.add_access(volume_type, (body["addProjectAccess"] or {}).get("project"))
                return 202, None
            if "removeProjectAccess" in body:
                need_admin(req, "volume_extension:volume_type_access:removeProjectAccess")
                VolumeTypes.remove_access(volume_type, (body["removeProjectAccess"] or {}).get("project"))
                return 202, None
        raise cinder_error(400, "There is no such action")

    # ---- volumes
    def _volume_view(self, req, volume: dict, version: tuple[int, int]) -> dict:
        volume_type = self.cinder.types.by_id.get(volume["volume_type_id"])
        view = {
            "id": volume["id"], "name": volume["name"], "status": volume["status"], "size": volume["size"],
            "availability_zone": volume["availability_zone"], "created_at": cinder_time(volume["created_at"]),
            "updated_at": cinder_time(volume["updated_at"]) if volume["updated_at"] else None,
            "attachments": [{"id": volume["id"], "attachment_id": attachment["id"], "volume_id": volume["id"],
                             "server_id": attachment["server_id"], "host_name": COMPUTE_HOST,
                             "device": attachment["device"], "attached_at": attachment["attached_at"]}
                            for attachment in volume_rules.attached(volume)],
            "description": volume["description"],
            "volume_type": volume_type["name"] if volume_type else volume["volume_type_name"],
            "snapshot_id": None, "source_volid": None, "metadata": dict(volume["metadata"]),
            "user_id": volume["user_id"], "bootable": "false", "encrypted": False, "replication_status": None,
            "consistencygroup_id": None, "multiattach": volume["multiattach"],
            "links": [{"rel": "self", "href": f"{self.base}/volume/v3/{volume['project_id']}/volumes/{volume['id']}"},
                      {"rel": "bookmark", "href": f"{self.base}/volume/volumes/{volume['id']}"}],
            "os-vol-tenant-attr:tenant_id": volume["project_id"],
        }
        if req.is_admin:
            view.update({"os-vol-host-attr:host": "devstack@lvmdriver-1#lvmdriver-1",
                         "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None,
                         "migration_status": None})
        if version >= (3, 13):
            view["group_id"] = None
        if version >= (3, 21):
            view["provider_id"] = None
        if version >= (3, 48):
            view["shared_targets"] = False
            view["service_uuid"] = stable_uuid("cinder-volume-service")
        if version >= (3, 61) and req.is_admin:
            view["cluster_name"] = None
        if version >= (3, 63):
            view["volume_type_id"] = volume["volume_type_id"]
        if version >= (3, 65):
            view["consumes_quota"] = True
        return view

    def _volume(self, req, volume_id: str) -> dict:
        return self.cinder.find_volume(volume_id, req.project_id, req.is_admin)

    def _list_volumes(self, req, project, detail: bool):
        version = self._microversion(req)
        with self.cinder.lock:
            items = list(self.cinder.volumes.values())
            all_projects = req.is_admin and (req.flag("all_tenants") or req.flag("all_projects"))
            wanted_project = req.query_value("project_id")
            if not all_projects:
                items = [volume for volume in items if volume["project_id"] == req.project_id]
            elif wanted_project:
                items = [volume for volume in items if volume["project_id"] == wanted_project]
            for key in ("name", "status", "availability_zone", "bootable"):
                value = req.query_value(key)
                if value is not None:
                    items = [volume for volume in items if str(volume.get(key, "false")) == value]
            wanted_type = req.query_value("volume_type") or req.query_value("volume_type_id")
            if wanted_type:
                names = {volume_type["id"]: volume_type["name"] for volume_type in self.cinder.types.by_id.values()}
                items = [volume for volume in items if wanted_type in (volume["volume_type_id"],
                                                                       names.get(volume["volume_type_id"]))]
            items = sorted(items, key=lambda volume: volume["created_at"], reverse=True)
            page, more = paginate(items, req)
            views = [self._volume_view(req, volume, version) for volume in page]
            if not detail:
                views = [{"id": view["id"], "name": view["name"], "links": view["links"]} for view in views]
            body = {"volumes": views}
            if more:
                body["volumes_links"] = [{"rel": "next", "href":
                                          f"{self.base}/volume/v3/{project}/volumes{'/detail' if detail else ''}"
                                          f"?limit={req.query_value('limit')}&marker={page[-1]['id']}"}]
            if version >= (3, 45) and req.flag("with_count"):
                body["count"] = len(items)
            return 200, body

    def list_volumes(self, req, project):
        return self._list_volumes(req, project, detail=False)

    def list_volumes_detail(self, req, project):
        return self._list_volumes(req, project, detail=True)

    def create_volume(self, req, project):
        version = self._microversion(req)
        body = json_body(req, "volume")
        with self.cinder.lock:
            volume = self.cinder.create_volume(body, req.project_id, req.user["user_id"], req.is_admin)
            return 202, {"volume": self._volume_view(req, volume, version)}

    def show_volume(self, req, project, volume_id):
        version = self._microversion(req)
        with self.cinder.lock:
            return 200, {"volume": self._volume_view(req, self._volume(req, volume_id), version)}

    def update_volume(self, req, project, volume_id):
        version = self._microversion(req)
        body = json_body(req, "volume")
        with self.cinder.lock:
            volume = self._volume(req, volume_id)
            for key in ("name", "description"):
                if key in body:
                    volume[key] = body[key]
            if "display_name" in body:
                volume["name"] = body["display_name"]
            if isinstance(body.get("metadata"), dict):
                volume["metadata"] = {str(key): str(value) for key, value in body["metadata"].items()}
            volume["updated_at"] = now()
            return 200, {"volume": self._volume_view(req, volume, version)}

    def delete_volume(self, req, project, volume_id):
        self._microversion(req)
        with self.cinder.lock:
            volume = self._volume(req, volume_id)
            force = req.flag("force")
            if force:
                need_admin(req, "volume_extension:volume_admin_actions:force_delete")
            self.cinder.delete_volume(volume, force=force)
            return 202, None

    def volume_action(self, req, project, volume_id):
        version = self._microversion(req)
        body = json_body(req, None)
        with self.cinder.lock:
            volume = self._volume(req, volume_id)
            if "os-extend" in body:
                self.cinder.extend_volume(volume, volume_rules.new_extend_size(body["os-extend"]), version)
                return 202, None
            if "os-reset_status" in body:
                need_admin(req, "volume_extension:volume_admin_actions:reset_status")
                wanted = body["os-reset_status"] or {}
                self.cinder.reset_status(volume, wanted.get("status"), wanted.get("attach_status"))
                if wanted.get("attach_status") == "detached":  # the lab's Nova forgets it too
                    self.backends.compute.forget_volume(volume_id)
                return 202, None
            if "os-force_delete" in body:
                need_admin(req, "volume_extension:volume_admin_actions:force_delete")
                self.cinder.delete_volume(volume, force=True)
                return 202, None
            if "os-set_bootable" in body or "os-update_readonly_flag" in body:
                return 200, None
        raise cinder_error(400, "There is no such action: " + ",".join(body))

    # ---- user messages (cinder/api/v3/messages.py: from 3.3; filters by any field from 3.5;
    # a project sees its own, an admin every project's)
    def _messages_version(self, req) -> tuple[int, int]:
        version = self._microversion(req)
        if version < MESSAGES_MICROVERSION:
            raise cinder_error(404, "The resource could not be found.")
        return version

    def _message_view(self, message: dict) -> dict:
        view = {key: message[key] for key in ("id", "event_id", "user_message", "message_level",
                                               "resource_type", "resource_uuid", "request_id")}
        view["created_at"] = cinder_time(message["created_at"])
        view["guaranteed_until"] = cinder_time(message["guaranteed_until"])
        href = f"{self.base}/volume/v3/{message['project_id']}/messages/{message['id']}"
        view["links"] = [{"rel": "self", "href": href}]
        return view

    def _visible_messages(self, req) -> list[dict]:
        return [m for m in self.cinder.messages if req.is_admin or m["project_id"] == req.project_id]

    def list_messages(self, req, project):
        version = self._messages_version(req)
        with self.cinder.lock:
            items = self._visible_messages(req)
            if version >= (3, 5):
                for key in ("resource_uuid", "resource_type", "event_id", "message_level", "request_id"):
                    value = req.query_value(key)
                    if value is not None:
                        items = [m for m in items if m[key] == value]
            items = sorted(items, key=lambda m: m["created_at"], reverse=True)
            return 200, {"messages": [self._message_view(m) for m in items]}

    def _message(self, req, message_id: str) -> dict:
        found = next((m for m in self._visible_messages(req) if m["id"] == message_id), None)
        if found is None:
            raise cinder_error(404, f"Message {message_id} could not be found.")
        return found

    def show_message(self, req, project, message_id):
        self._messages_version(req)
        with self.cinder.lock:
            return 200, {"message": self._message_view(self._message(req, message_id))}

    def delete_message(self, req, project, message_id):
        self._messages_version(req)
        with self.cinder.lock:
            self.cinder.messages.remove(self._message(req, message_id))
            return 204, None

    def limits(self, req, project):
        self._microversion(req)
        with self.cinder.lock:
            mine = [volume for volume in self.cinder.volumes.values() if volume["project_id"] == req.project_id]
        return 200, {"limits": {"rate": [], "absolute": {
            "totalSnapshotsUsed": 0, "maxTotalBackups": 10, "maxTotalVolumeGigabytes": 1000,
            "maxTotalSnapshots": 10, "maxTotalBackupGigabytes": 1000, "totalBackupGigabytesUsed": 0,
            "maxTotalVolumes": 10, "totalVolumesUsed": len(mine), "totalBackupsUsed": 0,
            "totalGigabytesUsed": sum(volume["size"] for volume in mine)}}}

    def availability_zones(self, req, project):
        self._microversion(req)
        return 200, {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}}]}

