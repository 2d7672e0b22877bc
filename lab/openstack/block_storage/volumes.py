"""Cinder's volumes and their attachments (the v3 attachments flow Nova uses).

Read from openstack/cinder cinder/volume/api.py:
- `_attachment_reserve`: a new attachment needs the volume `available`/`downloading`, or for a
  multiattach volume also `in-use`; it then sets the volume (and the attachment) `reserved`. So
  while one attach is in flight (`reserved`, `attaching`) a second attach of the same volume is
  refused, multiattach or not, until the first completes.
- the volume manager's attachment_update makes it `attaching`; attachment_complete `in-use`.
- `begin_detaching` needs `in-use` (and attach_status attached): it sets `detaching`, so detaches
  of one volume serialize too; `attachment_delete` then leaves the "highest" status among the
  remaining attachments (attached > attaching > detaching > reserved), else `available`.
- cinder/api/v2/views/volumes.py lists only attachments whose attach_status is `attached`.
- extend: see begin_extend (the size stays the old one while `extending`).
"""
from __future__ import annotations

from datetime import timedelta

from lab.openstack.core.errors import cinder_error
from lab.openstack.core.ids import cinder_time, new_uuid, now

DELETABLE_STATUSES = ("available", "error", "error_restoring", "error_extending", "error_managing")
# attachment_delete: the status the volume keeps, by the remaining attachments' states
_REMAINING_STATUS = (("attached", "in-use"), ("attaching", "attaching"), ("detaching", "detaching"),
                     ("reserved", "reserved"))


class InvalidVolume(Exception):
    """Cinder's InvalidVolume (400); Nova passes the reason on as "Invalid volume: <reason>"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reservable_statuses(multiattach: bool) -> tuple[str, ...]:
    return ("available", "in-use", "downloading") if multiattach else ("available", "downloading")


def status_after_detach(remaining: list[dict]) -> str:
    states = {attachment["attach_status"] for attachment in remaining}
    return next((status for state, status in _REMAINING_STATUS if state in states), "available")


def reserve_attachment(volume: dict, server_id: str, device: str) -> dict:
    """A new attachment of `volume` to `server_id`, `reserved`; InvalidVolume if its status
    does not allow one (see _attachment_reserve above)."""
    allowed = reservable_statuses(volume["multiattach"])
    if volume["status"] not in allowed:
        raise InvalidVolume(f"Volume {volume['id']} status must be {' or '.join(allowed)} to reserve, "
                            f"but the current status is {volume['status']}.")
    attachment = {"id": new_uuid(), "volume_id": volume["id"], "server_id": server_id, "device": device,
                  "attach_status": "reserved", "attached_at": None}
    volume["attachments"].append(attachment)
    volume["status"], volume["updated_at"] = "reserved", now()
    return attachment


def attachment_connecting(volume: dict, attachment: dict) -> None:
    """attachment_update with the host's connector: the volume is `attaching`."""
    attachment["attach_status"] = "attaching"
    volume["status"], volume["updated_at"] = "attaching", now()


def attachment_complete(volume: dict, attachment: dict) -> None:
    attachment["attach_status"], attachment["attached_at"] = "attached", cinder_time()
    volume["status"], volume["updated_at"] = "in-use", now()


def begin_detaching(volume: dict) -> None:
    if volume["status"] != "in-use":
        raise InvalidVolume("Unable to detach volume. Volume status must be 'in-use' and attach_status "
                            "must be 'attached' to detach.")
    volume["status"], volume["updated_at"] = "detaching", now()


def attachment_delete(volume: dict, attachment_id: str) -> None:
    volume["attachments"] = [attachment for attachment in volume["attachments"] if attachment["id"] != attachment_id]
    volume["status"], volume["updated_at"] = status_after_detach(volume["attachments"]), now()


def attached(volume: dict) -> list[dict]:
    """The attachments the volume shows: only completed ones."""
    return [attachment for attachment in volume["attachments"] if attachment["attach_status"] == "attached"]


