"""The lab as a library, in the manner of controller-runtime's envtest.

    with Lab(tmp_path / "lab", parts=[*CONTROL_PLANE, "openstack", "cinder-csi"]) as lab:
        api = lab.kube_api()
        lab.restart("cinder-csi", extra_args=["--verbose"])

``Lab.start()`` starts the chosen parts (lab/parts.py; what they need comes with them) as
background processes, each once the parts it needs are ready, and returns when all are ready.
Everything the lab is (paths, ports, pids, address block, Pulumi passphrase) is one ``LabState``,
saved to ``<root>/lab.json`` after every change, so `scripts/lab status|env|down` in another
process load it (``Lab.attach``). ``stop()`` stops exactly what was started, by pid, releases
the address block and removes the folder.

Pulumi: the lab owns a PULUMI_HOME per tool set (beside the set's bin folder) into which
``start()`` installs the built provider plugins as Pulumi installs a local binary
(`pulumi plugin install resource NAME VERSION --file BINARY`), so the CLI finds them in its
plugin cache, offline, and ``env()`` keeps the plugin binaries off PATH (the CLI warns about
every plugin it takes from $PATH).
"""
from __future__ import annotations

import fcntl
import math
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from lab import parts as lab_parts
from lab import processes
from lab.cluster import ClusterShape, environment_of
from lab.controlplane import LabError, Paths
from lab.ports import free_port, wait_until
from lab.state import LabState, load, save
from toolchain import versions

REPO = Path(__file__).resolve().parent.parent
STATE_FILE = "lab.json"
# The provider plugins the program's SDKs drive: (plugin name, version); the binary in the tool
# set's bin folder is pulumi-resource-<name>.
PROVIDER_PLUGINS = (("kubernetes", versions.KUBERNETES_PROVIDER_VERSION),
                    ("openstack", versions.OPENSTACK_PROVIDER_VERSION))
# What the lab's PATH gets from the tool set: the article's clients, never a plugin.
PATH_TOOLS = ("pulumi", "kubectl")


def pick_ports(names: Iterable[str]) -> dict[str, int]:
    """A free port per name, no two alike (the OS may hand a just-released port out again)."""
    picked: dict[str, int] = {}
    for name in names:
        port = free_port()
        while port in picked.values():
            port = free_port()
        picked[name] = port
    return picked


def check_delay_scale(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"delay scale {value!r} must be a finite number above 0")
    return value


# --------------------------------------------------------------------------- environment

def env_values(state: LabState, inherited_path: str = "") -> dict[str, str]:
    """The variables `eval "$(scripts/lab env)"` sets, KUBECONFIG first.

    PATH: the lab's bin folder (pulumi, kubectl), the virtualenv's (the openstack client), then
    ``inherited_path``; the provider plugins come from PULUMI_HOME's plugin cache.
    """
    paths = state.paths
    search = [str(paths.bin), str(Path(sys.executable).parent)]
    return {
        "KUBECONFIG": str(paths.kubeconfig),
        "PATH": ":".join([*search, *([inherited_path] if inherited_path else [])]),
        "PULUMI_HOME": str(state.pulumi_home),
        "PULUMI_BACKEND_URL": f"file://{paths.pulumi_state}",
        "PULUMI_CONFIG_PASSPHRASE": state.pulumi_passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # Devstack's clouds.yaml entries (devstack, devstack-admin); the article's own
        # `openstack ...` commands run as admin, as after `source openrc admin admin`.
        "OS_CLIENT_CONFIG_FILE": str(paths.clouds_yaml),
        "OS_CLOUD": lab_parts.ADMIN_CLOUD,
    }


def export_lines(values: Mapping[str, str]) -> list[str]:
    return [f"export {key}={shlex.quote(value)}" for key, value in values.items()]


# --------------------------------------------------------------------------- Pulumi plugins

def pulumi_home_for(bin_dir: Path) -> Path:
    """One PULUMI_HOME per tool set: its plugins are the set's binaries."""
    return bin_dir.parent / "pulumi-home"


def plugin_install_argv(bin_dir: Path, name: str, version: str) -> list[str]:
    """Pulumi's own install of a local plugin binary; --exact: a present one is kept as it is."""
    return [str(bin_dir / "pulumi"), "plugin", "install", "resource", name, version,
            "--file", str(bin_dir / f"pulumi-resource-{name}"), "--exact"]


