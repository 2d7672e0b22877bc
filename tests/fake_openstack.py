"""A loopback HTTP server that answers like Keystone v3 and Cinder v3 on Devstack.

Enough of both APIs for openstacksdk to authenticate (version discovery, password
token with a service catalog) and to list volumes in detail. Each volume list
answer comes from a script: a list of volume lists, or HTTP status codes for
failures, played in order (the last entry repeats).
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import yaml

PROJECT_ID = "0d1b2b6bf6c44d0e9a0f6b1a3e5f2c41"
USER = "admin"
PASSWORD = "devstack-secret"


def volume(name: str, volume_type: str, status: str = "available", type_id: str | None = None) -> dict:
    """A Cinder volume as `GET /v3/{project}/volumes/detail` shows it (admin view)."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "name": name,
        "status": status,
        "size": 1,
        "volume_type": volume_type,
        "volume_type_id": type_id,
        "multiattach": True,
        "attachments": [],
        "availability_zone": "nova",
        "bootable": "false",
        "encrypted": False,
        "metadata": {},
        "created_at": "2026-11-25T10:00:00.000000",
        "updated_at": None,
        "os-vol-tenant-attr:tenant_id": "f2b5e5ca3a1d4c7f9a0e7b2d4c6a8e10",
        "links": [],
    }


class FakeOpenStack:
    def __init__(self, volume_script: list[list[dict] | int]):
        self.volume_script = list(volume_script)
        self.volume_list_calls = 0
        self.token_requests = 0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeOpenStack:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def write_clouds_yaml(self, path: Path, cloud: str = "devstack-admin", password: str = PASSWORD) -> Path:
        path.write_text(yaml.safe_dump({"clouds": {cloud: {
            "auth": {
                "auth_url": f"{self.base}/identity",
                "username": USER,
                "password": password,
                "project_name": "admin",
                "user_domain_id": "default",
                "project_domain_id": "default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
            "volume_api_version": 3,
        }}}))
        return path

    def next_volume_answer(self) -> list[dict] | int:
        with self._lock:
            index = min(self.volume_list_calls, len(self.volume_script) - 1)
            self.volume_list_calls += 1
            return self.volume_script[index]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlparse(self.path).path.rstrip("/")
                fake.requests.append(f"GET {self.path}")
                if path == "/identity":
                    return self._send(300, {"versions": {"values": [_identity_version(fake.base)]}})
                if path == "/identity/v3":
                    return self._send(200, {"version": _identity_version(fake.base)})
                if path == "/volume":
                    return self._send(300, {"versions": [_volume_version(fake.base)]})
                if path == "/volume/v3":
                    return self._send(200, {"version": _volume_version(fake.base)})
                if path == f"/volume/v3/{PROJECT_ID}/volumes/detail":
                    if self.headers.get("X-Auth-Token") != "fake-token":
                        return self._send(401, {"error": {"code": 401, "message":
                                                          "The request you have made requires authentication."}})
                    answer = fake.next_volume_answer()
                    if isinstance(answer, int):
                        return self._send(answer, {"message": "The server is currently unavailable.", "code": answer})
                    return self._send(200, {"volumes": answer})
                return self._send(404, {"error": {"message": f"no route {path}", "code": 404}})

            def do_POST(self):
                path = urlparse(self.path).path.rstrip("/")
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(f"POST {self.path}")
                if path != "/identity/v3/auth/tokens":
                    return self._send(404, {"error": {"message": f"no route {path}", "code": 404}})
                fake.token_requests += 1
                password = body["auth"]["identity"]["password"]["user"]
                if password.get("name") != USER or password.get("password") != PASSWORD:
                    return self._send(401, {"error": {
                        "message": "The request you have made requires authentication.",
                        "code": 401, "title": "Unauthorized"}})
                return self._send(201, _token(fake.base), {"X-Subject-Token": "fake-token"})

        return Handler


def _identity_version(base: str) -> dict:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def _volume_version(base: str) -> dict:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": "3.70",
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/volume/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }


def _token(base: str) -> dict:
    endpoint = {"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                "url": f"{base}/volume/v3/{PROJECT_ID}"}
    return {"token": {
        "methods": ["password"],
        "user": {"id": "u1", "name": USER, "domain": {"id": "default", "name": "Default"}},
        "project": {"id": PROJECT_ID, "name": "admin", "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "admin"}],
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "issued_at": "2026-11-25T00:00:00.000000Z",
        "catalog": [
            {"type": "block-storage", "name": "cinder", "id": "s1", "endpoints": [endpoint]},
            {"type": "volumev3", "name": "cinderv3", "id": "s2", "endpoints": [dict(endpoint, id="e2")]},
            {"type": "identity", "name": "keystone", "id": "s3", "endpoints": [
                {"id": "e3", "interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                 "url": f"{base}/identity"}]},
        ],
    }}
