"""`python -m lab.openstack` as the lab starts it: listens, writes clouds.yaml, exits 0 on SIGTERM
and leaves no haproxy behind."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

from openstack_double_testing import (
    PASSWORDS,
    REPO,
    connect_with,
    haproxy_children,
    wait_lb,
)

from lab.ports import free_port, listening, wait_until


def test_the_module_serves_until_sigterm(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "passwords.json").write_text(json.dumps(PASSWORDS))
    port = free_port()
    log = tmp_path / "double.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "lab.openstack", "--port", str(port),
                                    "--state-dir", str(state), "--profile", "fast"],
                                   cwd=REPO, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until("the double to listen", lambda: listening("127.0.0.1", port) or process.poll() is not None, 30)
        assert process.poll() is None, log.read_text()
        wait_until("clouds.yaml", lambda: (state / "clouds.yaml").exists(), 5)
        conn = connect_with(state / "clouds.yaml", "devstack-admin")
        lb = conn.load_balancer.create_load_balancer(vip_subnet_id=conn.network.find_network("private").subnet_ids[0])
        wait_lb(conn, lb.id)
        listener = conn.load_balancer.create_listener(protocol="TCP", protocol_port=free_port(), loadbalancer_id=lb.id)
        wait_lb(conn, lb.id)
        wait_until("an amphora haproxy", lambda: haproxy_children(process.pid), 10)
        wait_until("haproxy on the VIP", lambda: listening(lb.vip_address, listener.protocol_port), 10)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=20) == 0, "the double did not exit cleanly on SIGTERM"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert not haproxy_children(process.pid)
    assert "octavia: load balancer" in log.read_text()
