"""Cinder's volume types: who may manage them, how they are found, when Cinder refuses a change.

Read from openstack/cinder: cinder/api/schemas/volume_types.py (create takes only name,
description, extra_specs and `os-volume-type-access:is_public`; update only name, description and
`is_public`; anything else is a 400), cinder/api/contrib/types_manage.py and cinder/api/v3/types.py
(show/update/delete, extra specs and type access look a type up by id only:
volume_types.get_volume_type), cinder/policies/volume_type.py (`volume_extension:type_create`,
`type_update`, `type_delete`; `types_manage` is deprecated), cinder/api/views/types.py
(`qos_specs_id` only for admins; non-admins see only the user-visible extra specs).
"""
from __future__ import annotations

from lab.openstack.core.errors import cinder_error
from lab.openstack.core.ids import new_uuid, now, stable_uuid
from lab.openstack.core.request import parse_bool

DEFAULT_VOLUME_TYPE = "lvmdriver-1"  # Devstack's default type
MULTIATTACH_SPEC = "<is> True"  # the literal the scheduler's capability filter matches
USER_VISIBLE_EXTRA_SPECS = ("multiattach", "RESKEY:availability_zones", "replication_enabled")
CREATE_FIELDS = {"name", "description", "extra_specs", "os-volume-type-access:is_public"}
UPDATE_FIELDS = {"name", "description", "is_public"}


def policy_refusal(action: str):
    return cinder_error(403, f"Policy doesn't allow {action} to be performed.")


def _schema_refusal(field: str, value, unexpected: list[str]):
    listed = ", ".join(repr(key) for key in unexpected)
    verb = "were" if len(unexpected) > 1 else "was"
    return cinder_error(400, f"Invalid input for field/attribute {field}. Value: {value}. "
                             f"Additional properties are not allowed ({listed} {verb} unexpected)")


def check_fields(body: dict, allowed: set[str]) -> None:
    """Cinder's JSON schema: `additionalProperties: False` on the volume_type object."""
    unexpected = sorted(set(body) - allowed)
    if unexpected:
        raise _schema_refusal("volume_type", body, unexpected)


def _valid_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise cinder_error(400, "Invalid input received: The type name must be a non-empty string.")
    return name


def _boolean(value, field: str) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise cinder_error(400, f"Invalid input for field/attribute {field}. Value: {value}. "
                                f"{value!r} is not of type 'boolean', 'string'")
    return parsed


def is_multiattach(volume_type: dict) -> bool:
    return volume_type["extra_specs"].get("multiattach") == MULTIATTACH_SPEC


