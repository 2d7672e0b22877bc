"""Octavia through the double's routes: the amphora's haproxy on the wire, the fully populated
create the cloud controller sends, the PENDING_* statuses and 409s."""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from openstack_double_testing import (
    PASSWORDS,
    cli,
    connect_with,
    haproxy_children,
    lbaas,
    raw,
    wait_lb,
)

from lab.openstack import OpenStackDouble, write_clouds_yaml
from lab.ports import free_port, listening, wait_until


class _Member:
    """A tiny TCP server on a node IP answering `member <ip>` once per connection."""

    def __init__(self, ip: str, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.ip = ip
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(f"HTTP/1.0 200 OK\r\n\r\nmember {self.ip}\n".encode())

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
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
        with socket.create_connection((ip, port), timeout=5) as connection:  # a new connection each time
            data = b""
            while chunk := connection.recv(200):
                data += chunk
        seen.append(data.decode().strip().splitlines()[-1])
    return seen


def status_tree(conn, lb_id: str) -> dict:
    return raw(conn, "GET", f"{lbaas(conn)}/loadbalancers/{lb_id}/status").json()["statuses"]["loadbalancer"]


def test_octavia_load_balancer_floating_ip_and_the_amphora_haproxy(double, admin):
    conn = admin
    private, public = conn.network.find_network("private"), conn.network.find_network("public")
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

        wait_until("haproxy on the floating IP", lambda: listening(fip.floating_ip_address, lb_port), 10)
        assert set(answers(fip.floating_ip_address, lb_port, 6)) == {"member 127.0.1.2", "member 127.0.1.3"}
        assert set(answers(lb.vip_address, lb_port, 4)) == {"member 127.0.1.2", "member 127.0.1.3"}

        listed = cli(double.clouds, "loadbalancer", "list").stdout
        assert lb.id in listed and "ACTIVE" in listed and "ONLINE" in listed
        status = cli(double.clouds, "loadbalancer", "status", "show", lb.id).stdout
        assert status.count('"address"') == 2 and '"provisioning_status": "ACTIVE"' in status

        # worker2's member stops answering: haproxy's TCP check marks it down, Octavia shows it
        members[1].close()

        def statuses():
            tree = status_tree(conn, lb.id)
            pool_status = tree["listeners"][0]["pools"][0]
            return (tree["operating_status"], pool_status["operating_status"],
                    sorted((m["address"], m["operating_status"]) for m in pool_status["members"]))

        wait_until("the health monitor to mark worker2's member ERROR",
                   lambda: statuses() == ("DEGRADED", "DEGRADED", [("127.0.1.2", "ONLINE"), ("127.0.1.3", "ERROR")]),
                   10)
        assert set(answers(fip.floating_ip_address, lb_port, 4)) == {"member 127.0.1.2"}

        # batch update down to one member: haproxy reloads, only worker1 answers
        batch = raw(conn, "PUT", f"{lbaas(conn)}/pools/{pool.id}/members",
                    json={"members": [{"address": "127.0.1.2", "protocol_port": member_port,
                                       "subnet_id": subnet, "name": "worker1"}]})
        assert batch.status_code == 202, batch.text
        wait_lb(conn, lb.id)
        assert [m.address for m in conn.load_balancer.members(pool)] == ["127.0.1.2"]

        # floating IP moved off the VIP: haproxy stops binding it
        conn.network.update_ip(fip, port_id=None)
        wait_until("the floating IP unbound", lambda: not listening(fip.floating_ip_address, lb_port), 10)
        assert listening(lb.vip_address, lb_port)
        conn.network.delete_ip(fip)
        assert list(conn.network.ips(port_id=lb.vip_port_id)) == []

        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        wait_until("the load balancer gone",
                   lambda: conn.load_balancer.find_load_balancer(lb.id, ignore_missing=True) is None, 10)
        assert conn.network.find_port(lb.vip_port_id, ignore_missing=True) is None
        wait_until("haproxy stopped", lambda: not listening(lb.vip_address, lb_port), 5)
        assert not double.fleet.pids()
    finally:
        for member in members:
            member.close()


def test_a_fully_populated_create_goes_active_as_one_tree_and_serves(double, admin):
    """The cloud controller's default: listeners -> default_pool -> members and healthmonitor in
    one POST (octavia _graph_create)."""
    member_port, members = member_pair()
    lb_port = free_port()
    subnet = admin.network.find_network("private").subnet_ids[0]
    body = {"loadbalancer": {"name": "kube_service_lab_default_full", "vip_subnet_id": subnet, "listeners": [
        {"name": "listener_0", "protocol": "TCP", "protocol_port": lb_port, "default_pool": {
            "name": "pool_0", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": ip, "protocol_port": member_port, "subnet_id": subnet, "name": node}
                        for ip, node in (("127.0.1.2", "worker1"), ("127.0.1.3", "worker2"))],
            "healthmonitor": {"type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}}}]}}
    try:
        created = raw(admin, "POST", f"{lbaas(admin)}/loadbalancers", json=body)
        assert created.status_code == 201, created.text
        lb = created.json()["loadbalancer"]
        assert lb["provisioning_status"] == "PENDING_CREATE"
        assert [listener["provisioning_status"] for listener in lb["listeners"]] == ["PENDING_CREATE"]
        pool = lb["pools"][0]
        assert pool["name"] == "pool_0" and pool["healthmonitor"]["type"] == "TCP"
        assert sorted(m["address"] for m in pool["members"]) == ["127.0.1.2", "127.0.1.3"]
        assert lb["listeners"][0]["default_pool_id"] == pool["id"]
        tree = status_tree(admin, lb["id"])
        assert tree["listeners"][0]["pools"][0]["members"][0]["provisioning_status"] == "PENDING_CREATE"
        wait_lb(admin, lb["id"])
        tree = status_tree(admin, lb["id"])
        pool_status = tree["listeners"][0]["pools"][0]
        assert tree["listeners"][0]["provisioning_status"] == pool_status["provisioning_status"] == "ACTIVE"
        assert {m["provisioning_status"] for m in pool_status["members"]} == {"ACTIVE"}
        assert pool_status["health_monitor"]["provisioning_status"] == "ACTIVE"
        wait_until("haproxy on the VIP", lambda: listening(lb["vip_address"], lb_port), 10)
        assert set(answers(lb["vip_address"], lb_port, 4)) == {"member 127.0.1.2", "member 127.0.1.3"}
        unnamed = raw(admin, "POST", f"{lbaas(admin)}/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": subnet, "listeners": [{"protocol": "TCP", "protocol_port": 1, "default_pool": {
                "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}]}})
        assert unnamed.status_code == 400 and "Pools must be named" in unnamed.json()["faultstring"]
        admin.load_balancer.delete_load_balancer(lb["id"], cascade=True)
        wait_until("the load balancer gone",
                   lambda: admin.load_balancer.find_load_balancer(lb["id"], ignore_missing=True) is None, 10)
    finally:
        for member in members:
            member.close()


def test_load_balancers_go_through_pending_statuses(tmp_path):
    """A second double with every delay x2: amphora boot 2 s, update 0.4 s, delete 0.6 s."""
    with OpenStackDouble(port=0, state_dir=tmp_path / "state", delay_scale=2.0, passwords=PASSWORDS) as slow:
        conn = connect_with(write_clouds_yaml(tmp_path / "clouds.yaml", slow.base_url, PASSWORDS), "devstack-admin")
        started = time.monotonic()
        lb = conn.load_balancer.create_load_balancer(name="slow-lb",
                                                     vip_network_id=conn.network.find_network("private").id)
        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_CREATE"
        wait_lb(conn, lb.id, timeout=20)
        assert time.monotonic() - started >= 1.95
        listener = conn.load_balancer.create_listener(protocol="TCP", protocol_port=free_port(),
                                                      loadbalancer_id=lb.id)
        assert listener.provisioning_status == "PENDING_CREATE"
        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
        busy = raw(conn, "POST", f"{lbaas(conn)}/pools",
                   json={"pool": {"listener_id": listener.id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
        assert busy.status_code == 409 and "immutable" in busy.json()["faultstring"]
        wait_lb(conn, lb.id)
        assert conn.load_balancer.get_listener(listener.id).provisioning_status == "ACTIVE"
        assert raw(conn, "DELETE", f"{lbaas(conn)}/loadbalancers/{lb.id}").status_code == 400  # not cascade
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
        assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_DELETE"
        wait_until("the load balancer gone",
                   lambda: conn.load_balancer.find_load_balancer(lb.id, ignore_missing=True) is None, 10)
        assert not slow.fleet.pids()
        assert not haproxy_children(os.getpid())
