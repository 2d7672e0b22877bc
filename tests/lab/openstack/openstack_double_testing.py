"""Helpers for the OpenStack double's fast tests: the real clients against an in-process double."""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import time
from pathlib import Path

import openstack.config
import openstack.connection
import requests

from lab.ports import wait_until

REPO = Path(__file__).resolve().parents[3]
PASSWORDS = {"admin": "admin-pw-lab", "demo": "demo-pw-lab"}


def haproxy_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            exe = os.path.realpath(entry / "exe")
        except OSError:
            continue
        if int(stat[1]) == pid and exe.endswith("haproxy") and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def connect_with(clouds: Path, cloud: str) -> openstack.connection.Connection:
    """openstack.connect(cloud=...) as with OS_CLIENT_CONFIG_FILE=clouds, without touching os.environ."""
    config = openstack.config.OpenStackConfig(config_files=[str(clouds)])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def cli(clouds: Path, *args: str, cloud: str = "devstack-admin", check: bool = True) -> subprocess.CompletedProcess:
    """`openstack --os-cloud CLOUD ARGS` (python-openstackclient's own shell), run in-process: a
    new interpreter per call would cost seconds of imports. Returns what the command printed."""
    from openstackclient import shell
    from osc_lib.clientmanager import ClientCache, ClientManager

    # openstackclient keeps each service's client in a descriptor on osc_lib's ClientManager
    # CLASS (ClientCache._handle): in one process a second run would reuse the first run's cloud.
    for attribute in vars(ClientManager).values():
        if isinstance(attribute, ClientCache):
            attribute._handle = None
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in ("OS_CLIENT_CONFIG_FILE", "OS_CLOUD")}
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    os.environ.pop("OS_CLOUD", None)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            returncode = shell.main(["--os-cloud", cloud, *args])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    result = subprocess.CompletedProcess(["openstack", *args], returncode, stdout.getvalue(), stderr.getvalue())
    if check:
        assert result.returncode == 0, f"openstack {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def raw(conn, method: str, url: str, **kwargs) -> requests.Response:
    headers = {"X-Auth-Token": conn.auth_token, "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)


def wait_volume(conn, volume_id: str, status: str, timeout: float = 10):
    return wait_until(f"volume {volume_id} {status}",
                      lambda: (v := conn.block_storage.get_volume(volume_id)).status == status and v, timeout)


def wait_gone(conn, volume_id: str, timeout: float = 10) -> None:
    wait_until(f"volume {volume_id} gone",
               lambda: conn.block_storage.find_volume(volume_id, ignore_missing=True) is None, timeout)


def lbaas(conn) -> str:
    """Octavia's /lbaas base under the endpoint openstacksdk discovered (…/load-balancer/v2)."""
    endpoint = conn.load_balancer.get_endpoint().rstrip("/")
    if not re.search(r"/v2(\.\d+)?$", endpoint):
        endpoint += "/v2"
    return endpoint + "/lbaas"


def wait_lb(conn, lb_id: str, timeout: float = 15) -> float:
    started = time.monotonic()
    wait_until(f"load balancer {lb_id} ACTIVE",
               lambda: conn.load_balancer.get_load_balancer(lb_id).provisioning_status == "ACTIVE", timeout)
    return time.monotonic() - started

