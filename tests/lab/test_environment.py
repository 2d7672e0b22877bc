"""The Lab object (lab/environment.py): its saved state, its environment, its life cycle.

The life-cycle tests run the real Lab machinery (processes, readiness, restarts, the address
block registry) on stand-in parts, small Python processes, so they need no Go tools.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import environment, processes
from lab import parts as lab_parts
from lab import state as state_module
from lab.controlplane import LabError
from lab.environment import Lab, LabRunning
from lab.ports import listening
from lab.state import LabState
from toolchain import versions


def a_state(root: Path) -> LabState:
    return LabState(
        root=root, bin_dir=Path("/cache/set-1/bin"), pulumi_home=Path("/cache/set-1/pulumi-home"),
        profile="devstack", delay_scale=0.25, address_block="127.9", pulumi_passphrase="secret words",
        parts=("etcd", "kube-apiserver"), extra_args={"etcd": ["--log-level=debug"]},
        ports={"etcd": 2379, "etcd-peer": 2380, "kube-apiserver": 6443},
        processes=[processes.Process("etcd", 41, "/cache/set-1/bin/etcd", str(root / "logs/etcd.log"), 120)],
        api_token="token")


# --------------------------------------------------------------------------- the state

def test_the_state_survives_its_file(tmp_path):
    state = a_state(tmp_path)
    state_module.save(state)
    assert state_module.load(tmp_path) == state
    assert (tmp_path / "lab.json").stat().st_mode & 0o777 == 0o600  # it holds the token and passphrase


def test_no_state_file_is_no_lab_and_a_foreign_one_is_named(tmp_path):
    assert state_module.load(tmp_path) is None
    (tmp_path / "lab.json").write_text('{"processes": []}')
    with pytest.raises(LabError, match="not a state file"):
        state_module.load(tmp_path)


# --------------------------------------------------------------------------- the environment

def test_env_points_at_the_lab_and_keeps_the_provider_plugins_off_path(tmp_path):
    state = a_state(tmp_path)
    values = environment.env_values(state, "/usr/bin:/bin")
    assert next(iter(values)) == "KUBECONFIG" and values["KUBECONFIG"] == str(tmp_path / "kubeconfig")
    path = values["PATH"].split(":")
    assert path == [str(tmp_path / "bin"), str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    assert str(state.bin_dir) not in path
    assert values["PULUMI_HOME"] == "/cache/set-1/pulumi-home"
    assert values["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'pulumi-state'}"
    assert values["PULUMI_CONFIG_PASSPHRASE"] == "secret words"
    assert values["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert values["OS_CLIENT_CONFIG_FILE"] == str(tmp_path / "clouds.yaml")
    assert values["OS_CLOUD"] == "devstack-admin"


def test_the_export_lines_give_a_shell_the_values_back(tmp_path):
    values = {"KUBECONFIG": str(tmp_path / "a b"), "PULUMI_CONFIG_PASSPHRASE": "it's $HOME `x`"}
    script = "\n".join(environment.export_lines(values)) + '\nprintf "%s|%s" "$KUBECONFIG" "$PULUMI_CONFIG_PASSPHRASE"'
    shown = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown == f"{tmp_path / 'a b'}|it's $HOME `x`"


def test_the_lab_bin_folder_links_the_clients_only(tmp_path):
    tools = tmp_path / "set" / "bin"
    tools.mkdir(parents=True)
    for name in ("pulumi", "kubectl", "pulumi-resource-kubernetes", "pulumi-resource-openstack", "etcd"):
        (tools / name).write_text("")
    environment.link_path_tools(tools, tmp_path / "lab-bin")
    assert sorted(p.name for p in (tmp_path / "lab-bin").iterdir()) == ["kubectl", "pulumi"]
    assert (tmp_path / "lab-bin" / "pulumi").resolve() == tools / "pulumi"
    environment.link_path_tools(tools, tmp_path / "lab-bin")  # a second start keeps the links


def test_the_plugins_are_installed_as_pulumi_installs_a_local_binary(tmp_path):
    bin_dir = tmp_path / "set-abc" / "bin"
    assert environment.pulumi_home_for(bin_dir) == tmp_path / "set-abc" / "pulumi-home"
    assert environment.plugin_install_argv(bin_dir, "kubernetes", versions.KUBERNETES_PROVIDER_VERSION) == [
        str(bin_dir / "pulumi"), "plugin", "install", "resource", "kubernetes", "4.25.0",
        "--file", str(bin_dir / "pulumi-resource-kubernetes"), "--exact"]
    assert dict(environment.PROVIDER_PLUGINS) == {"kubernetes": versions.KUBERNETES_PROVIDER_VERSION,
                                                  "openstack": versions.OPENSTACK_PROVIDER_VERSION}


def test_a_lab_refuses_arguments_for_a_part_it_does_not_run_and_a_bad_delay_scale(tmp_path):
    with pytest.raises(ValueError, match="cinder-csi"):
        Lab(tmp_path, parts=lab_parts.CONTROL_PLANE, extra_args={"cinder-csi": ["--verbose"]})
    with pytest.raises(ValueError, match="delay scale"):
        Lab(tmp_path, delay_scale=float("nan"))
    with pytest.raises(LabError, match="start"):
        Lab(tmp_path).env()


# --------------------------------------------------------------------------- the life cycle

# A stand-in part: listens on its port, logs "ready" after a moment, exits 0 on SIGTERM.
SERVER = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listener = socket.socket(); listener.bind(("127.0.0.1", int(sys.argv[1]))); listener.listen()
time.sleep(0.3)
print("ready", *sys.argv[2:], flush=True)
while True:
    time.sleep(1)
"""


