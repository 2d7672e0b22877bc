"""The OpenStack API double (lab/openstack.py, lab/amphora.py) against the real clients.

The double runs as the lab runs it (`python -m lab.openstack`, fast profile) on a free port;
openstacksdk, the `openstack` CLI (python-openstackclient + python-octaviaclient) and the
real pulumi-openstack provider plugin (gophercloud) talk to it through a Devstack-like
clouds.yaml written by `lab.openstack.write_clouds_yaml`. The amphora's haproxy is checked
on the wire: connections to the floating IP reach both members, and nothing listens once the
load balancer is gone. One test starts a second, in-process double with slower delays to see
the intermediate volume statuses.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import openstack
import openstack.config
import openstack.connection
import pytest
import requests

from lab.openstack import OpenStackDouble, write_clouds_yaml

REPO = Path(__file__).resolve().parents[2]
OPENSTACK_CLI = REPO / "venv" / "bin" / "openstack"
PASSWORDS = {"admin": "admin-pw-lab", "demo": "demo-pw-lab"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


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


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    """`python -m lab.openstack` on a free port (fast profile), and its clouds.yaml."""
    folder = tmp_path_factory.mktemp("openstack-double")
    state = folder / "state"
    state.mkdir()
    (state / "passwords.json").write_text(__import__("json").dumps(PASSWORDS))
    port = free_port()
    log = open(folder / "double.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "lab.openstack", "--port", str(port),
                                "--state-dir", str(state), "--profile", "fast"],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: listening("127.0.0.1", port) or process.poll() is not None, 30, "the double to listen")
        assert process.poll() is None, (folder / "double.log").read_text()
        base = f"http://127.0.0.1:{port}"
        clouds = write_clouds_yaml(folder / "clouds.yaml", base, PASSWORDS)
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds)}
        env.pop("OS_CLOUD", None)
        yield {"base": base, "clouds": clouds, "env": env, "process": process, "log": folder / "double.log"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=20) == 0, "the double did not exit cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
        assert not haproxy_children(process.pid)


def connect_with(clouds: Path, cloud: str) -> openstack.connection.Connection:
    """openstack.connect(cloud=...) as with OS_CLIENT_CONFIG_FILE=clouds, without touching os.environ."""
    config = openstack.config.OpenStackConfig(config_files=[str(clouds)])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def connect(double, cloud: str = "devstack-admin") -> openstack.connection.Connection:
    return connect_with(double["clouds"], cloud)


def cli(double, *args: str, cloud: str = "devstack-admin", check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(OPENSTACK_CLI), "--os-cloud", cloud, *args], env=double["env"],
                            capture_output=True, text=True, timeout=90)
    if check:
        assert result.returncode == 0, f"openstack {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def wait_volume(conn, volume_id: str, status: str, timeout: float = 10):
    return wait_until(lambda: (v := conn.block_storage.get_volume(volume_id)).status == status and v,
                      timeout, f"volume {volume_id} {status}")


def wait_gone(conn, volume_id: str, timeout: float = 10) -> None:
    wait_until(lambda: conn.block_storage.find_volume(volume_id, ignore_missing=True) is None,
               timeout, f"volume {volume_id} gone")


def lbaas(conn) -> str:
    """Octavia's /lbaas base under the endpoint openstacksdk discovered (…/load-balancer/v2)."""
    endpoint = conn.load_balancer.get_endpoint().rstrip("/")
    if not re.search(r"/v2(\.\d+)?$", endpoint):
        endpoint += "/v2"
    return endpoint + "/lbaas"