def install_provider_plugins(bin_dir: Path, pulumi_home: Path) -> None:
    """Install the set's provider plugins into ``pulumi_home`` (once; labs share it)."""
    pulumi_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PULUMI_HOME": str(pulumi_home), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    with open(pulumi_home / ".lab-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # labs starting at once install one copy
        for name, version in PROVIDER_PLUGINS:
            result = subprocess.run(plugin_install_argv(bin_dir, name, version), env=env,
                                    capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                raise LabError(f"pulumi plugin install resource {name} {version} failed:\n"
                               f"{result.stderr[-2000:]}")


def lab_passphrase(pulumi_home: Path) -> str:
    """The Pulumi passphrase every lab of this tool set uses, made once and kept in its home.

    Creating a stack writes an ``encryptionsalt`` made from the passphrase into the project's
    stack file; with one passphrase per lab, the next lab would refuse that file ("incorrect
    passphrase"). The lab's stacks hold no secret worth more than the lab itself.
    """
    pulumi_home.mkdir(parents=True, exist_ok=True)
    path = pulumi_home / "lab-passphrase"
    try:
        with open(path, "x") as fresh:  # the first lab makes it; the others read it
            os.chmod(path, 0o600)
            fresh.write(secrets.token_hex(16))
    except FileExistsError:
        pass
    return path.read_text().strip()


def link_path_tools(bin_dir: Path, target: Path) -> None:
    """Links to the set's clients (pulumi, kubectl) in the lab's own bin folder."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PATH_TOOLS:
        if (bin_dir / name).exists() and not (target / name).is_symlink():
            (target / name).symlink_to(bin_dir / name)


def tools_bin() -> Path:
    """The pinned tools' folder, built first if missing (scripts/tools prints it last)."""
    result = subprocess.run([sys.executable, "-m", "toolchain.build"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise LabError("the tools did not build: see the messages above")
    return Path(result.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the lab

class LabRunning(LabError):
    """A lab already runs in the folder."""


class Lab:
    """One lab in ``root``: ``start()``, ``env()``, ``restart(part)``, ``stop_part(part)``, ``stop()``.

    parts: the parts wanted (lab/parts.py names; default all), what they need comes with them.
    profile, delay_scale: the doubles' delays (lab/profiles.py). extra_args: {part: arguments}
    appended to its command line (a later flag replaces an earlier one). bin_dir: the tool set
    (default: built or reused by scripts/tools). progress: called with one line per step.
    """

    def __init__(self, root: Path, parts: Iterable[str] = lab_parts.ALL, profile: str = "fast",
                 delay_scale: float = 1.0, extra_args: Mapping[str, Iterable[str]] | None = None,
                 bin_dir: Path | None = None, progress: Callable[[str], None] | None = None):
        self.root = Path(root).resolve()
        self.parts = lab_parts.resolve(parts)
        self.profile = profile
        self.delay_scale = check_delay_scale(delay_scale)
        self.extra_args = {name: list(args) for name, args in (extra_args or {}).items()}
        unknown = sorted(set(self.extra_args) - set(self.parts))
        if unknown:
            raise ValueError(f"extra arguments for parts the lab does not run: {', '.join(unknown)}")
        self.bin_dir = bin_dir
        self._progress = progress or (lambda _line: None)
        self._started = time.monotonic()
        self.state: LabState | None = None

    @classmethod
    def attach(cls, root: Path, progress: Callable[[str], None] | None = None) -> Lab | None:
        """The lab whose state is saved in ``root`` (started by another process), or None."""
        state = load(Path(root).resolve())
        if state is None:
            return None
        lab = cls(state.root, parts=state.parts, profile=state.profile, delay_scale=state.delay_scale,
                  extra_args=state.extra_args, bin_dir=state.bin_dir, progress=progress)
        lab.state = state
        return lab

    # ---- life cycle

    def start(self) -> Lab:
        """Start every part, each once what it needs is ready; return when all are ready.

        On failure everything started is stopped, the folder removed, and a LabError names the
        part with its log's last lines.
        """
        earlier = self.state or load(self.root)
        alive = [p for p in earlier.processes if processes.alive(p)] if earlier else []
        if alive:
            running = ", ".join(f"{p.name} {p.pid}" for p in alive)
            raise LabRunning(f"already running in {self.root} ({running}); `scripts/lab down` first")
        self._started = time.monotonic()
        bin_dir = Path(self.bin_dir) if self.bin_dir else tools_bin()
        self._say(f"tools in {bin_dir}")
        if self.root.exists():
            shutil.rmtree(self.root)  # a stale folder from a lab that died
        self.root.mkdir(parents=True)
        self.state = None
        try:
            block = processes.claim_address_block(self.root, STATE_FILE)
            pulumi_home = pulumi_home_for(bin_dir)
            self.state = LabState(root=self.root, bin_dir=bin_dir, pulumi_home=pulumi_home,
                                  profile=self.profile, delay_scale=self.delay_scale, address_block=block,
                                  pulumi_passphrase=lab_passphrase(pulumi_home), parts=self.parts,
                                  extra_args=self.extra_args, ports=pick_ports(lab_parts.ports_of(self.parts)))
            save(self.state)
            self._prepare_pulumi()
            ready: set[str] = set()
            for name in self.parts:
                for need in lab_parts.part(name).needs:
                    self._await_ready(need, ready)
                self._launch(name)
            for name in self.parts:
                self._await_ready(name, ready)
        except BaseException as error:
            self._tear_down()
            if isinstance(error, (TimeoutError, RuntimeError, OSError)) and not isinstance(error, LabError):
                raise LabError(str(error)) from error
            raise
        nodes = ", ".join(f"{n.name} {n.ip}" for n in self.state.shape.nodes)
        self._say(f"ready: {nodes}")
        return self

    def stop(self) -> None:
        """Stop what was started, by pid, last first; release the address block; remove the folder."""
        if self.state is None:
            self.state = load(self.root)
        self._tear_down(verbose=True)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # ---- parts

    def process(self, name: str) -> processes.Process:
        return self._state().process(name)

    def running(self) -> list[processes.Process]:
        return [p for p in self._state().processes if processes.alive(p)]

    def stop_part(self, name: str) -> int | None:
        """Stop one part (a fault: the rest runs on). Its exit code when this process started it."""
        state = self._state()
        process = state.process(name)
        code = processes.stop(process)
        state.processes.remove(process)
        save(state)
        self._say(f"stopped {name} (pid {process.pid}, exit {code})")
        return code

    def restart(self, name: str, extra_args: Iterable[str] | None = None) -> processes.Process:
        """Stop the part if it runs, start it again (with ``extra_args`` from now on, if given)
        and wait until it is ready. Returns the new process."""
        state = self._state()
        if name not in state.parts:
            raise ValueError(f"the lab runs no part {name!r}; it runs {', '.join(state.parts)}")
        if extra_args is not None:
            state.extra_args[name] = list(extra_args)
        if any(p.name == name for p in state.processes):
            self.stop_part(name)
        process = self._launch(name)
        self._wait(name, process)
        return process

    # ---- what others use

    def env(self, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
        """``inherited`` (default os.environ) with what `eval "$(scripts/lab env)"` sets."""
        base = dict(os.environ if inherited is None else inherited)
        return {**base, **env_values(self._state(), base.get("PATH", ""))}

    def env_lines(self) -> list[str]:
        return export_lines(env_values(self._state(), os.environ.get("PATH", "")))

    def kube_api(self):
        return lab_parts.kube_api(self._state())

    @property
    def shape(self) -> ClusterShape:
        return self._state().shape

    @property
    def paths(self) -> Paths:
        return Paths(self.root)

    # ---- inside

    def _state(self) -> LabState:
        if self.state is None:
            raise LabError(f"no lab runs in {self.root}; start() it first")
        return self.state

    def _say(self, message: str) -> None:
        self._progress(f"[lab {time.monotonic() - self._started:5.1f} s] {message}")

    def _prepare_pulumi(self) -> None:
        state = self._state()
        install_provider_plugins(state.bin_dir, state.pulumi_home)
        link_path_tools(state.bin_dir, state.paths.bin)
        state.paths.pulumi_state.mkdir(exist_ok=True)
        self._say(f"provider plugins installed in PULUMI_HOME {state.pulumi_home}")

    def _launch(self, name: str) -> processes.Process:
        state = self._state()
        declared = lab_parts.part(name)
        if declared.prepare is not None and not any(p.name == name for p in state.processes):
            declared.prepare(state)
        env = {**os.environ, **environment_of(state.shape)}
        process = processes.start(name, lab_parts.argv_of(name, state), state.paths.logs, env=env, cwd=REPO)
        state.processes.append(process)
        save(state)
        self._say(f"{name} started (pid {process.pid})")
        return process

    def _await_ready(self, name: str, ready: set[str]) -> None:
        """Wait for a part started by start(), then its settle step, once."""
        if name in ready:
            return
        state = self._state()
        self._wait(name, state.process(name))
        declared = lab_parts.part(name)
        if declared.settle is not None:
            declared.settle(state)
        ready.add(name)

    def _wait(self, name: str, process: processes.Process) -> None:
        declared = lab_parts.part(name)
        state = self._state()

        def died() -> str | None:
            dead = [p for p in state.processes if not processes.alive(p)]
            return "; ".join(f"{p.name} exited:\n{processes.log_tail(p)}" for p in dead) or None

        if declared.ready is not None:
            try:
                wait_until(f"{name}: {declared.what}", lambda: declared.ready(state, process), declared.timeout,
                           still_worth_waiting=died)
            except TimeoutError as error:
                raise LabError(f"{error}\n--- {name}:\n{processes.log_tail(process, 10)}") from None
        elif reason := died():
            raise LabError(reason)
        self._say(f"{name} ready")

    def _tear_down(self, verbose: bool = False) -> None:
        state = self.state
        if state is not None:
            for process in reversed(state.processes):
                code = processes.stop(process)
                if verbose:
                    self._progress(f"stopped {process.name} (pid {process.pid}"
                                   + (f", exit {code})" if code is not None else ")"))
            state.processes.clear()
            processes.release_address_block(state.address_block, state.root)
        shutil.rmtree(self.root, ignore_errors=True)
