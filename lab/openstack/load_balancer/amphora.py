"""The amphorae of the OpenStack double: a real haproxy per Octavia load balancer.

A double for Octavia's amphora VM (the part that carries traffic): where Octavia boots a VM
running haproxy, this runs the Debian `haproxy` binary on loopback, one haproxy
process per ACTIVE load balancer, with a configuration rendered the way Octavia's amphora
driver renders it for TCP listeners: `mode tcp`, one frontend per listener binding the VIP
and, when there is one, the load balancer's floating IP (on a real cloud Neutron NATs the
floating IP to the VIP; on loopback haproxy simply binds both), one backend per pool with
its balance algorithm and the members as servers (`check` when the pool has a health
monitor). A configuration change is a hitless reload (a new haproxy with `-sf <old pid>`,
as the amphora's haproxy reload does); the process is stopped when the load
balancer is deleted. Not played: the VM, its boot (the OpenStack double keeps the LB
PENDING_CREATE for the boot delay; see models.py), failover, TLS, L7 policies, UDP, stats.

`AmphoraFleet.apply({lb_id: config_text | None})` converges the running processes to that
map; call it from ONE long-lived thread (haproxy gets PR_SET_PDEATHSIG, which fires when the
thread that started it ends).
"""
from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HAPROXY = "/usr/sbin/haproxy"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _fmt_ms(ms) -> str:
    return f"{int(ms)}ms"


def render_config(lb: dict, listeners: list[dict], pools: dict[str, dict],
                  members: dict[str, list[dict]], monitors: dict[str, dict],
                  floating_ips: list[str], stats_socket: Path) -> str | None:
    """haproxy.cfg for one load balancer, or None when it has nothing to listen on.

    listeners: the LB's listeners (Octavia API dicts); pools: pool id -> pool;
    members: pool id -> its members; monitors: pool id -> its health monitor.
    """
    lines = [
        "# Rendered by the lab's OpenStack double (Octavia amphora stand-in)",
        f"# loadbalancer {lb['id']} {lb.get('name') or ''}",
        "global",
        "    maxconn 512",
        "    nbthread 1",
        f"    stats socket {stats_socket} mode 600 level user",
        "",
        "defaults",
        "    log global",
        "    retries 3",
        "    option redispatch",
        "    timeout connect 5000ms",
        "    timeout client 50000ms",
        "    timeout server 50000ms",
        "",
    ]
    addresses = [lb["vip_address"]] + [ip for ip in floating_ips if ip and ip != lb["vip_address"]]
    frontends = 0
    for listener in listeners:
        if not listener.get("admin_state_up", True):
            continue
        if listener["protocol"] not in ("TCP", "HTTP", "PROXY", "HTTPS", "TERMINATED_HTTPS"):
            continue  # UDP/SCTP: LVS in a real amphora, not played here
        mode = "http" if listener["protocol"] == "HTTP" else "tcp"
        frontends += 1
        lines.append(f"frontend {listener['id']}")
        lines.append(f"    mode {mode}")
        if listener.get("connection_limit", -1) not in (-1, None):
            lines.append(f"    maxconn {int(listener['connection_limit'])}")
        for address in addresses:
            lines.append(f"    bind {address}:{int(listener['protocol_port'])}")
        lines.append(f"    timeout client {_fmt_ms(listener.get('timeout_client_data') or 50000)}")
        pool = pools.get(listener.get("default_pool_id") or "")
        backend = pool["id"] if pool else f"{listener['id']}-nopool"
        lines.append(f"    default_backend {backend}")
        lines.append("")
        lines.append(f"backend {backend}")
        lines.append(f"    mode {mode}")
        if pool:
            algorithm = {"ROUND_ROBIN": "roundrobin", "LEAST_CONNECTIONS": "leastconn",
                         "SOURCE_IP": "source"}.get(pool["lb_algorithm"], "roundrobin")
            lines.append(f"    balance {algorithm}")
            lines.append(f"    timeout connect {_fmt_ms(listener.get('timeout_member_connect') or 5000)}")
            lines.append(f"    timeout server {_fmt_ms(listener.get('timeout_member_data') or 50000)}")
            monitor = monitors.get(pool["id"])
            check = ""
            if monitor and monitor.get("admin_state_up", True):
                lines.append("    option tcp-check" if monitor["type"] in ("TCP", "PING", "UDP-CONNECT")
                             else f"    option httpchk {monitor.get('http_method') or 'GET'} "
                                  f"{monitor.get('url_path') or '/'}")
                check = (f" check inter {int(monitor['delay'])}s fall {int(monitor.get('max_retries_down') or 3)}"
                         f" rise {int(monitor['max_retries'])}")
            if pool.get("admin_state_up", True):
                for member in members.get(pool["id"], []):
                    if not member.get("admin_state_up", True):
                        continue
                    backup = " backup" if member.get("backup") else ""
                    lines.append(f"    server {member['id']} {member['address']}:{int(member['protocol_port'])}"
                                 f" weight {int(member.get('weight', 1))}{check}{backup}")
        lines.append("")
    return "\n".join(lines) + "\n" if frontends else None