def refuse_delete(volume: dict) -> None:
    if volume["attachments"] or volume["status"] not in DELETABLE_STATUSES:
        raise cinder_error(400, "Invalid volume: Volume status must be available or error or "
                                "error_restoring or error_extending or error_managing and must not be "
                                "migrating, attached, belong to a group, have snapshots, awaiting a "
                                "transfer, or be disassociated from snapshots after volume transfer.")


def valid_size(size) -> int:
    try:
        size = int(size)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise cinder_error(400, f"Invalid input received: Volume size '{size}' must be an integer "
                                "and greater than 0.")
    return size


def new_volume(body: dict, volume_type: dict, multiattach: bool, project_id: str, user_id: str) -> dict:
    return {"id": new_uuid(), "name": body.get("name"), "description": body.get("description"),
            "size": valid_size(body.get("size")), "status": "creating", "volume_type_id": volume_type["id"],
            "volume_type_name": volume_type["name"], "multiattach": multiattach,
            "availability_zone": body.get("availability_zone") or "nova",
            "metadata": {str(key): str(value) for key, value in (body.get("metadata") or {}).items()},
            "project_id": project_id, "user_id": user_id, "created_at": now(), "updated_at": None,
            "attachments": []}


# cinder/api/microversions.py VOLUME_EXTEND_INUSE: from 3.42 an in-use volume can be extended.
EXTEND_IN_USE_MICROVERSION = (3, 42)


def new_extend_size(body: dict | None) -> int:
    """os-extend's new_size (cinder/api/schemas/volume_actions.py: a positive integer)."""
    try:
        size = int((body or {}).get("new_size"))
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise cinder_error(400, "Invalid input for field/attribute new_size. Value: "
                                f"{(body or {}).get('new_size')}. It must be a positive integer.")
    return size


def begin_extend(volume: dict, new_size: int, microversion: tuple[int, int]) -> str:
    """Cinder's extend (cinder/api/contrib/volume_actions.py _extend, cinder/volume/api.py
    _extend): the size must grow (InvalidInput, checked first); then the volume must be
    `available`, or `in-use` when the request asks for 3.42 or later (extend_attached_volume);
    anything else is InvalidVolume. Both are 400. The volume goes `extending`; returns the
    status it comes back to."""
    if new_size <= volume["size"]:
        raise cinder_error(400, f"Invalid input received: New size for extend must be greater than "
                                f"current size. (current: {volume['size']}, extended: {new_size}).")
    expected = "in-use" if microversion >= EXTEND_IN_USE_MICROVERSION and volume["status"] == "in-use" \
        else "available"
    if volume["status"] != expected:
        raise cinder_error(400, f"Invalid volume: Volume {volume['id']} status must be '{{'status': "
                                f"'{expected}'}}' to extend, currently {volume['status']}.")
    volume["status"], volume["updated_at"] = "extending", now()
    return expected


def finish_extend(volume: dict, new_size: int, previous_status: str) -> None:
    """The volume manager's extend_volume: the new size, and the status it had before."""
    volume["size"], volume["status"], volume["updated_at"] = new_size, previous_status, now()


# cinder/message/message_field.py: the scheduler's message when no backend passes its filters
# (Action.SCHEDULE_ALLOCATE_VOLUME '001', Detail.NO_BACKEND_AVAILABLE '002'); user_message is
# "<action>:<detail>" and event_id "VOLUME_<resource type>_<action id>_<detail id>".
NO_VALID_BACKEND_MESSAGE = "schedule allocate volume:Could not find any available weighted backend."
NO_VALID_BACKEND_EVENT = "VOLUME_VOLUME_001_002"
MESSAGE_LIFETIME_DAYS = 30  # [DEFAULT] message_ttl 2592000 s


def user_message(volume: dict, text: str, event_id: str = NO_VALID_BACKEND_EVENT) -> dict:
    """A Cinder user message about `volume` (cinder/api/v3/views/messages.py fields)."""
    created = now()
    return {"id": new_uuid(), "event_id": event_id, "user_message": text, "message_level": "ERROR",
            "resource_type": "VOLUME", "resource_uuid": volume["id"], "project_id": volume["project_id"],
            "request_id": "req-" + new_uuid(), "created_at": created,
            "guaranteed_until": created + timedelta(days=MESSAGE_LIFETIME_DAYS)}
