"""The lab: its real control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK),
the `Lab` object's start/restart/stop (lab/environment.py), `scripts/lab up|status|env|down`, and
the offline Pulumi installation the lab's environment gives."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from conftest import run, shell_env
from kubernetes import client

from lab import parts, processes
from lab.cluster import CSI_DRIVER, ClusterShape
from lab.controlplane import http_answers
from lab.ports import listening
from lab.state import LabState
from toolchain import versions


def test_the_article_nodes_and_the_cinder_csi_driver_are_there(lab):
    core = client.CoreV1Api(lab.kube_api())
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert sorted(nodes) == ["master1", "worker1", "worker2"]
    master = nodes["master1"]
    assert "node-role.kubernetes.io/control-plane" in master.metadata.labels
    assert "node.kubernetes.io/exclude-from-external-load-balancers" in master.metadata.labels
    assert [(t.key, t.effect) for t in master.spec.taints] == [
        ("node-role.kubernetes.io/control-plane", "NoSchedule")]
    for shape in lab.shape.nodes:
        node = nodes[shape.name]
        assert node.spec.provider_id == f"openstack:///{shape.server_id}"
        assert [a.address for a in node.status.addresses if a.type == "InternalIP"] == [shape.ip]
        ready = [c.status for c in node.status.conditions if c.type == "Ready"]
        assert ready == ["True"], f"{shape.name} is not Ready: {node.status.conditions}"
        if not shape.control_plane:
            assert not node.spec.taints
    drivers = client.StorageV1Api(lab.kube_api()).list_csi_driver().items
    assert [d.metadata.name for d in drivers] == [CSI_DRIVER]


def test_the_api_server_reports_the_built_kubernetes_version(lab):
    version = client.VersionApi(lab.kube_api()).get_code()
    assert version.git_version == f"v{versions.KUBERNETES_VERSION}"
    assert (version.major, version.minor) == tuple(versions.KUBERNETES_VERSION.split(".")[:2])


def test_the_scheduler_places_pods_on_workers_and_the_kubelet_double_runs_them(lab):
    core = client.CoreV1Api(lab.kube_api())
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lab-smoke"},
           "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27.4"}]}}
    core.create_namespaced_pod("default", pod)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = core.read_namespaced_pod("lab-smoke", "default")
            if current.status.phase == "Running":
                break
            time.sleep(0.5)
        assert current.status.phase == "Running", current.status
        # master1's NoSchedule taint keeps a pod without toleration off the control plane.
        assert current.spec.node_name in ("worker1", "worker2")
    finally:
        core.delete_namespaced_pod("lab-smoke", "default", grace_period_seconds=0)


def command_line(process: processes.Process) -> list[str]:
    return Path(f"/proc/{process.pid}/cmdline").read_text().split("\0")[:-1]


def test_a_subset_lab_restarts_a_part_with_new_arguments_and_stops_one(make_lab):
    """Only the OpenStack double: a test asks for the parts it needs, nothing else starts."""
    lab = make_lab("subset", parts=["openstack"], extra_args={"openstack": ["--delay-scale", "2"]})
    assert lab.state.parts == ("openstack",)
    base = f"http://127.0.0.1:{lab.state.ports['openstack']}"
    assert http_answers(f"{base}/identity")
    first = lab.process("openstack")
    assert command_line(first)[-2:] == ["--delay-scale", "2"]
    fresh = lab.restart("openstack", extra_args=["--verbose"])
    assert fresh.pid != first.pid and not processes.alive(first)
    assert command_line(fresh)[-3:] == ["--delay-scale", "1", "--verbose"]
    assert http_answers(f"{base}/identity")  # ready means answering, on the same port
    assert lab.state.extra_args["openstack"] == ["--verbose"]
    assert lab.stop_part("openstack") == 0  # a clean exit on SIGTERM
    assert not listening("127.0.0.1", lab.state.ports["openstack"])


def test_the_lab_env_gives_an_offline_pulumi_with_its_plugins_installed_and_no_path_warning(lab, tmp_path):
    env = lab.env()
    path = env["PATH"].split(":")
    assert path[0] == str(lab.paths.bin)
    assert sorted(p.name for p in lab.paths.bin.iterdir()) == ["kubectl", "pulumi"]
    assert str(lab.state.bin_dir) not in path
    assert not any(Path(folder, "pulumi-resource-kubernetes").exists() for folder in path if folder)
    for tool in ("pulumi", "kubectl", "openstack"):
        assert run(["sh", "-c", f"command -v {tool}"], env=env).returncode == 0, tool

    plugins = run(["pulumi", "plugin", "ls", "--json"], env=env, cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    installed = {(p["name"], p["kind"], p["version"]) for p in json.loads(plugins.stdout)}
    assert {("kubernetes", "resource", versions.KUBERNETES_PROVIDER_VERSION),
            ("openstack", "resource", versions.OPENSTACK_PROVIDER_VERSION)} <= installed

    about = run(["pulumi", "about"], env=env, cwd=tmp_path, timeout=120)
    assert about.returncode == 0, about.stderr
    assert re.search(rf"^Version\s+{re.escape(versions.PULUMI_VERSION)}$", about.stdout, re.MULTILINE), about.stdout
    assert "from $PATH" not in about.stdout + about.stderr


def test_up_refuses_a_second_lab_and_down_stops_exactly_what_up_started(tools_bin, tmp_path):
    lab_dir = tmp_path / "lab"
    up = run([sys.executable, "-m", "lab", "up", "--dir", str(lab_dir)], timeout=300)
    assert up.returncode == 0, up.stderr
    state = LabState.from_json((lab_dir / "lab.json").read_text())
    started = state.processes
    try:
        assert [p.name for p in started] == list(parts.ALL)
        assert [p.name for p in started] == ["etcd", "kube-apiserver", "kube-controller-manager",
                                             "kube-scheduler", "kwok", "openstack", "cinder-csi",
                                             "kubelet", "kube-proxy", "cloud-controller"]
        assert state.address_block != "127.0"
        assert f"ready: {', '.join(f'{n.name} {n.ip}' for n in ClusterShape(state.address_block).nodes)}" in up.stderr
        again = run([sys.executable, "-m", "lab", "up", "--dir", str(lab_dir)])
        assert again.returncode == 1
        assert "already running" in again.stderr

        status = run([sys.executable, "-m", "lab", "status", "--dir", str(lab_dir)])
        assert status.returncode == 0, status.stdout
        for process in started:
            assert f"pid {process.pid}" in status.stdout

        env = shell_env(lab_dir)
        # KUBECONFIG first in the script's own output:
        first = run([sys.executable, "-m", "lab", "env", "--dir", str(lab_dir)]).stdout.splitlines()[0]
        assert first.startswith("export KUBECONFIG=")
        assert env["KUBECONFIG"] == str(lab_dir / "kubeconfig")
        assert env["PULUMI_HOME"] == str(state.pulumi_home)
        assert Path(env["PATH"].split(":")[0]) == lab_dir / "bin"
        nodes = run(["kubectl", "get", "nodes", "-o", "name"], env=env)
        assert nodes.stdout.split() == ["node/master1", "node/worker1", "node/worker2"], nodes.stderr
    finally:
        down = run([sys.executable, "-m", "lab", "down", "--dir", str(lab_dir)])
    assert down.returncode == 0, down.stderr
    assert not any(processes.alive(p) for p in started)
    assert not lab_dir.exists()
    assert not [port for port in state.ports.values() if listening("127.0.0.1", port)]
    gone = run([sys.executable, "-m", "lab", "status", "--dir", str(lab_dir)])
    assert gone.returncode == 1 and "no lab" in gone.stdout
