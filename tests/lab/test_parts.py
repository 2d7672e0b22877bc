"""The lab's parts (lab/parts.py): one declaration each, their closure, their command lines."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lab import parts, processes
from lab.state import LabState

GO_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@pytest.fixture
def state(tmp_path) -> LabState:
    """A lab's state with a bin folder of stand-in executables (argv checks they exist)."""
    bin_dir = tmp_path / "tools" / "bin"
    bin_dir.mkdir(parents=True)
    for name in GO_BINARIES:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    ports = {name: 20000 + index for index, name in enumerate(parts.ports_of(parts.ALL))}
    return LabState(root=tmp_path / "lab", bin_dir=bin_dir, pulumi_home=tmp_path / "home", profile="devstack",
                    delay_scale=0.5, address_block="127.7", pulumi_passphrase="p", parts=parts.ALL, ports=ports)


def test_every_part_is_declared_once_and_needs_only_parts_declared_before_it():
    names = [p.name for p in parts.PARTS]
    assert len(names) == len(set(names)) == 10
    for index, declared in enumerate(parts.PARTS):
        assert set(declared.needs) <= set(names[:index]), declared.name


def test_a_subset_brings_what_it_needs_in_start_order():
    assert parts.resolve(["cinder-csi"]) == ("etcd", "kube-apiserver", "kube-controller-manager", "openstack",
                                             "cinder-csi")
    assert parts.resolve(["kube-proxy", "etcd"]) == ("etcd", "kube-apiserver", "kube-proxy")
    assert parts.resolve(parts.CONTROL_PLANE) == parts.CONTROL_PLANE
    assert parts.resolve(reversed(parts.ALL)) == parts.ALL


def test_an_unknown_part_is_named():
    with pytest.raises(ValueError, match="no lab part 'nova'"):
        parts.resolve(["etcd", "nova"])


def test_the_doubles_command_lines_are_their_fixed_interface(state):
    root = state.paths.root
    kubeconfig, clouds = str(root / "kubeconfig"), str(root / "clouds.yaml")
    delays = ["--profile", "devstack", "--delay-scale", "0.5"]
    python = [sys.executable, "-m"]
    assert parts.argv_of("openstack", state) == [*python, "lab.openstack", "--port", str(state.ports["openstack"]),
                                                 "--state-dir", str(root / "openstack"), *delays]
    assert parts.argv_of("cinder-csi", state) == [*python, "lab.cinder_csi", "--kubeconfig", kubeconfig,
                                                  "--clouds-yaml", clouds, "--cloud", "devstack-admin", *delays]
    assert parts.argv_of("kubelet", state) == [*python, "lab.kubelet", "--kubeconfig", kubeconfig, *delays]
    assert parts.argv_of("kube-proxy", state) == [*python, "lab.kube_proxy", "--kubeconfig", kubeconfig]
    assert parts.argv_of("cloud-controller", state) == [*python, "lab.cloud_controller", "--kubeconfig", kubeconfig,
                                                        "--clouds-yaml", clouds, "--cloud", "devstack-admin",
                                                        "--cluster-name", "kubernetes"]


def test_the_control_plane_listens_on_the_ports_the_lab_picked(state):
    etcd = parts.argv_of("etcd", state)
    assert etcd[0] == str(state.bin_dir / "etcd")
    assert f"--listen-client-urls=http://127.0.0.1:{state.ports['etcd']}" in etcd
    assert f"--listen-peer-urls=http://127.0.0.1:{state.ports['etcd-peer']}" in etcd
    apiserver = parts.argv_of("kube-apiserver", state)
    assert f"--secure-port={state.ports['kube-apiserver']}" in apiserver
    assert f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}" in apiserver
    kwok = parts.argv_of("kwok", state)
    assert f"--server-address=127.0.0.1:{state.ports['kwok']}" in kwok
    assert f"--config={state.paths.kwok_stages}" in kwok


def test_each_part_uses_only_ports_of_itself_and_what_it_needs(state):
    for declared in parts.PARTS:
        closure = parts.resolve([declared.name])
        state.ports = {name: port for name, port in state.ports.items() if name in parts.ports_of(closure)}
        parts.argv_of(declared.name, state)  # a KeyError here: a port nobody picks
        state.ports = {name: 20000 + i for i, name in enumerate(parts.ports_of(parts.ALL))}


def test_extra_arguments_come_last_so_that_they_win(state):
    state.extra_args = {"openstack": ["--delay-scale", "3"], "kube-apiserver": ["--v=4"]}
    assert parts.argv_of("openstack", state)[-2:] == ["--delay-scale", "3"]
    assert parts.argv_of("kube-apiserver", state)[-1] == "--v=4"
    assert parts.argv_of("kubelet", state)[-1] == "0.5"


def test_a_go_binary_missing_from_the_tools_is_named(state):
    (Path(state.bin_dir) / "etcd").unlink()
    with pytest.raises(RuntimeError, match="etcd not found"):
        parts.argv_of("etcd", state)


def test_a_logged_readiness_reads_only_what_this_start_wrote(tmp_path):
    log = tmp_path / "kubelet.log"
    log.write_text("kubelet double: caches synced; playing the pods of master1\nstopped\n")
    process = processes.Process("kubelet", 1, "/bin/true", str(log), log_offset=log.stat().st_size)
    ready = parts.logged("caches synced")
    assert not ready(None, process)
    with open(log, "a") as out:
        out.write("kubelet double: caches synced; playing the pods of master1\n")
    assert ready(None, process)


def test_the_doubles_needs_match_what_they_talk_to():
    assert set(parts.part("cinder-csi").needs) >= {"kube-apiserver", "openstack"}
    assert set(parts.part("cloud-controller").needs) >= {"kube-apiserver", "openstack"}
    assert "kwok" in parts.part("kubelet").needs
    assert parts.part("openstack").needs == ()
