"""Cinder's state: volume types, volumes and user messages, with their timed transitions
(creating -> available, deleting -> gone, extending -> back) on the double's ticker.

Faults (set through lab/openstack/lab_faults.py, never through Cinder's API): a create that ends
in `error` with the scheduler's user message, as when no backend passes the filters; a delete
that ends in `error_deleting`, as when the backend's delete fails."""
from __future__ import annotations

import threading

from lab.openstack.block_storage import volumes as volume_rules
from lab.openstack.block_storage.volume_types import VolumeTypes, is_multiattach
from lab.openstack.core.errors import cinder_error
from lab.openstack.core.ids import now
from lab.openstack.core.ticker import Ticker


class BlockStorageBackend:
    def __init__(self, lock: threading.RLock, ticker: Ticker, delays: dict[str, float]):
        self.lock, self.ticker, self.delays = lock, ticker, delays
        self.types = VolumeTypes()
        self.volumes: dict[str, dict] = {}
        self.messages: list[dict] = []  # Cinder's user messages (GET /messages, 3.3)
        self.create_fault: dict | None = None  # {"user_message": ...}: creates end in `error`
        self.delete_fails = False  # deletes end in `error_deleting`
        self.failing_requests = 0  # this many next API requests answer 503, as a Cinder restarting

    # ---- types
    def volumes_of_type(self, type_id: str) -> list[dict]:
        return [volume for volume in self.volumes.values() if volume["volume_type_id"] == type_id]

    def create_type(self, body: dict) -> dict:
        volume_type = self.types.create(body)
        print(f"cinder: volume type {volume_type['name']} ({volume_type['id']}) created, "
              f"extra_specs {volume_type['extra_specs']}", flush=True)
        return volume_type

    def delete_type(self, volume_type: dict) -> None:
        try:
            self.types.delete(volume_type, self.volumes_of_type(volume_type["id"]))
        except Exception:
            print(f"cinder: refused to delete volume type {volume_type['name']}: still in use", flush=True)
            raise
        print(f"cinder: volume type {volume_type['name']} ({volume_type['id']}) deleted", flush=True)

    def change_specs(self, volume_type: dict) -> None:
        """Refuses when volumes use the type (the specs were already scheduled on)."""
        self.types.refuse_spec_change_in_use(self.volumes_of_type(volume_type["id"]))

    # ---- volumes
    @staticmethod
    def visible(volume: dict, project_id: str | None, is_admin: bool) -> bool:
        return is_admin or volume["project_id"] == project_id

    def find_volume(self, volume_id: str, project_id: str | None, is_admin: bool) -> dict:
        volume = self.volumes.get(volume_id)
        if volume is None or not self.visible(volume, project_id, is_admin):
            raise cinder_error(404, f"Volume {volume_id} could not be found.")
        return volume

    def create_volume(self, body: dict, project_id: str, user_id: str, is_admin: bool) -> dict:
        if body.get("source_volid") or body.get("snapshot_id") or body.get("imageRef") or body.get("backup_id"):
            raise cinder_error(400, "Invalid input received: the lab's Cinder double creates only blank volumes.")
        volume_rules.valid_size(body.get("size"))
        volume_type = self.types.for_new_volume(body.get("volume_type"), project_id, is_admin)
        volume = volume_rules.new_volume(body, volume_type, is_multiattach(volume_type), project_id, user_id)
        self.volumes[volume["id"]] = volume
        print(f"cinder: volume {volume['id']} ({volume['name']}) creating, type {volume_type['name']}, "
              f"multiattach {volume['multiattach']}", flush=True)
        self.ticker.later(self.delays["volume_create"], lambda: self._created(volume["id"]))
        return volume

    def _created(self, volume_id: str) -> None:
        volume = self.volumes.get(volume_id)
        if volume and volume["status"] == "creating":
            if self.create_fault is not None:
                volume["status"], volume["updated_at"] = "error", now()
                self.messages.append(volume_rules.user_message(volume, self.create_fault["user_message"]))
                print(f"cinder: volume {volume_id} error (fault: {self.create_fault['user_message']})", flush=True)
                return
            volume["status"], volume["updated_at"] = "available", now()
            print(f"cinder: volume {volume_id} available", flush=True)

    def delete_volume(self, volume: dict, force: bool = False) -> None:
        if not force:
            volume_rules.refuse_delete(volume)
        if volume["status"] == "deleting":
            return
        if volume["attachments"]:
            raise cinder_error(400, "Invalid volume: Volume must not be attached.")
        volume["status"], volume["updated_at"] = "deleting", now()
        print(f"cinder: volume {volume['id']} deleting", flush=True)
        self.ticker.later(self.delays["volume_delete"], lambda: self._deleted(volume["id"]))

    def _deleted(self, volume_id: str) -> None:
        volume = self.volumes.get(volume_id)
        if volume is not None and volume["status"] == "deleting":
            if self.delete_fails:
                volume["status"], volume["updated_at"] = "error_deleting", now()
                print(f"cinder: volume {volume_id} error_deleting (fault)", flush=True)
                return
            del self.volumes[volume_id]
            print(f"cinder: volume {volume_id} deleted", flush=True)

    def extend_volume(self, volume: dict, new_size: int, microversion: tuple[int, int]) -> None:
        previous = volume_rules.begin_extend(volume, new_size, microversion)
        print(f"cinder: volume {volume['id']} extending {volume['size']} -> {new_size} GiB "
              f"({previous}, microversion {microversion[0]}.{microversion[1]})", flush=True)
        self.ticker.later(self.delays["volume_extend"], lambda: self._extended(volume["id"], new_size, previous))

    def _extended(self, volume_id: str, new_size: int, previous_status: str) -> None:
        volume = self.volumes.get(volume_id)
        if volume is not None and volume["status"] == "extending":
            volume_rules.finish_extend(volume, new_size, previous_status)
            print(f"cinder: volume {volume_id} extended to {new_size} GiB, {previous_status}", flush=True)

    def reset_status(self, volume: dict, status: str | None, attach_status: str | None) -> None:
        if status:
            volume["status"] = status
        if attach_status == "detached":
            volume["attachments"] = []
