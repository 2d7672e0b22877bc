"""The real Kubernetes control plane of the lab: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK, each a child process on loopback (the shape of controller-runtime's
envtest).

Authentication is one static token of a ``system:masters`` user; the API server serves its
self-signed certificate, which the kubeconfig trusts. Nothing listens off loopback.
"""
from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from policy.devstack_domain import DEFAULT_CLUSTER_NAME

# Not routed anywhere: Service ClusterIPs are allocated from it, nothing is sent to them.
SERVICE_CIDR = "10.96.0.0/16"
# The controllers' --cluster-name: the cloud controller's default, so the shipped stacks need no
# `clusterName`, as on a Devstack whose cloud controller runs with its defaults.
CLUSTER_NAME = DEFAULT_CLUSTER_NAME


class LabError(RuntimeError):
    """A part of the lab failed: names the part and shows its log's last lines."""


@dataclass(frozen=True)
class Paths:
    """Where one lab keeps its state; everything below ``root`` goes away on `down`."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def kwok_stages(self) -> Path:
        return self.root / "kwok-node-stages.yaml"

    @property
    def openstack_state(self) -> Path:
        """The OpenStack double's folder; it writes its users' clouds.yaml there."""
        return self.root / "openstack"

    @property
    def clouds_yaml(self) -> Path:
        """Devstack's clouds.yaml of the lab (a link to the one the OpenStack double writes)."""
        return self.root / "clouds.yaml"

    @property
    def pulumi_state(self) -> Path:
        return self.root / "pulumi-state"

    @property
    def bin(self) -> Path:
        """What the lab's PATH adds: pulumi and kubectl, never the provider plugins."""
        return self.root / "bin"


def binary(bin_dir: Path, name: str) -> str:
    path = bin_dir / name
    if not os.access(path, os.X_OK):
        raise LabError(f"{name} not found in {bin_dir}: build the tools first (scripts/tools)")
    return str(path)


def write_credentials(paths: Paths) -> str:
    """Service-account signing key pair and the admin token file; returns the token."""
    paths.pki.mkdir(parents=True, exist_ok=True)
    key, pub = paths.pki / "sa.key", paths.pki / "sa.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    token = secrets.token_hex(24)
    tokens = paths.pki / "tokens.csv"
    tokens.write_text(f'{token},lab-admin,lab-admin,"system:masters"\n')
    tokens.chmod(0o600)
    return token


def write_kubeconfig(paths: Paths, api_port: int, token: str) -> None:
    paths.kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:{api_port}
    certificate-authority: {paths.pki / 'apiserver.crt'}
users:
- name: lab-admin
  user:
    token: {token}
contexts:
- name: lab
  context:
    cluster: lab
    user: lab-admin
    namespace: default
current-context: lab
""")
    paths.kubeconfig.chmod(0o600)


def etcd_argv(bin_dir: Path, paths: Paths, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [binary(bin_dir, "etcd"), "--name=lab", f"--data-dir={paths.etcd_data}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=lab={peer}", "--listen-metrics-urls=",
            # A throwaway lab: durability is not worth the fsync latency on a shared disk.
            "--unsafe-no-fsync", "--log-level=warn"]


def apiserver_argv(bin_dir: Path, paths: Paths, api_port: int, etcd_port: int) -> list[str]:
    return [binary(bin_dir, "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}",
            # The `kubernetes` Service endpoints would need a non-loopback address; nothing in
            # the lab uses them, so the reconciler is off and loopback is advertised.
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--cert-dir={paths.pki}", f"--token-auth-file={paths.pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={paths.pki / 'sa.pub'}",
            f"--service-account-signing-key-file={paths.pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--v=0"]


def controller_manager_argv(bin_dir: Path, paths: Paths) -> list[str]:
    return [binary(bin_dir, "kube-controller-manager"),
            f"--kubeconfig={paths.kubeconfig}", "--leader-elect=false", "--secure-port=0",
            f"--cluster-name={CLUSTER_NAME}",
            f"--service-account-private-key-file={paths.pki / 'sa.key'}",
            f"--root-ca-file={paths.pki / 'apiserver.crt'}",
            "--use-service-account-credentials=false", "--v=0"]


def scheduler_argv(bin_dir: Path, paths: Paths) -> list[str]:
    return [binary(bin_dir, "kube-scheduler"), f"--kubeconfig={paths.kubeconfig}",
            "--leader-elect=false", "--secure-port=0", "--v=0"]


def write_node_stages(bin_dir: Path, paths: Paths) -> Path:
    """KWOK's default stages for Nodes only: KWOK plays the nodes' heartbeats, the kubelet
    double (lab/kubelet.py) plays the pods, whose readiness depends on their volumes."""
    documents = (bin_dir / "kwok-stages.yaml").read_text().split("\n---\n")
    kept = [doc for doc in documents if "kind: Node" in doc]
    if not kept:
        raise LabError(f"no Node stages in {bin_dir / 'kwok-stages.yaml'}")
    paths.kwok_stages.write_text("\n---\n".join(kept) + "\n")
    return paths.kwok_stages


def kwok_argv(bin_dir: Path, paths: Paths, server_port: int) -> list[str]:
    return [binary(bin_dir, "kwok"), f"--kubeconfig={paths.kubeconfig}",
            f"--config={paths.kwok_stages}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            # The heartbeat stage renews node status every few minutes only and relies on
            # Leases (as kubelets do); without them the node lifecycle controller marks the
            # nodes NotReady after 40 s and every pod on them with it.
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{server_port}"]


def api_ready(api_port: int, token: str, ca_file: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file.exists() else None
    if context is None:
        return False
    request = urllib.request.Request(f"https://127.0.0.1:{api_port}/readyz",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return b'"health":"true"' in response.read().replace(b" ", b"")
    except OSError:
        return False


def http_answers(url: str) -> bool:
    """Any HTTP answer, error status included: the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