def stand_in(name: str, port: str, needs: tuple[str, ...] = ()) -> lab_parts.Part:
    return lab_parts.Part(name, lambda s: [sys.executable, "-c", SERVER, str(s.ports[port])], needs=needs,
                          ports=(port,), ready=lab_parts.logged("ready"), what="its ready line", timeout=10)


@pytest.fixture
def stand_in_parts(monkeypatch):
    """Two stand-in parts instead of the real ones, and no Pulumi plugins to install."""
    declared = {"server": stand_in("server", "server"), "client": stand_in("client", "client", needs=("server",)),
                "crasher": lab_parts.Part("crasher", lambda s: [sys.executable, "-c", "raise SystemExit('boom')"],
                                          needs=("server",), ready=lab_parts.logged("never"), what="never")}
    monkeypatch.setattr(lab_parts, "BY_NAME", declared)
    monkeypatch.setattr(lab_parts, "ALL", tuple(declared))
    monkeypatch.setattr(environment, "install_provider_plugins", lambda bin_dir, home: None)
    return declared


def test_start_restart_stop_part_and_stop_leave_nothing_behind(stand_in_parts, tmp_path):
    root = tmp_path / "lab"
    lines: list[str] = []
    lab = Lab(root, parts=["client"], bin_dir=tmp_path / "tools", progress=lines.append).start()
    state = lab.state
    try:
        assert state.parts == ("server", "client")
        assert [p.name for p in state.processes] == ["server", "client"]
        assert all(processes.alive(p) for p in state.processes)
        assert state_module.load(root) == state  # what `scripts/lab status` in another process reads
        block_entry = processes.BLOCK_REGISTRY / state.address_block
        assert block_entry.read_text() == str(root)
        with pytest.raises(LabRunning):
            Lab(root, parts=["client"], bin_dir=tmp_path / "tools").start()

        old = lab.process("client")
        fresh = lab.restart("client", extra_args=["again"])
        assert fresh.pid != old.pid and not processes.alive(old) and processes.alive(fresh)
        # Ready again means this start's line, not the one the old process left in the log.
        assert processes.log_since_start(fresh).startswith("ready again")
        assert state_module.load(root).process("client") == fresh

        assert lab.stop_part("client") == 0  # SIGTERM, a clean exit
        assert [p.name for p in state_module.load(root).processes] == ["server"]
        ports = list(state.ports.values())
    finally:
        lab.stop()
    assert not any(processes.alive(p) for p in (old, fresh))
    assert not root.exists()
    assert not block_entry.exists()
    assert not [port for port in ports if listening("127.0.0.1", port)]
    assert any("client ready" in line for line in lines), lines


