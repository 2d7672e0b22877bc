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
import sys
from pathlib import Path

from lab import processes
from lab.controlplane import LabError
from lab.environment import Lab, LabRunning

DEFAULT_DIR = Path("/tmp/devstack-k8s-apps-lab")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def up(root: Path, profile: str = "fast", delay_scale: float = 1.0) -> int:
    lab = Lab(root, profile=profile, delay_scale=delay_scale, progress=say)
    try:
        lab.start()
    except LabRunning as error:
        say(f"lab: {error}")
        return 1
    except LabError as error:
        say(f"lab: {error}\nlab: stopped what had started; nothing is left running")
        return 1
    say('lab: use it with: eval "$(scripts/lab env)"')
    return 0


def env(root: Path) -> int:
    lab = Lab.attach(root)
    if lab is None or not lab.running():
        say(f"lab: no lab runs in {root}; `scripts/lab up` first")
        return 1
    print("\n".join(lab.env_lines()))
    return 0


def status(root: Path) -> int:
    lab = Lab.attach(root)
    if lab is None:
        print(f"lab: no lab in {root}")
        return 1
    all_up = True
    for process in lab.state.processes:
        up_now = processes.alive(process)
        all_up &= up_now
        print(f"{process.name:24} pid {process.pid:<8} {'running' if up_now else 'STOPPED'}")
    missing = [name for name in lab.state.parts if all(p.name != name for p in lab.state.processes)]
    for name in missing:
        print(f"{name:24} {'':12} STOPPED")
    api_port = lab.state.ports.get("kube-apiserver")
    print(f"{'api':24} https://127.0.0.1:{api_port}  kubeconfig {lab.paths.kubeconfig}")
    return 0 if all_up and not missing else 1


def down(root: Path) -> int:
    lab = Lab.attach(root, progress=say)
    if lab is None and not root.exists():
        say(f"lab: nothing to stop in {root}")
        return 0
    (lab or Lab(root, progress=say)).stop()
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
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"state folder (default $DEVSTACK_LAB_DIR or {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    root = (args.dir or Path(os.environ.get("DEVSTACK_LAB_DIR", DEFAULT_DIR))).resolve()
    try:
        if args.command == "up":
            return up(root, args.profile, args.delay_scale)
        return {"env": env, "status": status, "down": down}[args.command](root)
    except LabError as error:
        say(f"lab: {error}")
        return 1


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
