"""lab/daemon.py: both shapes of start() stop cleanly on SIGTERM, logging as the lab reads it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, threading, time
from lab import daemon
daemon.setup_logging()
shape = sys.argv[1]
stopped = threading.Event()
def start():
    print("started", flush=True)
    if shape == "blocking":
        stopped.wait()          # a controller loop: returns once stop() ran
def stop():
    time.sleep(0.1)
    stopped.set()
    print("stop ran", flush=True)
sys.exit(daemon.run_until_signalled(start, stop, "double"))
"""


@pytest.mark.parametrize("shape", ["returns-at-once", "blocking"])
def test_sigterm_runs_stop_and_exits_zero(shape):
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, shape], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "started"
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stop ran" in out
    assert "double INFO signal 15: stopping" in err and "double INFO stopped" in err
