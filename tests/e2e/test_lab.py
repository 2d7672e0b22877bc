"""The lab's control plane: real etcd, kube-apiserver, controller-manager, scheduler and KWOK."""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

from conftest import lab_env, run
from kubernetes import client, config

from lab import processes
from lab.cluster import CSI_DRIVER, ClusterShape


def api_for(lab_dir: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(lab_dir / "kubeconfig"))


def test_the_article_nodes_and_the_cinder_csi_driver_are_there(lab):
    lab_dir, _ = lab
    core = client.CoreV1Api(api_for(lab_dir))
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert sorted(nodes) == ["master1", "worker1", "worker2"]
    master = nodes["master1"]
    assert "node-role.kubernetes.io/control-plane" in master.metadata.labels
    assert "node.kubernetes.io/exclude-from-external-load-balancers" in master.metadata.labels
    assert [(t.key, t.effect) for t in master.spec.taints] == [
        ("node-role.kubernetes.io/control-plane", "NoSchedule")]
    for shape in ClusterShape().nodes:
        node = nodes[shape.name]
        assert node.spec.provider_id == f"openstack:///{shape.server_id}"
        ready = [c.status for c in node.status.conditions if c.type == "Ready"]
        assert ready == ["True"], f"{shape.name} is not Ready: {node.status.conditions}"
        if not shape.control_plane:
            assert not node.spec.taints
    drivers = client.StorageV1Api(api_for(lab_dir)).list_csi_driver().items
    assert [d.metadata.name for d in drivers] == [CSI_DRIVER]


def test_the_api_server_reports_the_built_kubernetes_version(lab):
    lab_dir, _ = lab
    version = client.VersionApi(api_for(lab_dir)).get_code()
    assert version.git_version == "v1.36.3"
    assert (version.major, version.minor) == ("1", "36")


def test_the_scheduler_places_pods_on_workers_and_the_kubelet_double_runs_them(lab):
    lab_dir, _ = lab
    core = client.CoreV1Api(api_for(lab_dir))
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


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_up_refuses_a_second_lab_and_down_stops_exactly_what_up_started(tools_bin, tmp_path):
    lab_dir = tmp_path / "lab"
    up = run([sys.executable, "-m", "lab", "up", "--dir", str(lab_dir)], timeout=300)
    assert up.returncode == 0, up.stderr
    state = json.loads((lab_dir / "lab.json").read_text())
    started = processes.processes_of(state)
    try:
        assert [p.name for p in started] == ["etcd", "kube-apiserver", "kube-controller-manager",
                                             "kube-scheduler", "kwok", "openstack", "cinder-csi",
                                             "kubelet", "kube-proxy", "cloud-controller"]
        again = run([sys.executable, "-m", "lab", "up", "--dir", str(lab_dir)])
        assert again.returncode == 1
        assert "already running" in again.stderr

        status = run([sys.executable, "-m", "lab", "status", "--dir", str(lab_dir)])
        assert status.returncode == 0, status.stdout
        for process in started:
            assert f"pid {process.pid}" in status.stdout

        env = lab_env(lab_dir)
        # KUBECONFIG first in the script's own output:
        first = run([sys.executable, "-m", "lab", "env", "--dir", str(lab_dir)]).stdout.splitlines()[0]
        assert first.startswith("export KUBECONFIG=")
        assert env["KUBECONFIG"] == str(lab_dir / "kubeconfig")
        assert Path(env["PATH"].split(":")[0]) == tools_bin
    finally:
        down = run([sys.executable, "-m", "lab", "down", "--dir", str(lab_dir)])
    assert down.returncode == 0, down.stderr
    assert not any(processes.alive(p) for p in started)
    assert not lab_dir.exists()
    ports = [port for port in state["ports"].values()]
    assert not [port for port in ports if listening(port)]
