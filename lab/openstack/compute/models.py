"""Nova's state: the cluster's nodes as ACTIVE servers and their volume attachments (BDMs).

An attach reserves a Cinder attachment at once (the API call answers then), the compute host
connects it (`attaching`) and completes it (`in-use`) over `volume_attach` seconds; a detach
calls begin_detaching at once and deletes the attachment `volume_detach` seconds later
(openstack/nova nova/compute/api.py `_attach_volume` / `_detach_volume`, nova/compute/manager.py).
"""
from __future__ import annotations

import threading

from lab.cluster import ClusterShape
from lab.openstack.block_storage import volumes as cinder
from lab.openstack.core.errors import nova_error
from lab.openstack.core.ids import mac_for, new_uuid, now
from lab.openstack.core.ticker import Ticker
from lab.openstack.identity.models import ADMIN_PROJECT_ID, USERS

COMPUTE_HOST = "devstack"  # Devstack's one compute host: servers, ports and attachments name it
MULTIATTACH_MICROVERSION = (2, 60)
_DEVICE_LETTERS = "bcdefghijklmnopqrstuvwxyz"


def next_device(used: set[str], wanted: str | None) -> str:
    used = used | {"/dev/vda"}
    if wanted and wanted not in used:
        return wanted
    return next(f"/dev/vd{letter}" for letter in _DEVICE_LETTERS if f"/dev/vd{letter}" not in used)


class ComputeBackend:
    def __init__(self, cluster: ClusterShape, lock: threading.RLock, ticker: Ticker, delays: dict[str, float]):
        self.lock, self.ticker, self.delays = lock, ticker, delays
        created = now()
        self.servers: dict[str, dict] = {
            node.server_id: {"id": node.server_id, "name": node.name, "ip": node.ip, "project_id": ADMIN_PROJECT_ID,
                             "user_id": USERS["admin"]["id"], "created": created, "attachments": [],
                             "mac": mac_for(node.server_id)}
            for node in cluster.nodes}

    def find_server(self, server_id: str, project_id: str | None, is_admin: bool) -> dict:
        server = self.servers.get(server_id)
        if server is None or not (is_admin or server["project_id"] == project_id):
            raise nova_error(404, f"Instance {server_id} could not be found.")
        return server

    @staticmethod
    def bdm(server: dict, volume_id: str) -> dict | None:
        return next((record for record in server["attachments"] if record["volume_id"] == volume_id), None)

    def attach(self, server: dict, volume: dict, body: dict, version: tuple[int, int]) -> dict:
        volume_id = volume["id"]
        if self.bdm(server, volume_id):
            raise nova_error(400, f"Invalid volume: volume {volume_id} already attached")
        if volume["multiattach"] and version < MULTIATTACH_MICROVERSION:
            print(f"nova: refused multiattach volume {volume_id} to {server['name']}: microversion "
                  f"{version[0]}.{version[1]} < 2.60", flush=True)
            raise nova_error(400, "Multiattach volumes are only supported starting with compute API "
                                  "version 2.60.")
        if volume["status"] == "in-use" and not volume["multiattach"]:
            print(f"nova: refused volume {volume_id} to {server['name']}: in-use and not multiattach", flush=True)
            raise nova_error(400, f"Invalid volume: volume {volume_id} is already attached to another instance "
                                  f"(Volume {volume_id} status must be available or downloading to reserve, "
                                  f"but the current status is in-use.)")
        device = next_device({record["device"] for record in server["attachments"]}, body.get("device"))
        try:
            attachment = cinder.reserve_attachment(volume, server["id"], device)
        except cinder.InvalidVolume as refusal:
            print(f"nova: refused volume {volume_id} to {server['name']}: {refusal.reason}", flush=True)
            raise nova_error(400, f"Invalid volume: {refusal.reason}") from None
        record = {"volume_id": volume_id, "device": device, "attachment_id": attachment["id"],
                  "bdm_uuid": new_uuid(), "tag": body.get("tag"),
                  "delete_on_termination": bool(body.get("delete_on_termination", False))}
        server["attachments"].append(record)
        duration = self.delays["volume_attach"]
        self.ticker.later(duration / 2, lambda: self._connect(volume, attachment))
        self.ticker.later(duration, lambda: self._complete(server, volume, attachment))
        print(f"nova: volume {volume_id} reserved for {server['name']} on {device}", flush=True)
        return record

    @staticmethod
    def _connect(volume: dict, attachment: dict) -> None:
        if attachment in volume["attachments"] and attachment["attach_status"] == "reserved":
            cinder.attachment_connecting(volume, attachment)

    @staticmethod
    def _complete(server: dict, volume: dict, attachment: dict) -> None:
        if attachment in volume["attachments"] and attachment["attach_status"] in ("reserved", "attaching"):
            cinder.attachment_complete(volume, attachment)
            print(f"nova: volume {volume['id']} attached to {server['name']} on {attachment['device']}", flush=True)

    def detach(self, server: dict, record: dict, volume: dict | None) -> None:
        if volume is None:
            server["attachments"].remove(record)
            return
        try:
            cinder.begin_detaching(volume)
        except cinder.InvalidVolume as refusal:
            print(f"nova: refused to detach volume {volume['id']} from {server['name']}: {refusal.reason}",
                  flush=True)
            raise nova_error(400, f"Invalid volume: {refusal.reason}") from None
        self.ticker.later(self.delays["volume_detach"], lambda: self._detached(server, record, volume))

    @staticmethod
    def _detached(server: dict, record: dict, volume: dict) -> None:
        if record in server["attachments"]:
            server["attachments"].remove(record)
        cinder.attachment_delete(volume, record["attachment_id"])
        print(f"nova: volume {volume['id']} detached from {server['name']}", flush=True)

    def forget_volume(self, volume_id: str) -> None:
        """After Cinder's reset-status to detached: no server keeps the volume."""
        for server in self.servers.values():
            server["attachments"] = [record for record in server["attachments"] if record["volume_id"] != volume_id]