def raw(conn, method: str, url: str, **kwargs) -> requests.Response:
    headers = {"X-Auth-Token": conn.auth_token, "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)


# ----------------------------------------------------------------------------- keystone
def test_keystone_discovery_tokens_and_catalog(double):
    base = double["base"]
    root = requests.get(f"{base}/identity", timeout=5)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3.")
    assert requests.get(f"{base}/identity/v3", timeout=5).json()["version"]["status"] == "stable"
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": "wrong"}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    assert requests.post(f"{base}/identity/v3/auth/tokens", json=body, timeout=5).status_code == 401
    body["auth"]["identity"]["password"]["user"]["password"] = PASSWORDS["demo"]
    ok = requests.post(f"{base}/identity/v3/auth/tokens", json=body, timeout=5)
    assert ok.status_code == 201 and ok.headers["X-Subject-Token"]
    token = ok.json()["token"]
    assert [r["name"] for r in token["roles"]] == ["member", "reader"]
    catalog = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
    project = token["project"]["id"]
    assert catalog["volumev3"] == catalog["block-storage"] == f"{base}/volume/v3/{project}"
    assert catalog["compute"] == f"{base}/compute/v2.1"
    assert catalog["network"] == f"{base}/networking"
    assert catalog["load-balancer"] == f"{base}/load-balancer"
    assert requests.get(f"{base}/volume/v3/{project}/types", timeout=5).status_code == 401
    assert requests.get(f"{base}/volume/v3/{project}/types", timeout=5,
                        headers={"X-Auth-Token": "nope"}).status_code == 401
    assert requests.get(f"{base}/volume/v3/{project}/types", timeout=5,
                        headers={"X-Auth-Token": ok.headers["X-Subject-Token"]}).status_code == 200


# ----------------------------------------------------------------------------- cinder types
def test_volume_type_creation_is_admin_only_with_the_cli(double):
    created = cli(double, "volume", "type", "create", "multiattach-type", "--property", 'multiattach=<is> True')
    assert "multiattach='<is> True'" in created.stdout
    shown = cli(double, "volume", "type", "show", "multiattach-type")
    assert "multiattach='<is> True'" in shown.stdout and "multiattach-type" in shown.stdout
    refused = cli(double, "volume", "type", "create", "demo-type", cloud="devstack", check=False)
    assert refused.returncode != 0
    assert "Policy doesn't allow volume_extension:types_manage to be performed." in refused.stderr
    demo = connect(double, "devstack")
    assert demo.block_storage.find_type("demo-type", ignore_missing=True) is None
    # the demo user still sees the public type (and its multiattach spec) and may use it
    assert demo.block_storage.find_type("multiattach-type").extra_specs == {"multiattach": "<is> True"}


def test_only_the_literal_is_true_spec_makes_a_volume_multiattach(double):
    conn = connect(double)
    exact = conn.block_storage.create_type(name="literal-True", extra_specs={"multiattach": "<is> True"})
    lower = conn.block_storage.create_type(name="literal-true", extra_specs={"multiattach": "<is> true"})
    plain = conn.block_storage.create_volume(size=1, name="on-default")
    v_exact = conn.block_storage.create_volume(size=1, name="on-True", volume_type="literal-True")
    v_lower = conn.block_storage.create_volume(size=1, name="on-true", volume_type=lower.id)
    assert conn.block_storage.get_volume(v_exact.id).is_multiattach is True
    assert conn.block_storage.get_volume(v_lower.id).is_multiattach is False
    assert conn.block_storage.get_volume(plain.id).volume_type == "lvmdriver-1"
    assert conn.block_storage.get_volume(plain.id).is_multiattach is False
    for volume in (plain, v_exact, v_lower):
        wait_volume(conn, volume.id, "available")
        conn.block_storage.delete_volume(volume.id)
    for volume in (plain, v_exact, v_lower):
        wait_gone(conn, volume.id)
    conn.block_storage.delete_type(exact)
    conn.block_storage.delete_type(lower)


def test_a_type_in_use_cannot_be_deleted_until_its_volume_is_gone(double):
    conn = connect(double)
    vtype = conn.block_storage.create_type(name="in-use-type", extra_specs={"multiattach": "<is> True"})
    volume = conn.block_storage.create_volume(size=1, name="keeps-the-type", volume_type="in-use-type")
    wait_volume(conn, volume.id, "available")
    url = f"{conn.block_storage.get_endpoint()}/types/{vtype.id}"
    refused = raw(conn, "DELETE", url)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == "Target volume type is still in use."
    conn.block_storage.delete_volume(volume.id)
    wait_gone(conn, volume.id)
    assert raw(conn, "DELETE", url).status_code == 202
    assert raw(conn, "GET", url).status_code == 404


def test_volumes_and_load_balancers_go_through_their_intermediate_statuses(tmp_path):
    """A second double, in-process, with every delay x6: volume 1.8 s, amphora boot 6 s,
    Octavia update 1.2 s, LB delete 1.8 s; long enough to see each intermediate status."""
    with OpenStackDouble(port=0, state_dir=tmp_path / "state", profile="fast", delay_scale=6.0,
                         passwords=PASSWORDS) as slow:
        clouds = write_clouds_yaml(tmp_path / "clouds.yaml", slow.base_url, PASSWORDS)
        conn = connect_with(clouds, "devstack-admin")
        vtype = conn.block_storage.create_type(name="slow-type", extra_specs={"multiattach": "<is> True"})
        started = time.monotonic()
        started = time.monotonic()
        lb = conn.load_balancer.create_load_balancer(name="slow-lb", vip_network_id=conn.network.find_network(
            "private").id)
        volume = conn.block_storage.create_volume(size=2, name="slow", volume_type="slow-type")
        assert volume.status == "creating" and lb.provisioning_status == "PENDING_CREATE"
        assert conn.block_storage.get_volume(volume.id).status == "creating"
        delete_early = raw(conn, "DELETE", f"{conn.block_storage.get_endpoint()}/volumes/{volume.id}")
        assert delete_early.status_code == 400  # Cinder refuses to delete a volume still creating
        wait_volume(conn, volume.id, "available", timeout=15)
        assert time.monotonic() - started >= 1.7
        assert [v.id for v in conn.block_storage.volumes(all_projects=True)] == [volume.id]
        demo = connect_with(clouds, "devstack")
        assert list(demo.block_storage.volumes()) == []  # another project's volume
        conn.block_storage.delete_volume(volume.id)
        assert conn.block_storage.get_volume(volume.id).status == "deleting"
        type_url = f"{conn.block_storage.get_endpoint()}/types/{vtype.id}"
        in_use = raw(conn, "DELETE", type_url)  # a deleting volume still holds its type
        assert in_use.status_code == 400 and "still in use" in in_use.text
        wait_gone(conn, volume.id, timeout=15)
        assert raw(conn, "DELETE", type_url).status_code == 202

        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_CREATE"
        wait_lb(conn, lb.id, timeout=20)
        assert time.monotonic() - started >= 5.9
        listener = conn.load_balancer.create_listener(protocol="TCP", protocol_port=free_port(),
                                                      loadbalancer_id=lb.id)
        assert listener.provisioning_status == "PENDING_CREATE"
        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
        busy = raw(conn, "POST", f"{lbaas(conn)}/pools",
                   json={"pool": {"listener_id": listener.id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
        assert busy.status_code == 409 and "immutable" in busy.json()["faultstring"]
        wait_lb(conn, lb.id)
        assert conn.load_balancer.get_listener(listener.id).provisioning_status == "ACTIVE"
        not_cascade = raw(conn, "DELETE", f"{lbaas(conn)}/loadbalancers/{lb.id}")
        assert not_cascade.status_code == 400
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_DELETE"
        wait_until(lambda: conn.load_balancer.find_load_balancer(lb.id, ignore_missing=True) is None, 10,
                   "the load balancer gone")
        assert not slow.cloud.fleet.pids()


# ----------------------------------------------------------------------------- nova attach
def test_nova_attach_rules_and_the_cli_volume_list(double):
    conn = connect(double)
    servers = {s.name: s for s in conn.compute.servers()}
    assert sorted(servers) == ["master1", "worker1", "worker2"]
    assert all(s.status == "ACTIVE" for s in servers.values())
    assert servers["worker1"].addresses["private"][0]["addr"] == "127.0.1.2"
    compute = conn.compute.get_endpoint()

    def attach(server, volume, version):
        return raw(conn, "POST", f"{compute}/servers/{server.id}/os-volume_attachments",
                   json={"volumeAttachment": {"volumeId": volume.id}},
                   headers={"X-OpenStack-Nova-API-Version": version})

    single = conn.block_storage.create_volume(size=1, name="single")
    multi_type = conn.block_storage.find_type("multiattach-type", ignore_missing=True) or \
        conn.block_storage.create_type(name="multiattach-type", extra_specs={"multiattach": "<is> True"})
    shared = conn.block_storage.create_volume(size=1, name="shared", volume_type=multi_type.id)
    wait_volume(conn, single.id, "available")
    wait_volume(conn, shared.id, "available")

    first = attach(servers["worker1"], single, "2.60")
    assert first.status_code == 200, first.text
    assert first.json()["volumeAttachment"]["device"] == "/dev/vdb"
    second = attach(servers["master1"], single, "2.60")
    assert second.status_code == 400
    assert "already attached to another instance" in second.json()["badRequest"]["message"]

    old = attach(servers["master1"], shared, "2.59")
    assert old.status_code == 400
    assert old.json()["badRequest"]["message"] == \
        "Multiattach volumes are only supported starting with compute API version 2.60."
    assert conn.block_storage.get_volume(shared.id).status == "available"
    for name in ("master1", "worker1"):
        answer = attach(servers[name], shared, "2.60")
        assert answer.status_code == 200, answer.text
    volume = conn.block_storage.get_volume(shared.id)
    assert volume.status == "in-use"
    assert sorted(a["server_id"] for a in volume.attachments) == sorted(
        [servers["master1"].id, servers["worker1"].id])
    assert all(a["attachment_id"] and a["host_name"] for a in volume.attachments)
    listed = raw(conn, "GET", f"{compute}/servers/{servers['worker1'].id}/os-volume_attachments").json()
    assert sorted(a["volumeId"] for a in listed["volumeAttachments"]) == sorted([single.id, shared.id])

    table = cli(double, "volume", "list", "--fit-width").stdout
    row = next(line for line in table.splitlines() if shared.id in line)
    assert "in-use" in row
    assert "Attached to master1 on /dev/vdb" in row and "Attached to worker1 on /dev/vdc" in row
    shown = cli(double, "volume", "show", shared.id).stdout
    assert "'multiattach-type'" in shown or "multiattach-type" in shown
    assert servers["master1"].id in shown and servers["worker1"].id in shown

    busy = raw(conn, "DELETE", f"{conn.block_storage.get_endpoint()}/volumes/{shared.id}")
    assert busy.status_code == 400
    for name in ("master1", "worker1"):
        gone = raw(conn, "DELETE", f"{compute}/servers/{servers[name].id}/os-volume_attachments/{shared.id}")
        assert gone.status_code == 202
    gone = raw(conn, "DELETE", f"{compute}/servers/{servers['worker1'].id}/os-volume_attachments/{single.id}")
    assert gone.status_code == 202
    for v in (single, shared):
        assert conn.block_storage.get_volume(v.id).status == "available"
        assert conn.block_storage.get_volume(v.id).attachments == []
        conn.block_storage.delete_volume(v.id)
    for v in (single, shared):
        wait_gone(conn, v.id)


# ----------------------------------------------------------------------------- octavia + amphora
class _Member:
    """A tiny TCP server on a node IP answering `member <ip>` once per connection."""

    def __init__(self, ip: str, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.ip = ip
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"HTTP/1.0 200 OK\r\n\r\nmember {self.ip}\n".encode())

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        except OSError:
            pass
        self.sock.close()


def member_pair() -> tuple[int, list[_Member]]:
    for _ in range(20):
        port = free_port("127.0.1.2")
        try:
            return port, [_Member("127.0.1.2", port), _Member("127.0.1.3", port)]
        except OSError:
            continue
    raise AssertionError("no port free on both node IPs")


def answers(ip: str, port: int, count: int) -> list[str]:
    seen = []
    for _ in range(count):
        with socket.create_connection((ip, port), timeout=5) as s:  # a new connection each time
            data = b""
            while chunk := s.recv(200):
                data += chunk
        seen.append(data.decode().strip().splitlines()[-1])
    return seen


def wait_lb(conn, lb_id: str, timeout: float = 15) -> float:
    started = time.monotonic()
    wait_until(lambda: conn.load_balancer.get_load_balancer(lb_id).provisioning_status == "ACTIVE",
               timeout, f"load balancer {lb_id} ACTIVE")
    return time.monotonic() - started


def test_octavia_load_balancer_floating_ip_and_the_amphora_haproxy(double):
    conn = connect(double)
    private = conn.network.find_network("private")
    public = conn.network.find_network("public")
    assert public.is_router_external and not private.is_router_external
    subnet = private.subnet_ids[0]
    member_port, members = member_pair()
    lb_port = free_port()
    try:
        started = time.monotonic()
        lb = conn.load_balancer.create_load_balancer(name="kube_service_kubernetes_default_lb-webserver",
                                                     vip_subnet_id=subnet, description="lab test")
        assert lb.provisioning_status == "PENDING_CREATE" and lb.operating_status == "OFFLINE"
        assert lb.vip_address.startswith("127.0.21.")
        early = raw(conn, "POST", f"{lbaas(conn)}/listeners",
                    json={"listener": {"loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": lb_port}})
        assert early.status_code == 409, early.text
        wait_lb(conn, lb.id)
        assert 0.9 <= time.monotonic() - started <= 10
        assert conn.load_balancer.get_load_balancer(lb.id).operating_status == "ONLINE"
        assert [x.id for x in conn.load_balancer.load_balancers(name=lb.name)] == [lb.id]

        listener = conn.load_balancer.create_listener(protocol="TCP", protocol_port=lb_port,
                                                      loadbalancer_id=lb.id, name="l1")
        wait_lb(conn, lb.id)
        pool = conn.load_balancer.create_pool(protocol="TCP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id)
        wait_lb(conn, lb.id)
        for node_ip, name in (("127.0.1.2", "worker1"), ("127.0.1.3", "worker2")):
            conn.load_balancer.create_member(pool, address=node_ip, protocol_port=member_port,
                                             subnet_id=subnet, name=name)
            wait_lb(conn, lb.id)
        monitor = conn.load_balancer.create_health_monitor(pool_id=pool.id, type="TCP", delay=1, timeout=1,
                                                           max_retries=1, max_retries_down=1)
        wait_lb(conn, lb.id)
        assert conn.load_balancer.get_health_monitor(monitor.id).provisioning_status == "ACTIVE"

        fip = conn.network.create_ip(floating_network_id=public.id, port_id=lb.vip_port_id)
        assert fip.floating_ip_address.startswith("127.0.31.") and fip.fixed_ip_address == lb.vip_address
        assert [f.id for f in conn.network.ips(port_id=lb.vip_port_id)] == [fip.id]
        assert [f.id for f in conn.network.ips(floating_ip_address=fip.floating_ip_address)] == [fip.id]

        wait_until(lambda: listening(fip.floating_ip_address, lb_port), 10, "haproxy on the floating IP")
        seen = answers(fip.floating_ip_address, lb_port, 6)
        assert set(seen) == {"member 127.0.1.2", "member 127.0.1.3"}, seen
        assert set(answers(lb.vip_address, lb_port, 4)) == {"member 127.0.1.2", "member 127.0.1.3"}

        listed = cli(double, "loadbalancer", "list").stdout
        assert lb.id in listed and "ACTIVE" in listed and "ONLINE" in listed
        status = cli(double, "loadbalancer", "status", "show", lb.id).stdout
        assert status.count('"address"') == 2 and '"provisioning_status": "ACTIVE"' in status

        # worker2's member stops answering: haproxy's TCP check marks it down, Octavia shows it
        members[1].close()

        def statuses():
            tree = raw(conn, "GET", f"{lbaas(conn)}/loadbalancers/{lb.id}/status").json()["statuses"]["loadbalancer"]
            pool_status = tree["listeners"][0]["pools"][0]
            return (tree["operating_status"], pool_status["operating_status"],
                    sorted((m["address"], m["operating_status"]) for m in pool_status["members"]))

        wait_until(lambda: statuses() == ("DEGRADED", "DEGRADED", [("127.0.1.2", "ONLINE"), ("127.0.1.3", "ERROR")]),
                   10, "the health monitor to mark worker2's member ERROR")
        assert set(answers(fip.floating_ip_address, lb_port, 4)) == {"member 127.0.1.2"}

        # batch update down to one member: haproxy reloads, only worker1 answers
        batch = raw(conn, "PUT", f"{lbaas(conn)}/pools/{pool.id}/members",
                    json={"members": [{"address": "127.0.1.2", "protocol_port": member_port,
                                       "subnet_id": subnet, "name": "worker1"}]})
        assert batch.status_code == 202, batch.text
        wait_lb(conn, lb.id)
        assert [m.address for m in conn.load_balancer.members(pool)] == ["127.0.1.2"]
        wait_until(lambda: set(answers(fip.floating_ip_address, lb_port, 4)) == {"member 127.0.1.2"}, 10,
                   "haproxy to drop the removed member")

        # floating IP moved off the VIP: haproxy stops binding it
        conn.network.update_ip(fip, port_id=None)
        wait_until(lambda: not listening(fip.floating_ip_address, lb_port), 10, "the floating IP unbound")
        assert listening(lb.vip_address, lb_port)
        conn.network.delete_ip(fip)
        assert list(conn.network.ips(port_id=lb.vip_port_id)) == []

        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        wait_until(lambda: conn.load_balancer.find_load_balancer(lb.id, ignore_missing=True) is None, 10,
                   "the load balancer gone")
        assert conn.network.find_port(lb.vip_port_id, ignore_missing=True) is None
        wait_until(lambda: not listening(lb.vip_address, lb_port), 5, "haproxy stopped")
        assert not haproxy_children(double["process"].pid)
    finally:
        for member in members:
            member.close()


# ----------------------------------------------------------------------------- pulumi provider
PROGRAM = '''
import pulumi, pulumi_openstack
provider = pulumi_openstack.Provider("admin", cloud=CLOUD)
vtype = pulumi_openstack.blockstorage.VolumeTypeV3("multiattach", name=NAME, description="lab",
    extra_specs={"multiattach": "<is> True"}, opts=pulumi.ResourceOptions(provider=provider))
pulumi.export("id", vtype.id)
'''

DRIVER = '''
import json, os, sys
from pulumi import automation as auto
cloud, name, work = sys.argv[1], sys.argv[2], sys.argv[3]
def program():
    exec(os.environ["PROGRAM"], {"CLOUD": cloud, "NAME": name})
stack = auto.create_or_select_stack(f"s-{cloud}", project_name="openstack-double", program=program,
                                    opts=auto.LocalWorkspaceOptions(work_dir=work))
result = {}
try:
    result["up"] = stack.up().outputs["id"].value
except Exception as error:
    result["error"] = str(error)
finally:
    stack.destroy()
print(json.dumps(result))
'''


def test_the_pulumi_openstack_provider_manages_a_volume_type(double, tools_bin, tmp_path):
    import json

    conn = connect(double)
    state = tmp_path / "state"
    state.mkdir()
    env = {**double["env"], "PATH": f"{tools_bin}:{os.environ['PATH']}", "PULUMI_BACKEND_URL": f"file://{state}",
           "PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_SKIP_UPDATE_CHECK": "true",
           "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PROGRAM": PROGRAM}
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    results = {}
    for cloud, name in (("devstack-admin", "pulumi-multiattach"), ("devstack", "pulumi-demo")):
        work = tmp_path / cloud
        work.mkdir()
        run = subprocess.run([sys.executable, str(driver), cloud, name, str(work)], env=env, capture_output=True,
                             text=True, timeout=120, cwd=work)
        assert run.returncode == 0, run.stderr[-3000:]
        results[cloud] = json.loads(run.stdout.strip().splitlines()[-1])
    created = results["devstack-admin"]
    assert "error" not in created, created
    assert "Policy doesn't allow volume_extension:types_manage to be performed." in results["devstack"]["error"]
    log = double["log"].read_text()
    assert f"volume type pulumi-multiattach ({created['up']}) created, extra_specs {{'multiattach': '<is> True'}}" in log
    assert f"volume type pulumi-multiattach ({created['up']}) deleted" in log
    assert conn.block_storage.find_type("pulumi-multiattach", ignore_missing=True) is None
    assert conn.block_storage.find_type("pulumi-demo", ignore_missing=True) is None