def test_a_part_that_dies_while_starting_is_named_and_nothing_is_left(stand_in_parts, tmp_path):
    root = tmp_path / "lab"
    lines: list[str] = []
    lab = Lab(root, parts=["crasher"], bin_dir=tmp_path / "tools", progress=lines.append)
    started = time.monotonic()
    with pytest.raises(LabError, match="crasher exited") as failure:
        lab.start()
    assert "boom" in str(failure.value)
    assert time.monotonic() - started < 30, "a dead part was waited for (its timeout is 60 s)"
    assert not root.exists()
    server_pid = int(re.search(r"server started \(pid (\d+)\)", "\n".join(lines)).group(1))
    assert not Path(f"/proc/{server_pid}").exists(), "the part that was ready is left running"


def test_the_lab_of_another_process_is_attached_and_stopped_by_pid(stand_in_parts, tmp_path):
    root = tmp_path / "lab"
    with Lab(root, parts=["server"], bin_dir=tmp_path / "tools") as lab:
        other = Lab.attach(root)
        assert other.state == lab.state and [p.pid for p in other.running()] == [lab.process("server").pid]
        assert other.env({"PATH": "/bin"})["KUBECONFIG"] == str(root / "kubeconfig")
        port = lab.state.ports["server"]
        assert listening("127.0.0.1", port)
        other.stop()
        assert not listening("127.0.0.1", port) and not root.exists()
    assert Lab.attach(root) is None


def test_parts_start_with_their_address_block(stand_in_parts, tmp_path, monkeypatch):
    show = lab_parts.Part("server", lambda s: [sys.executable, "-c", "import os, time; print('ready', "
                                              "os.environ['DEVSTACK_LAB_ADDRESS_BLOCK'], flush=True); "
                                              "time.sleep(60)"],
                          ready=lab_parts.logged("ready"), what="ready")
    monkeypatch.setattr(lab_parts, "BY_NAME", {"server": show})
    monkeypatch.delenv("DEVSTACK_LAB_ADDRESS_BLOCK", raising=False)
    with Lab(tmp_path / "lab", parts=["server"], bin_dir=tmp_path / "tools") as lab:
        logged = processes.log_since_start(lab.process("server"))
        assert logged.strip() == f"ready {lab.state.address_block}"
        assert lab.state.address_block != "127.0"
        assert "DEVSTACK_LAB_ADDRESS_BLOCK" not in os.environ  # the lab's own process is left alone


def test_free_ports_are_picked_per_port_name(stand_in_parts, tmp_path):
    with Lab(tmp_path / "lab", parts=["client"], bin_dir=tmp_path / "tools") as lab:
        assert set(lab.state.ports) == {"server", "client"}
        assert len(set(lab.state.ports.values())) == 2
        assert all(listening("127.0.0.1", port) for port in lab.state.ports.values())


def test_every_lab_of_a_tool_set_shares_one_passphrase(tmp_path):
    # A stack file's encryptionsalt from an earlier lab must still match the next lab's passphrase.
    home = tmp_path / "pulumi-home"
    first = environment.lab_passphrase(home)
    assert len(first) == 32 and environment.lab_passphrase(home) == first
    assert (home / "lab-passphrase").stat().st_mode & 0o077 == 0
    assert environment.lab_passphrase(tmp_path / "other-home") != first
