"""Real servers on loopback for the probe: nginx plays the pods, haproxy (TCP mode) the amphora.

Used by the probe's tests (tests/probe) and benchmarks/probe_benchmark.py.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from lab.ports import free_port, listening, wait_until


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not path:
        raise RuntimeError(f"{name} is not installed: ./scripts/test installs it from Debian")
    return path


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 10.0) -> None:
    """Until the server listens on the port; a server that exits meanwhile is reported with its log."""

    def exited() -> str | None:
        if process.poll() is None:
            return None
        return f"server exited with {process.returncode}: {log.read_text() if log.exists() else ''}"

    wait_until(f"127.0.0.1:{port} to listen", lambda: listening("127.0.0.1", port, timeout=0.2), timeout,
               interval=0.05, still_worth_waiting=exited)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@contextmanager
def nginx_servers(workdir: Path, answers: dict[int, tuple[int, str]]):
    """One nginx, one server block per port, each answering (status, body) to every GET."""
    workdir.mkdir(parents=True, exist_ok=True)
    blocks = "\n".join(
        f'    server {{ listen 127.0.0.1:{port}; default_type text/plain; '
        f'location / {{ return {status} "{_escape(body)}"; }} }}'
        for port, (status, body) in answers.items()
    )
    temp_paths = "\n".join(f"    {kind}_temp_path {workdir}/{kind};" for kind in
                           ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = workdir / "nginx.conf"
    config.write_text(f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 512; }}
http {{
    access_log off;
    keepalive_timeout 75s;
{temp_paths}
{blocks}
}}
""")
    log = workdir / "nginx-error.log"
    process = subprocess.Popen([_binary("nginx"), "-p", str(workdir), "-e", str(log), "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for port in answers:
            wait_for_port(port, process, log)
        yield process
    finally:
        _stop(process)


def pod_answers(pods: list[tuple[str, str]]) -> dict[int, tuple[int, str]]:
    """Ports for (pod, node) pairs, each answering the pod's identity line."""
    return {free_port(): (200, f"Server {pod} on {node}\n") for pod, node in pods}


def haproxy_config(listen_port: int, member_ports: list[int]) -> str:
    """TCP mode and no health check, like an Octavia TCP listener without a health monitor."""
    members = "\n".join(f"    server member{i} 127.0.0.1:{port}" for i, port in enumerate(member_ports))
    return f"""global
    maxconn 1024
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend listener
    bind 127.0.0.1:{listen_port}
    default_backend pool
backend pool
    balance roundrobin
{members}
"""


class Haproxy:
    def __init__(self, workdir: Path, listen_port: int, member_ports: list[int]):
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "haproxy.cfg"
        self.config.write_text(haproxy_config(listen_port, member_ports))
        self.log = workdir / "haproxy.log"
        self.port = listen_port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        with self.log.open("w") as log:
            self.process = subprocess.Popen([_binary("haproxy"), "-db", "-f", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process:
            _stop(self.process)


@contextmanager
def haproxy(workdir: Path, listen_port: int, member_ports: list[int], start: bool = True):
    balancer = Haproxy(workdir, listen_port, member_ports)
    try:
        if start:
            balancer.start()
        yield balancer
    finally:
        balancer.stop()


@contextmanager
def load_balanced(workdir: Path, answers: dict[int, tuple[int, str]], members: list[int] | None = None,
                  start: bool = True):
    """nginx serving the answers behind haproxy; the members are the answers' ports unless given
    (a port where nothing listens plays a dead member)."""
    member_ports = list(answers) if members is None else members
    with nginx_servers(workdir / "nginx", answers), \
            haproxy(workdir / "haproxy", free_port(), member_ports, start) as balancer:
        yield balancer
