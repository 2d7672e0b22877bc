"""scripts/lab: start, describe and stop the lab.

    scripts/lab up       start everything in the background; returns when the cluster is ready
    scripts/lab env      print the export lines that point kubectl, Pulumi and the README at it
    scripts/lab status   each part, its pid and whether it runs
    scripts/lab down     stop exactly what `up` started, by pid, and remove the state folder

The state folder is $DEVSTACK_LAB_DIR, else /tmp/devstack-k8s-apps-lab (or --dir).
"""
from __future__ import annotations

import argparse
import math
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lab import controlplane, processes
from lab.cluster import ClusterShape
from lab.controlplane import LabError, Paths

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = Path("/tmp/devstack-k8s-apps-lab")


def progress(started: float, message: str) -> None:
    print(f"[lab {time.monotonic() - started:5.1f} s] {message}", file=sys.stderr, flush=True)


def tools_bin() -> Path:
    """The pinned tools' folder, built first if missing (scripts/tools prints it last)."""
    result = subprocess.run([sys.executable, "-m", "toolchain.build"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise LabError("the tools did not build: see the messages above")
    return Path(result.stdout.strip().splitlines()[-1])


def load_state(paths: Paths) -> dict | None:
    import json

    if not paths.state_file.exists():
        return None
    return json.loads(paths.state_file.read_text())


def running(state: dict | None) -> list[processes.Process]:
    return [p for p in processes.processes_of(state or {}) if processes.alive(p)]


def up(paths: Paths, profile: str = "fast", delay_scale: float = 1.0) -> int:
    started = time.monotonic()
    state = load_state(paths)
    alive = running(state)
    if alive:
        pids = ", ".join(f"{p.name} {p.pid}" for p in alive)
        print(f"lab: already running in {paths.root} ({pids}); `scripts/lab down` first",
              file=sys.stderr)
        return 1
    if paths.root.exists():
        shutil.rmtree(paths.root)  # a stale folder from a lab that died
    paths.root.mkdir(parents=True)

    bin_dir = tools_bin()
    progress(started, f"tools in {bin_dir}")
    block = processes.claim_address_block(paths.root)
    # Every part started from here on (and lab.cluster below) uses this block's addresses.
    os.environ["DEVSTACK_LAB_ADDRESS_BLOCK"] = block
    state = {"bin_dir": str(bin_dir), "processes": [], "profile": profile, "address_block": block,
             "delay_scale": delay_scale, "pulumi_passphrase": secrets.token_hex(16)}
    try:
        _start_control_plane(paths, bin_dir, state, started)
        _start_doubles(paths, state, started)
    except BaseException as error:
        for process in reversed(processes.processes_of(state)):
            processes.stop(process)
        shutil.rmtree(paths.root, ignore_errors=True)
        processes.release_address_block(block, paths.root)
        if isinstance(error, (LabError, TimeoutError, OSError)):
            print(f"lab: {error}\nlab: stopped what had started; nothing is left running",
                  file=sys.stderr)
            return 1
        raise
    progress(started, f"ready: {', '.join(f'{n.name} {n.ip}' for n in ClusterShape(block).nodes)}; "
                      f'use it with: eval "$(scripts/lab env)"')
    return 0


def _start_control_plane(paths: Paths, bin_dir: Path, state: dict, started: float) -> None:
    from kubernetes import config as kube_config

    from lab import cluster

    def launch(name: str, argv: list[str]) -> processes.Process:
        return _launch(paths, state, name, argv)

    token = controlplane.write_credentials(paths)
    ports = {"etcd": processes.free_port(), "etcd_peer": processes.free_port(),
             "apiserver": processes.free_port(), "kwok": processes.free_port()}
    state["ports"] = ports

    etcd = launch("etcd", controlplane.etcd_argv(bin_dir, paths, ports["etcd"], ports["etcd_peer"]))
    controlplane.wait_for("etcd health", lambda: controlplane.etcd_healthy(ports["etcd"]), [etcd], 30)
    progress(started, f"etcd on 127.0.0.1:{ports['etcd']} (pid {etcd.pid})")

    apiserver = launch("kube-apiserver",
                       controlplane.apiserver_argv(bin_dir, paths, ports["apiserver"], ports["etcd"]))
    controlplane.write_kubeconfig(paths, ports["apiserver"], token)
    controlplane.wait_for(
        "the API server's /readyz",
        lambda: controlplane.api_ready(ports["apiserver"], token, paths.pki / "apiserver.crt"),
        [etcd, apiserver], 90)
    progress(started, f"kube-apiserver on https://127.0.0.1:{ports['apiserver']} (pid {apiserver.pid})")

    for name, argv in (("kube-controller-manager", controlplane.controller_manager_argv(bin_dir, paths)),
                       ("kube-scheduler", controlplane.scheduler_argv(bin_dir, paths)),
                       ("kwok", controlplane.kwok_argv(bin_dir, paths, ports["kwok"]))):
        process = launch(name, argv)
        progress(started, f"{name} started (pid {process.pid})")

    api = kube_config.new_client_from_config(config_file=str(paths.kubeconfig))
    cluster.create_shape(api, ClusterShape(state["address_block"]))
    waiting: list[str] = []

    def ready() -> bool:
        waiting[:] = cluster.not_ready(api)
        return not waiting

    controlplane.wait_for("the nodes and the default ServiceAccount", ready,
                          processes.processes_of(state), 60)


def _start_doubles(paths: Paths, state: dict, started: float) -> None:
    """The doubles of what cannot run here: the OpenStack APIs (with haproxy amphorae), the
    Cinder CSI driver, the cloud controller, the kubelets' containers and kube-proxy."""
    python = sys.executable
    kubeconfig = str(paths.kubeconfig)
    clouds = paths.root / "clouds.yaml"
    delays = ["--profile", state["profile"], "--delay-scale", str(state["delay_scale"])]
    port = state["ports"]["openstack"] = processes.free_port()
    api = _launch(paths, state, "openstack", [python, "-m", "lab.openstack", "--port", str(port),
                                             "--state-dir", str(paths.root / "openstack"), *delays])
    base = f"http://127.0.0.1:{port}"
    written = paths.root / "openstack" / "clouds.yaml"  # the double writes its users' entries
    controlplane.wait_for("the OpenStack APIs",
                          lambda: written.exists() and controlplane.http_answers(f"{base}/identity"), [api], 30)
    clouds.symlink_to(written)
    progress(started, f"OpenStack APIs on {base} (pid {api.pid}); clouds.yaml {clouds}")
    cloud = ["--clouds-yaml", str(clouds), "--cloud", "devstack-admin"]
    for name, argv in (
        ("cinder-csi", ["-m", "lab.cinder_csi", "--kubeconfig", kubeconfig, *cloud, *delays]),
        ("kubelet", ["-m", "lab.kubelet", "--kubeconfig", kubeconfig, *delays]),
        ("kube-proxy", ["-m", "lab.kube_proxy", "--kubeconfig", kubeconfig]),
        ("cloud-controller", ["-m", "lab.cloud_controller", "--kubeconfig", kubeconfig, *cloud,
                              "--cluster-name", controlplane.CLUSTER_NAME]),
    ):
        process = _launch(paths, state, name, [python, *argv])
        progress(started, f"{name} started (pid {process.pid})")


def _launch(paths: Paths, state: dict, name: str, argv: list[str]) -> processes.Process:
    process = processes.start(name, argv, paths.logs, cwd=REPO)
    state["processes"].append(processes.as_records([process])[0])
    processes.save(paths.state_file, state)
    return process


def env_lines(paths: Paths, state: dict) -> list[str]:
    """The export lines; KUBECONFIG first."""
    values = {
        "KUBECONFIG": str(paths.kubeconfig),
        "PATH": f"{state['bin_dir']}:{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{paths.root / 'pulumi-state'}",
        "PULUMI_CONFIG_PASSPHRASE": state["pulumi_passphrase"],
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # Devstack's clouds.yaml entries (devstack, devstack-admin); the article's own
        # `openstack ...` commands run as admin, as after `source openrc admin admin`.
        "OS_CLIENT_CONFIG_FILE": str(paths.root / "clouds.yaml"),
        "OS_CLOUD": "devstack-admin",
    }
    (paths.root / "pulumi-state").mkdir(exist_ok=True)
    return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


def env(paths: Paths) -> int:
    state = load_state(paths)
    if not running(state):
        print(f"lab: no lab runs in {paths.root}; `scripts/lab up` first", file=sys.stderr)
        return 1
    print("\n".join(env_lines(paths, state)))
    return 0


def status(paths: Paths) -> int:
    state = load_state(paths)
    if state is None:
        print(f"lab: no lab in {paths.root}")
        return 1
    ports = state.get("ports", {})
    all_up = True
    for process in processes.processes_of(state):
        up_now = processes.alive(process)
        all_up &= up_now
        print(f"{process.name:24} pid {process.pid:<8} {'running' if up_now else 'STOPPED'}")
    print(f"{'api':24} https://127.0.0.1:{ports.get('apiserver')}  kubeconfig {paths.kubeconfig}")
    return 0 if all_up else 1


def down(paths: Paths) -> int:
    state = load_state(paths)
    if state is None and not paths.root.exists():
        print(f"lab: nothing to stop in {paths.root}", file=sys.stderr)
        return 0
    for process in reversed(processes.processes_of(state or {})):
        processes.stop(process)
        print(f"stopped {process.name} (pid {process.pid})", file=sys.stderr)
    shutil.rmtree(paths.root, ignore_errors=True)
    if state and state.get("address_block"):
        processes.release_address_block(state["address_block"], paths.root)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lab", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("command", choices=["up", "env", "status", "down"])
    parser.add_argument("--profile", choices=["fast", "devstack"], default="fast",
                        help="delays of the doubles (up): fast (default) or Devstack-like "
                             "(volume create/delete ~20 s, amphora boot ~4 min, pod start ~90 s)")
    parser.add_argument("--delay-scale", type=_positive_finite, default=1.0,
                        help="multiply every delay of the profile (up; default 1)")
    parser.add_argument("--dir", type=Path,
                        default=Path(os.environ.get("DEVSTACK_LAB_DIR", DEFAULT_DIR)),
                        help="state folder (default $DEVSTACK_LAB_DIR or %(default)s)")
    args = parser.parse_args(argv)
    paths = Paths(args.dir.resolve())
    if args.command == "up":
        return up(paths, args.profile, args.delay_scale)
    return {"env": env, "status": status, "down": down}[args.command](paths)


def _positive_finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


if __name__ == "__main__":
    sys.exit(main())
