"""The HTTP side: one ThreadingHTTPServer on loopback, every service's routes, and the double's
lifecycle (start/stop, the ticker thread that also drives the amphorae)."""
from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from lab import profiles
from lab.cluster import ClusterShape, shape_from_environment
from lab.openstack import lab_faults
from lab.openstack.backends import Backends, build_backends
from lab.openstack.block_storage import urls as block_storage_urls
from lab.openstack.block_storage.responses import BlockStorageResponses
from lab.openstack.clouds_yaml import load_passwords, write_clouds_yaml
from lab.openstack.compute import urls as compute_urls
from lab.openstack.compute.responses import ComputeResponses
from lab.openstack.core.dispatch import Dispatcher
from lab.openstack.core.errors import ApiError, keystone_error, neutron_error, nova_error, octavia_error
from lab.openstack.core.request import Request
from lab.openstack.identity import urls as identity_urls
from lab.openstack.identity.responses import IdentityResponses
from lab.openstack.load_balancer import urls as load_balancer_urls
from lab.openstack.load_balancer.responses import LoadBalancerResponses
from lab.openstack.network import urls as network_urls
from lab.openstack.network.responses import NetworkResponses

PROFILE_DELAYS = ("volume_create", "volume_delete", "volume_attach", "volume_detach", "volume_extend",
                  "amphora_boot", "lb_update", "lb_delete")


def delays_for(profile: str, delay_scale: float) -> dict[str, float]:
    """The double's delay table (seconds) for a profile of lab/profiles.py."""
    scaled = profiles.delays(profile, delay_scale)
    return {name: getattr(scaled, name) for name in PROFILE_DELAYS}


def build_dispatcher(backends: Backends, base_url: str) -> Dispatcher:
    dispatcher = Dispatcher(backends.identity.token_info, f"{base_url}/identity")
    dispatcher.add_table(identity_urls.ROUTES, IdentityResponses(backends.identity), keystone_error)
    dispatcher.add_table(block_storage_urls.ROUTES, BlockStorageResponses(backends, base_url))
    dispatcher.add_table(compute_urls.ROUTES, ComputeResponses(backends, base_url), nova_error)
    dispatcher.add_table(network_urls.ROUTES, NetworkResponses(backends, base_url), neutron_error)
    dispatcher.add_table(load_balancer_urls.ROUTES, LoadBalancerResponses(backends, base_url), octavia_error)
    faults = lab_faults.LabFaults(backends)
    dispatcher.add_table(lab_faults.CINDER_ROUTES, faults)
    dispatcher.add_table(lab_faults.OCTAVIA_ROUTES, faults, octavia_error)
    return dispatcher


def _handler_class(dispatcher: Dispatcher, verbose: bool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lab-openstack-double"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stdout.write(f"{self.address_string()} - {fmt % args}\n")
                sys.stdout.flush()

        def _answer(self, method: str) -> tuple[int, object, dict]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlparse(self.path)
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = None
                if method in ("POST", "PUT"):
                    raise ApiError(400, {"badRequest": {"code": 400, "message": "Malformed request body"}}) from None
            req = Request(method, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)
            try:
                status, payload = dispatcher.dispatch(req)
                return status, payload, req.response_headers
            except ApiError as error:
                return error.status, error.body, {**req.response_headers, **error.headers}

        def _handle(self, method: str):
            request_id = "req-" + str(uuid.uuid4())
            try:
                status, payload, headers = self._answer(method)
            except ApiError as error:
                status, payload, headers = error.status, error.body, error.headers
            except Exception as error:  # a bug in the double: say so like a 500 from the service
                traceback.print_exc()
                status, payload, headers = 500, {"computeFault": {"code": 500, "message": f"double error: {error}"}}, {}
            data = b"" if payload is None or status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-openstack-request-id", request_id)
            self.send_header("X-Compute-Request-Id", request_id)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data and method != "HEAD":
                self.wfile.write(data)
            if status >= 400 and not verbose and status not in (401, 404):
                print(f"{method} {self.path} -> {status} {json.dumps(payload)[:300]}", flush=True)

        def do_GET(self):
            self._handle("GET")

        def do_HEAD(self):
            self._handle("HEAD")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def do_PATCH(self):
            self._handle("PATCH")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class OpenStackDouble:
    """The double, in-process: `with OpenStackDouble(port=0, state_dir=...) as d: d.base_url`.

    start() binds and serves on background threads; stop() shuts down, stopping every haproxy."""

    def __init__(self, port: int = 0, state_dir: str | Path = "/tmp/lab-openstack", profile: str = "fast",
                 delay_scale: float = 1.0, host: str = "127.0.0.1", passwords: dict[str, str] | None = None,
                 verbose: bool = False, cluster: ClusterShape | None = None):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.passwords = passwords or load_passwords(self.state_dir)
        self.delays = delays_for(profile, delay_scale)
        self.httpd = _Server((host, port), None)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self.backends = build_backends(self.base_url, self.state_dir, self.delays, self.passwords,
                                       cluster or shape_from_environment())
        self.dispatcher = build_dispatcher(self.backends, self.base_url)
        self.httpd.RequestHandlerClass = _handler_class(self.dispatcher, verbose)
        self._threads: list[threading.Thread] = []

    @property
    def fleet(self):
        """The running haproxy amphorae."""
        return self.backends.amphorae.fleet

    def start(self) -> OpenStackDouble:
        passwords_file = self.state_dir / "passwords.json"
        if not passwords_file.exists():
            passwords_file.write_text(json.dumps(self.passwords))
            os.chmod(passwords_file, 0o600)
        write_clouds_yaml(self.state_dir / "clouds.yaml", self.base_url, self.passwords)
        ticker = threading.Thread(target=self._run_ticker, name="ticker", daemon=True)
        http = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http",
                                daemon=True)
        self._threads = [ticker, http]
        for thread in self._threads:
            thread.start()
        return self

    def _run_ticker(self) -> None:
        """The ONE long-lived thread that starts haproxy: PR_SET_PDEATHSIG fires when it ends, so
        it also stops the fleet (gracefully) before it ends."""
        try:
            self.backends.ticker.run(self.backends.amphorae.tick)
        finally:
            self.fleet.stop_all()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.backends.ticker.stop()
        for thread in self._threads:
            thread.join(timeout=15)
        self.fleet.stop_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
