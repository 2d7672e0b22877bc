"""Child processes of the lab: start in the background, record by pid, stop by pid.

Every process is started in its own session with its output in ``logs/<name>.log``; the
state file records its pid and the executable, so `down` stops exactly what `up` started
(never a process that merely reused a pid) and leaves nothing listening.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.ports import free_port  # noqa: F401 - re-exported: lab/__main__.py and tests import it from here


@dataclass(frozen=True)
class Process:
    """A started child: its part name, pid, executable path and log file."""

    name: str
    pid: int
    executable: str
    log: str


def start(name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=cwd)
    return Process(name, child.pid, os.path.realpath(argv[0]), str(log))


def is_ours(process: Process) -> bool:
    """The pid is alive and still runs the executable we started (not a reused pid)."""
    try:
        return os.path.realpath(f"/proc/{process.pid}/exe") == process.executable
    except OSError:
        return False


def alive(process: Process) -> bool:
    if not is_ours(process):
        return False
    try:
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(process: Process, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after the grace period."""
    if not is_ours(process):
        return
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(process.pid)
            if not alive(process):
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def log_tail(process: Process, lines: int = 15) -> str:
    try:
        return "\n".join(Path(process.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


BLOCK_REGISTRY = Path("/tmp/devstack-k8s-apps-labs")


def claim_address_block(lab_root: Path) -> str:
    """A 127.N block no running lab uses (N in 1..250), recorded in a registry of blocks.

    A block is taken while its registry entry names a lab folder whose state file exists.
    """
    BLOCK_REGISTRY.mkdir(parents=True, exist_ok=True)
    for n in range(1, 251):
        entry = BLOCK_REGISTRY / f"127.{n}"
        try:
            owner = Path(entry.read_text().strip())
            if owner != lab_root and (owner / "lab.json").exists():
                continue
        except FileNotFoundError:
            pass
        entry.write_text(str(lab_root))
        return f"127.{n}"
    raise RuntimeError(f"no free 127.N address block: 250 labs registered in {BLOCK_REGISTRY}")


def release_address_block(block: str, lab_root: Path) -> None:
    entry = BLOCK_REGISTRY / block
    try:
        if Path(entry.read_text().strip()) == lab_root:
            entry.unlink()
    except FileNotFoundError:
        pass


def save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def processes_of(state: dict) -> list[Process]:
    return [Process(**entry) for entry in state.get("processes", [])]


def as_records(processes: list[Process]) -> list[dict]:
    return [asdict(p) for p in processes]