class _Amphora:
    """One load balancer's haproxy. A reload starts a new haproxy with `-sf <old pid>`: it binds
    (SO_REUSEPORT) and then tells the old one to finish its connections and exit, the classic
    hitless reload; no signal to a re-executing master can get lost."""

    def __init__(self, lb_id: str, folder: Path):
        self.lb_id = lb_id
        self.folder = folder
        self.config = folder / "haproxy.cfg"
        self.process: subprocess.Popen | None = None
        self.draining: list[subprocess.Popen] = []
        self.text: str | None = None
        self.failed_at = 0.0

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self, text: str, replace: list[int]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config)
        argv = [HAPROXY, "-db", "-f", str(self.config)]
        if replace:
            argv += ["-sf", *map(str, replace)]
        # stdout/stderr inherited: haproxy's messages land in the double's own log
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.text = text

    def converge(self, text: str) -> None:
        self.draining = [p for p in self.draining if p.poll() is None]
        if self.running() and self.text == text:
            return
        if self.process is not None and not self.running():
            if time.monotonic() - self.failed_at < 2.0 and self.text == text:
                return
            print(f"amphora {self.lb_id}: haproxy exited with {self.process.returncode}; starting it again",
                  flush=True)
            self.failed_at = time.monotonic()
            self.process = None
        old = self.process
        if old is not None:
            self.draining.append(old)
        self._spawn(text, [p.pid for p in self.draining])
        print(f"amphora {self.lb_id}: haproxy {'reloaded' if old else 'started'} (pid {self.process.pid})",
              flush=True)

    def stop(self) -> None:
        for process in [self.process, *self.draining]:
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.process is not None:
            print(f"amphora {self.lb_id}: haproxy stopped", flush=True)
        self.process, self.draining, self.text = None, [], None


class AmphoraFleet:
    """The running haproxy processes, one per load balancer id."""

    def __init__(self, state_dir: Path):
        self.root = Path(state_dir) / "amphorae"
        # haproxy refuses unix socket paths over 97 bytes: the stats sockets live in a short folder
        self.sockets = Path(tempfile.mkdtemp(prefix="lab-amphorae-", dir="/tmp"))
        self.amphorae: dict[str, _Amphora] = {}
        self._lock = threading.Lock()

    def folder(self, lb_id: str) -> Path:
        return self.root / lb_id

    def stats_socket(self, lb_id: str) -> Path:
        return self.sockets / f"{lb_id}.sock"

    def apply(self, desired: dict[str, str | None]) -> bool:
        """Converge the processes to {lb id: config text, or None for no haproxy}."""
        with self._lock:
            for lb_id in list(self.amphorae):
                if desired.get(lb_id) is None:
                    self.amphorae.pop(lb_id).stop()
            for lb_id, text in desired.items():
                if text is not None:
                    self.amphorae.setdefault(lb_id, _Amphora(lb_id, self.folder(lb_id))).converge(text)
        return all(a.running() for a in self.amphorae.values())

    def server_states(self, lb_id: str) -> dict[str, str] | None:
        """{member id: haproxy check status ("UP", "DOWN", "no check", "MAINT", ...)} from the
        stats socket, as the amphora agent reads it for its health heartbeats; None if unknown."""
        path = self.stats_socket(lb_id)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(path))
                sock.sendall(b"show stat\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return None
        lines = data.decode(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            return None
        header = lines[0][2:].split(",")
        try:
            name_col, status_col = header.index("svname"), header.index("status")
        except ValueError:
            return None
        states = {}
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) > status_col and fields[name_col] not in ("FRONTEND", "BACKEND", ""):
                states[fields[name_col]] = fields[status_col]
        return states

    def pids(self) -> dict[str, int]:
        return {lb_id: a.process.pid for lb_id, a in self.amphorae.items() if a.running()}

    def stop_all(self) -> None:
        with self._lock:
            for amphora in self.amphorae.values():
                amphora.stop()
            self.amphorae.clear()
            shutil.rmtree(self.sockets, ignore_errors=True)