class VolumeTypes:
    """The types, by id."""

    def __init__(self):
        default = {"id": stable_uuid("volume-type:lvmdriver-1"), "name": DEFAULT_VOLUME_TYPE,
                   "description": "Default Volume Type", "is_public": True,
                   "extra_specs": {"volume_backend_name": "lvmdriver-1"}, "qos_specs_id": None,
                   "access": set(), "created_at": now()}
        self.by_id: dict[str, dict] = {default["id"]: default}

    @property
    def default(self) -> dict:
        return next(candidate for candidate in self.by_id.values() if candidate["name"] == DEFAULT_VOLUME_TYPE)

    @staticmethod
    def visible(volume_type: dict, project_id: str | None, is_admin: bool) -> bool:
        return is_admin or volume_type["is_public"] or project_id in volume_type["access"]

    def get(self, type_id: str, project_id: str | None, is_admin: bool) -> dict:
        """By id only, as every /types/{id} endpoint looks it up."""
        volume_type = self.by_id.get(type_id)
        if volume_type is None or not self.visible(volume_type, project_id, is_admin):
            raise cinder_error(404, f"Volume type {type_id} could not be found.")
        return volume_type

    def for_new_volume(self, ref: str | None, project_id: str | None, is_admin: bool) -> dict:
        """Volume create's `volume_type`: a name or an id (volume_types.get_by_name_or_id)."""
        if not ref:
            return self.default
        volume_type = self.by_id.get(ref) or next((candidate for candidate in self.by_id.values()
                                                   if candidate["name"] == ref), None)
        if volume_type is None or not self.visible(volume_type, project_id, is_admin):
            raise cinder_error(404, f"Volume type with name {ref} could not be found.")
        return volume_type

    def listed(self, public_filter: str | None, project_id: str | None) -> list[dict]:
        """is_public defaults to True (public types plus those shared with the caller's project);
        an admin may ask for is_public=false or none (all)."""
        if public_filter is not None and public_filter.lower() == "none":
            items = list(self.by_id.values())
        elif public_filter is not None and parse_bool(public_filter) is False:
            items = [candidate for candidate in self.by_id.values() if not candidate["is_public"]]
        else:
            items = [candidate for candidate in self.by_id.values() if candidate["is_public"]
                     or project_id in candidate["access"]]
        return sorted(items, key=lambda candidate: candidate["created_at"], reverse=True)

    def create(self, body: dict) -> dict:
        check_fields(body, CREATE_FIELDS)
        name = _valid_name(body.get("name"))
        is_public = _boolean(body.get("os-volume-type-access:is_public", True), "os-volume-type-access:is_public")
        specs = body.get("extra_specs") or {}
        if not isinstance(specs, dict) or not all(isinstance(key, str) for key in specs):
            raise cinder_error(400, "Invalid input received: extra_specs must be a dictionary.")
        if any(other["name"] == name for other in self.by_id.values()):
            raise cinder_error(409, f"Volume Type {name} already exists.")
        volume_type = {"id": new_uuid(), "name": name, "description": body.get("description"),
                       "is_public": is_public, "extra_specs": {key: str(value) for key, value in specs.items()},
                       "qos_specs_id": None, "access": set(), "created_at": now()}
        self.by_id[volume_type["id"]] = volume_type
        return volume_type

    def update(self, volume_type: dict, body: dict) -> None:
        check_fields(body, UPDATE_FIELDS)
        if body.get("name") is not None:
            name = _valid_name(body["name"])
            if any(other["name"] == name and other["id"] != volume_type["id"] for other in self.by_id.values()):
                raise cinder_error(409, f"Volume Type {name} already exists.")
            volume_type["name"] = name
        if "description" in body:
            volume_type["description"] = body["description"]
        if body.get("is_public") is not None:
            volume_type["is_public"] = _boolean(body["is_public"], "is_public")

    def delete(self, volume_type: dict, volumes_of_type: list[dict]) -> None:
        """Cinder refuses while any volume of the type exists, in whatever status (deleting too)."""
        if volume_type["name"] == DEFAULT_VOLUME_TYPE:
            raise cinder_error(400, "Target volume type is still in use. The default volume type cannot be deleted.")
        if volumes_of_type:
            raise cinder_error(400, "Target volume type is still in use.")
        del self.by_id[volume_type["id"]]

    @staticmethod
    def refuse_spec_change_in_use(volumes_of_type: list[dict]) -> None:
        if volumes_of_type:
            raise cinder_error(400, "Volume Type is currently in use.")

    @staticmethod
    def set_specs(volume_type: dict, specs: dict) -> dict:
        for key in specs:
            if not isinstance(key, str) or not key or len(key) > 255:
                raise cinder_error(400, "Invalid input received: Invalid extra spec key.")
        changed = {key: str(value) for key, value in specs.items()}
        volume_type["extra_specs"].update(changed)
        return changed

    @staticmethod
    def view(volume_type: dict, is_admin: bool) -> dict:
        view = {"id": volume_type["id"], "name": volume_type["name"], "description": volume_type["description"],
                "is_public": volume_type["is_public"],
                "os-volume-type-access:is_public": volume_type["is_public"]}
        if is_admin:
            view["qos_specs_id"] = volume_type["qos_specs_id"]
            view["extra_specs"] = dict(volume_type["extra_specs"])
        else:
            view["extra_specs"] = {key: value for key, value in volume_type["extra_specs"].items()
                                   if key in USER_VISIBLE_EXTRA_SPECS}
        return view

    # ---- type access (private types)
    @staticmethod
    def add_access(volume_type: dict, project: str | None) -> None:
        if volume_type["is_public"]:
            raise cinder_error(400, "Invalid volume type: Type access modification is not applicable "
                                    "to public volume type.")
        if project in volume_type["access"]:
            raise cinder_error(409, f"Volume type access for {volume_type['id']} / {project} combination "
                                    "already exists.")
        volume_type["access"].add(project)

    @staticmethod
    def remove_access(volume_type: dict, project: str | None) -> None:
        if project not in volume_type["access"]:
            raise cinder_error(404, f"Volume type access not found for {volume_type['id']} / {project} "
                                    "combination.")
        volume_type["access"].discard(project)
