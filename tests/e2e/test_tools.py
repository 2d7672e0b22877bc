"""The built tools report their real versions; the plugins match the SDKs the program uses."""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from conftest import REPO, run
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from toolchain import versions


def pinned(package: str) -> str:
    """The version requirements.txt pins with ==."""
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(rf"{re.escape(package)}==([\w.]+)", line.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"requirements.txt does not pin {package} with ==")


def plugin_info_version(binary: Path) -> str:
    """Start a provider plugin as the engine does and ask it GetPluginInfo over gRPC."""
    plugin = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = plugin.stdout.readline().strip()
        assert port.isdigit(), f"{binary.name} printed {port!r} instead of its port"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            return provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty()).version
    finally:
        plugin.kill()
        plugin.wait()


@pytest.mark.parametrize("plugin, sdk", [("kubernetes", "pulumi-kubernetes"), ("openstack", "pulumi-openstack")])
def test_each_provider_plugin_reports_the_version_of_the_sdk_the_program_uses(tools_bin, plugin, sdk):
    reported = plugin_info_version(tools_bin / f"pulumi-resource-{plugin}")
    assert reported == pinned(sdk) == importlib.metadata.version(sdk.replace("-", "_"))


@pytest.mark.parametrize("argv, expected", [
    (["pulumi", "version"], f"v{versions.PULUMI_VERSION}"),
    (["kube-apiserver", "--version"], f"Kubernetes v{versions.KUBERNETES_VERSION}"),
    (["kube-controller-manager", "--version"], f"Kubernetes v{versions.KUBERNETES_VERSION}"),
    (["kube-scheduler", "--version"], f"Kubernetes v{versions.KUBERNETES_VERSION}"),
    (["etcd", "--version"], f"etcd Version: {versions.ETCD_VERSION}"),
    (["kwok", "--version"], f"kwok version v{versions.KWOK_VERSION}"),
    (["kubectl", "version", "--client"], f"Client Version: v{versions.KUBERNETES_VERSION}"),
])
def test_each_binary_reports_its_pinned_version(tools_bin, argv, expected):
    result = run([str(tools_bin / argv[0]), *argv[1:]])
    assert expected in result.stdout + result.stderr


def test_a_second_run_reuses_everything(tools_bin):
    result = run([sys.executable, "-m", "toolchain.build"])
    assert result.returncode == 0, result.stderr
    table = [line.split() for line in result.stdout.splitlines()[1:] if line.split()[:1] in
             [[t.name] for t in versions.TOOLS]]
    assert [row[0] for row in table] == [t.name for t in versions.TOOLS]
    assert all("reused" in row for row in table), result.stdout
    assert Path(result.stdout.strip().splitlines()[-1]) == tools_bin
