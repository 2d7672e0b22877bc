"""Every part of the lab, declared once: its command line, what it needs, how to tell it is ready.

The real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK
playing the nodes) and the doubles of what cannot run here (the OpenStack APIs with haproxy
amphorae, the Cinder CSI driver, the kubelets' containers, kube-proxy, the OpenStack cloud
controller). lab/environment.py starts a chosen subset in this order; a part starts once the
parts it needs are ready.

The doubles' command lines are their fixed interface (``python -m lab.<module> ...``); each part
gets ``DEVSTACK_LAB_ADDRESS_BLOCK`` in its environment from the lab.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lab import cluster, controlplane, processes

if TYPE_CHECKING:
    from lab.state import LabState

ADMIN_CLOUD = "devstack-admin"  # Devstack's clouds.yaml entry with admin rights


@dataclass(frozen=True)
class Part:
    """One process of the lab.

    argv: its command line from the lab's state (ports, paths, profile); the lab appends the
        extra arguments a caller asked for (a later flag wins, for the Go tools and the doubles).
    needs: parts that must be ready before it starts (and that come with it in a subset).
    ports: names of the ports it listens on; the lab picks free ones before the first start.
    ready: whether it serves yet, given the lab and the started process; None: started is enough.
    what: what ``ready`` waits for, for messages.
    prepare: files it reads, written before its first start (kept across restarts).
    settle: what the lab adds once it is first ready (objects it serves).
    """

    name: str
    argv: Callable[[LabState], list[str]]
    needs: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    ready: Callable[[LabState, processes.Process], bool] | None = None
    what: str = ""
    timeout: float = 60.0
    prepare: Callable[[LabState], None] | None = None
    settle: Callable[[LabState], None] | None = None


# --------------------------------------------------------------------------- readiness checks

@functools.lru_cache(maxsize=8)
def _api_client(kubeconfig: str, written_ns: int):
    from kubernetes import config

    return config.new_client_from_config(config_file=kubeconfig)


def kube_api(state: LabState):
    """A Kubernetes client on the lab's kubeconfig (one per kubeconfig as written)."""
    kubeconfig = state.paths.kubeconfig
    return _api_client(str(kubeconfig), kubeconfig.stat().st_mtime_ns)


def _core(state: LabState):
    from kubernetes import client

    return client.CoreV1Api(kube_api(state))


def _answering(check: Callable[[], bool]) -> bool:
    """A probe through the API that fails while the server is not there yet counts as no."""
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return check()
    except (ApiException, HTTPError, OSError):
        return False


def logged(marker: str) -> Callable[[LabState, processes.Process], bool]:
    """Ready once this start of the process has logged ``marker``."""
    return lambda _state, process: marker in processes.log_since_start(process)


def _api_ready(state: LabState, _process) -> bool:
    return controlplane.api_ready(state.ports["kube-apiserver"], state.api_token, state.paths.pki / "apiserver.crt")


def _nodes_ready(state: LabState, _process) -> bool:
    expected = [node.name for node in state.shape.nodes]
    return _answering(lambda: not cluster.nodes_not_ready(_core(state), expected))


def _default_service_account(state: LabState, _process) -> bool:
    return _answering(lambda: cluster.has_default_service_account(_core(state)))


def _openstack_ready(state: LabState, _process) -> bool:
    written = state.paths.openstack_state / "clouds.yaml"
    return written.exists() and controlplane.http_answers(f"http://127.0.0.1:{state.ports['openstack']}/identity")


# --------------------------------------------------------------------------- set-up steps

def _write_credentials(state: LabState) -> None:
    state.api_token = controlplane.write_credentials(state.paths)
    controlplane.write_kubeconfig(state.paths, state.ports["kube-apiserver"], state.api_token)


def _create_cluster_shape(state: LabState) -> None:
    cluster.create_shape(kube_api(state), state.shape)


def _link_clouds_yaml(state: LabState) -> None:
    link = state.paths.clouds_yaml
    if not link.is_symlink():
        link.symlink_to(state.paths.openstack_state / "clouds.yaml")


# --------------------------------------------------------------------------- the parts

def _bin(state: LabState) -> Path:
    return Path(state.bin_dir)


def _delays(state: LabState) -> list[str]:
    return ["--profile", state.profile, "--delay-scale", f"{state.delay_scale:g}"]


