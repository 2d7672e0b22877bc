"""Child processes of the lab: start in the background, record by pid, stop by pid.

Every process is started in its own session with its output appended to ``logs/<name>.log``;
the lab's state records its pid, the executable and where its log began, so `down` (in another
process, later) stops exactly what `up` started (never a process that merely reused a pid) and
leaves nothing listening.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# The children this Python process started, kept so that their exit codes can be read: a Popen
# dropped while its child runs is reaped by the subprocess module behind our back.
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Process:
    """A started child: its part name, pid, executable path, log file and the log's size when it
    started (what the child wrote is what follows)."""

    name: str
    pid: int
    executable: str
    log: str
    log_offset: int = 0


def start(name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        offset = out.tell()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=cwd)
    _CHILDREN[child.pid] = child
    return Process(name, child.pid, os.path.realpath(argv[0]), str(log), offset)


def is_ours(process: Process) -> bool:
    """The pid is alive and still runs the executable we started (not a reused pid)."""
    try:
        return os.path.realpath(f"/proc/{process.pid}/exe") == process.executable
    except OSError:
        return False


def alive(process: Process) -> bool:
    child = _CHILDREN.get(process.pid)
    if child is not None and child.poll() is not None:
        return False
    if not is_ours(process):
        return False
    try:
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(process: Process, grace_seconds: float = 10.0) -> int | None:
    """SIGTERM the process group, then SIGKILL what is left after the grace period.

    Returns the exit code when this Python process started it (negative: killed by that
    signal), else None.
    """
    child = _CHILDREN.get(process.pid)
    if is_ours(process):
        for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and alive(process):
                if child is None:
                    _reap(process.pid)
                time.sleep(0.1)
            if not alive(process):
                break
    if child is None:
        return None
    _CHILDREN.pop(process.pid, None)
    try:
        return child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_since_start(process: Process) -> str:
    """What the process wrote to its log (earlier runs of the part wrote what precedes it)."""
    try:
        with open(process.log, "rb") as log:
            log.seek(process.log_offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def log_tail(process: Process, lines: int = 15) -> str:
    text = log_since_start(process)
    return "\n".join(text.splitlines()[-lines:]) if text else "(no log)"


BLOCK_REGISTRY = Path("/tmp/devstack-k8s-apps-labs")


def claim_address_block(lab_root: Path, state_file_name: str = "lab.json") -> str:
    """A 127.N block no running lab uses (N in 1..250), recorded in a registry of blocks.

    A block is taken while its registry entry names another lab folder whose state file exists,
    or which exists and claimed it in the last minute (a lab between its claim and its first
    state save). The registry's lock keeps labs that start at once from taking one block.
    """
    BLOCK_REGISTRY.mkdir(parents=True, exist_ok=True)
    with open(BLOCK_REGISTRY / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for n in range(1, 251):
            entry = BLOCK_REGISTRY / f"127.{n}"
            try:
                owner = Path(entry.read_text().strip())
                claimed_recently = time.time() - entry.stat().st_mtime < 60
            except FileNotFoundError:
                owner, claimed_recently = None, False
            if owner is not None and owner != lab_root and (
                    (owner / state_file_name).exists() or (owner.exists() and claimed_recently)):
                continue
            entry.write_text(str(lab_root))
            return f"127.{n}"
    raise RuntimeError(f"no free 127.N address block: 250 labs registered in {BLOCK_REGISTRY}")


def release_address_block(block: str, lab_root: Path) -> None:
    entry = BLOCK_REGISTRY / block
    with contextlib.suppress(FileNotFoundError):
        if Path(entry.read_text().strip()) == lab_root:
            entry.unlink()