def _double(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"lab.{module}", *args]


def _cloud(state: LabState) -> list[str]:
    return ["--clouds-yaml", str(state.paths.clouds_yaml), "--cloud", ADMIN_CLOUD]


PARTS: tuple[Part, ...] = (
    Part("etcd", lambda s: controlplane.etcd_argv(_bin(s), s.paths, s.ports["etcd"], s.ports["etcd-peer"]),
         ports=("etcd", "etcd-peer"), what="etcd's /health", timeout=30,
         ready=lambda s, _p: controlplane.etcd_healthy(s.ports["etcd"])),
    Part("kube-apiserver",
         lambda s: controlplane.apiserver_argv(_bin(s), s.paths, s.ports["kube-apiserver"], s.ports["etcd"]),
         needs=("etcd",), ports=("kube-apiserver",), what="the API server's /readyz", timeout=90,
         ready=_api_ready, prepare=_write_credentials, settle=_create_cluster_shape),
    Part("kube-controller-manager", lambda s: controlplane.controller_manager_argv(_bin(s), s.paths),
         needs=("kube-apiserver",), what="the default ServiceAccount", ready=_default_service_account),
    Part("kube-scheduler", lambda s: controlplane.scheduler_argv(_bin(s), s.paths), needs=("kube-apiserver",)),
    Part("kwok", lambda s: controlplane.kwok_argv(_bin(s), s.paths, s.ports["kwok"]),
         needs=("kube-apiserver",), ports=("kwok",), what="the article's nodes Ready", ready=_nodes_ready,
         prepare=lambda s: controlplane.write_node_stages(_bin(s), s.paths)),
    Part("openstack", lambda s: _double("openstack", "--port", str(s.ports["openstack"]),
                                        "--state-dir", str(s.paths.openstack_state), *_delays(s)),
         ports=("openstack",), what="the OpenStack APIs and their clouds.yaml", timeout=30,
         ready=_openstack_ready, settle=_link_clouds_yaml),
    Part("cinder-csi", lambda s: _double("cinder_csi", "--kubeconfig", str(s.paths.kubeconfig), *_cloud(s),
                                         *_delays(s)),
         # kube-controller-manager binds its volumes and asks for their attachments.
         needs=("kube-apiserver", "kube-controller-manager", "openstack"), what="its caches synced",
         ready=logged("caches synced")),
    Part("kubelet", lambda s: _double("kubelet", "--kubeconfig", str(s.paths.kubeconfig), *_delays(s)),
         # Its pods are the scheduler's bindings to KWOK's nodes.
         needs=("kube-apiserver", "kube-scheduler", "kwok"), what="its caches synced",
         ready=logged("caches synced")),
    Part("kube-proxy", lambda s: _double("kube_proxy", "--kubeconfig", str(s.paths.kubeconfig)),
         needs=("kube-apiserver",), what="its start", ready=logged("double started")),
    Part("cloud-controller", lambda s: _double("cloud_controller", "--kubeconfig", str(s.paths.kubeconfig),
                                               *_cloud(s), "--cluster-name", controlplane.CLUSTER_NAME),
         needs=("kube-apiserver", "openstack"), what="its start", ready=logged("double started")),
)
BY_NAME: dict[str, Part] = {part.name: part for part in PARTS}
ALL: tuple[str, ...] = tuple(BY_NAME)
CONTROL_PLANE: tuple[str, ...] = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def part(name: str) -> Part:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"no lab part {name!r}; the parts: {', '.join(ALL)}") from None


def resolve(wanted: Iterable[str]) -> tuple[str, ...]:
    """The wanted parts with everything they need, in start order."""
    chosen: set[str] = set()
    pending = list(wanted)
    while pending:
        name = pending.pop()
        if name not in chosen:
            chosen.add(name)
            pending.extend(part(name).needs)
    return tuple(name for name in ALL if name in chosen)


def ports_of(names: Iterable[str]) -> tuple[str, ...]:
    """The names of the ports these parts listen on."""
    return tuple(port for name in names for port in part(name).ports)


def argv_of(name: str, state: LabState) -> list[str]:
    """The part's command line in this lab: its declaration plus the caller's extra arguments."""
    return [*part(name).argv(state), *state.extra_args.get(name, [])]
