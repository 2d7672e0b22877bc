"""Build, or reuse, the pinned Go tools into a cache outside the checkout.

    python3 -m toolchain.build            (scripts/tools calls this)

Each tool of versions.TOOLS is built from its wrapper module under gomod/ into
``<cache>/<tool>-<key>/``, where the key hashes the wrapper's files and the build recipe,
so a second run reuses it in seconds and a version bump rebuilds only that tool. The
binaries of the current set are linked into ``<cache>/set-<key>/bin``, the last line of
standard output, so ``PATH="$(scripts/tools | tail -1):$PATH"`` works. Progress goes to
stderr, one line per step with its time; the summary table goes to stdout.

Cache folder: $DEVSTACK_TOOLS_CACHE, else ~/.cache/devstack-k8s-apps/tools. Go's own module
and build caches (GOMODCACHE, GOCACHE) stay where Go keeps them, outside the checkout too.
Only Go and the Go module proxy are used: nothing is downloaded from a project's website.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from toolchain.versions import LEGACY_POLICY_SHIM_SDK, TOOLS, Tool

REPO = Path(__file__).resolve().parent.parent
GOMOD = REPO / "gomod"
RECIPE_VERSION = "1"  # bump when the build steps change in a way the key cannot see
COMPILER_TAIL_LINES = 30
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"


class BuildError(RuntimeError):
    """A tool failed to build: names the tool and carries the compiler's last lines."""


@dataclass
class Result:
    tool: Tool
    folder: Path
    seconds: float
    reused: bool
    reported: str


def cache_root() -> Path:
    configured = os.environ.get("DEVSTACK_TOOLS_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "devstack-k8s-apps" / "tools"
    if REPO in root.resolve().parents or root.resolve() == REPO:
        raise SystemExit(f"tools: the cache {root} is inside the checkout; binaries never go there")
    return root


def go_version() -> str:
    return _run(["go", "env", "GOVERSION"], cwd=REPO).strip()


def tool_key(tool: Tool, go: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([RECIPE_VERSION, go, tool.name, tool.version, tool.packages,
                              tool.ldflags, tool.tags, tool.prepare, tool.finish]).encode())
    for path in wrapper_files(tool):
        digest.update(path.relative_to(GOMOD).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def wrapper_files(tool: Tool) -> list[Path]:
    """The wrapper module's own files: what git would commit, not generated build inputs."""
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z",
                   f"gomod/{tool.name}"], cwd=REPO)
    return sorted(REPO / name for name in listed.split("\0") if name and (REPO / name).is_file())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip().splitlines()
        tail = "\n".join(output[-COMPILER_TAIL_LINES:])
        raise BuildError(f"`{' '.join(argv)}` failed (exit {completed.returncode}):\n{tail}")
    return completed.stdout + completed.stderr


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    # -mod=mod lets go record sums the wrapper lacks; the wrapper is copied, never edited.
    env["GOFLAGS"] = " ".join(filter(None, [env.get("GOFLAGS", ""), "-mod=mod", "-trimpath"]))
    return env


def module_dir(module: str, build_dir: Path) -> Path:
    """The module cache folder of a module at the version the wrapper requires (downloaded
    first if this machine does not have it: `go list -m` alone would not download it)."""
    return _downloaded_module_dir(module, build_dir)


def _downloaded_module_dir(module: str, build_dir: Path) -> Path:
    out = _run(["go", "mod", "download", "-json", module], cwd=build_dir, env=_go_env())
    answer = json.loads(out[out.index("{"):])
    if not answer.get("Dir"):
        raise BuildError(f"`go mod download {module}` gave no folder: {answer.get('Error', answer)}")
    return Path(answer["Dir"])


# Extra steps, named by versions.Tool.prepare / finish.

def kubernetes_provider_schema(tool: Tool, build_dir: Path, out_dir: Path) -> None:
    """Generate the files main.go embeds, as upstream's generate.go does (gitignored upstream)."""
    source = module_dir("github.com/pulumi/pulumi-kubernetes/provider/v4", build_dir)
    schema = json.loads((source / "cmd/pulumi-resource-kubernetes/schema.json").read_text())
    schema["version"] = tool.version
    (build_dir / "schema-embed.json").write_text(json.dumps(schema))
    mapping = json.loads((source / "cmd/pulumi-resource-kubernetes/terraform-mapping.json").read_text())
    (build_dir / "terraform-mapping-embed.json").write_text(json.dumps(mapping))


def pulumi_python_plugins(tool: Tool, build_dir: Path, out_dir: Path) -> None:
    """Ship beside the CLI, as its releases did, the Python plugin scripts it runs from PATH.

    pulumi-resource-pulumi-python hosts dynamic providers (VolumeTypeRelease). The Python
    language host is not served by the module proxy, so policy packs take the CLI's other,
    still supported path: the analyzer plugin pulumi-analyzer-policy-python, which the SDK
    shipped until LEGACY_POLICY_SHIM_SDK (the newest served release that has it).
    """
    scripts = {
        "pulumi-resource-pulumi-python": (PULUMI_SDK, "python/dist/pulumi-resource-pulumi-python"),
        "pulumi-analyzer-policy-python": (f"github.com/pulumi/pulumi/sdk/v3@v{LEGACY_POLICY_SHIM_SDK}",
                                          "python/dist/pulumi-analyzer-policy-python"),
    }
    for name, (module, relative) in scripts.items():
        source = module_dir(module, build_dir)
        target = out_dir / name
        shutil.copyfile(source / relative, target)  # module-cache files are read-only: copy, chmod
        target.chmod(target.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def openstack_provider_schema(tool: Tool, build_dir: Path, out_dir: Path) -> None:
    """Generate the schema and bridge metadata the plugin embeds, with the module's tfgen."""
    tfgen = build_dir / "pulumi-tfgen-openstack"
    _run(["go", "build", "-o", str(tfgen), "./cmd/pulumi-tfgen-openstack"], cwd=build_dir, env=_go_env())
    generated = build_dir / "schema"
    # --skip-examples: converting the docs' HCL examples needs a pulumi CLI and adds nothing here.
    _run([str(tfgen), "schema", "--skip-examples", "--out", str(generated)], cwd=build_dir, env=_go_env())
    main_package = build_dir / "cmd" / "pulumi-resource-openstack"
    shutil.copyfile(generated / "schema.json", main_package / "schema-embed.json")
    shutil.copyfile(generated / "bridge-metadata.json", main_package / "bridge-metadata.json")


# kwok's own defaults (what kwokctl loads): nodes become Ready and keep a lease, pods become
# Ready, complete and go away. Standalone kwok has no defaults, so they ship beside it.
KWOK_DEFAULT_STAGES = ("node/fast/node-initialize.yaml",
                       "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                       "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml",
                       "pod/fast/pod-delete.yaml")


def kwok_stages(tool: Tool, build_dir: Path, out_dir: Path) -> None:
    """Ship kwok's default stages as one file, kwok-stages.yaml, for `kwok --config`."""
    source = module_dir("sigs.k8s.io/kwok", build_dir) / "kustomize/stage"
    documents = [(source / name).read_text().strip() for name in KWOK_DEFAULT_STAGES]
    (out_dir / "kwok-stages.yaml").write_text("\n---\n".join(documents) + "\n")


STEPS = {"kubernetes_provider_schema": kubernetes_provider_schema,
         "openstack_provider_schema": openstack_provider_schema,
         "pulumi_python_plugins": pulumi_python_plugins,
         "kwok_stages": kwok_stages}


def reported_version(tool: Tool, folder: Path) -> str:
    if tool.version_command is None:
        return "(over gRPC only: GetPluginInfo)"
    argv = [part.replace("{folder}", str(folder)) for part in tool.version_command]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    text = (output.stdout + output.stderr).strip()
    if tool.version not in text:
        raise BuildError(f"{tool.name}: `{' '.join(tool.version_command)}` printed {text[:200]!r}, "
                         f"not version {tool.version}")
    return text.splitlines()[0][:60]


def build(tool: Tool, root: Path, go: str) -> Result:
    folder = root / f"{tool.name}-{tool_key(tool, go)}"
    started = time.monotonic()
    if (folder / ".complete").exists():
        return Result(tool, folder, time.monotonic() - started, True, reported_version(tool, folder))
    log(f"{tool.name} {tool.version}: building")
    staging = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=root))
    staging.chmod(0o755)
    try:
        with tempfile.TemporaryDirectory(prefix=f"gomod-{tool.name}-") as work:
            build_dir = Path(work) / tool.name
            for path in wrapper_files(tool):
                target = build_dir / path.relative_to(GOMOD / tool.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            if tool.prepare:
                STEPS[tool.prepare](tool, build_dir, staging)
                log(f"{tool.name}: {tool.prepare} done ({time.monotonic() - started:.0f} s)")
            for binary, package in tool.packages.items():
                step_start = time.monotonic()
                argv = ["go", "build", "-o", str(staging / binary)]
                if tool.tags:
                    argv += ["-tags", ",".join(tool.tags)]
                flags = ["-s", "-w", *(f"-X {setting}" for setting in tool.ldflags)]
                argv += ["-ldflags", " ".join(flags), package]
                try:
                    _run(argv, cwd=build_dir, env=_go_env() | tool.env)
                except BuildError as error:
                    raise BuildError(f"building {tool.name} ({binary}) failed:\n{error}") from None
                log(f"{tool.name}: {binary} compiled ({time.monotonic() - step_start:.0f} s)")
            if tool.finish:
                STEPS[tool.finish](tool, build_dir, staging)
        reported = reported_version(tool, staging)
        (staging / ".complete").write_text(json.dumps({"version": tool.version, "go": go}))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.monotonic() - started
    log(f"{tool.name} {tool.version}: built in {seconds:.0f} s")
    return Result(tool, folder, seconds, False, reported)


def link_set(results: list[Result], root: Path) -> Path:
    key = hashlib.sha256("".join(sorted(r.folder.name for r in results)).encode()).hexdigest()[:16]
    bin_dir = root / f"set-{key}" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        for entry in result.folder.iterdir():
            if entry.name.startswith("."):
                continue
            link = bin_dir / entry.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(entry)
    return bin_dir


def _remove_unfinished(root: Path) -> None:
    """Drop staging folders of builds that were killed (we hold the lock: none is running)."""
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith("set-") and not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _busy(lock) -> bool:
    """Take the cache's lock without waiting; True when another build holds it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/tools", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2,
                        help="tools built at once (default 2: the machine's cores; go parallelises each)")
    parser.add_argument("--only", action="append", choices=[t.name for t in TOOLS],
                        help="build only this tool (repeatable); the set still links all built ones")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    if shutil.which("go") is None:
        print("tools: `go` is not on PATH; install Go 1.26 first", file=sys.stderr)
        return 2

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / ".lock", "w")  # noqa: SIM115 - held open until exit: the flock guards the whole build
    if _busy(lock):
        log(f"another scripts/tools builds in {root}; waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    _remove_unfinished(root)
    go = go_version()
    selected = [t for t in TOOLS if not args.only or t.name in args.only]
    log(f"cache {root}, {go}, {len(selected)} tools, {args.jobs} at once")
    started = time.monotonic()
    results: list[Result] = []
    failures: list[str] = []
    # The largest builds first, so the two lanes finish close together.
    order = sorted(selected, key=lambda t: t.name not in ("kubernetes", "pulumi"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(build, tool, root, go): tool for tool in order}
        for future in concurrent.futures.as_completed(futures):
            try:
                results.append(future.result())
            except BuildError as error:
                failures.append(str(error))
                log(f"FAILED {futures[future].name}")
            except Exception as error:  # a bug in a build step: still name the tool
                failures.append(f"{futures[future].name}: {type(error).__name__}: {error}")
                log(f"FAILED {futures[future].name}")
    if failures:
        for failure in failures:
            print(f"\ntools: {failure}", file=sys.stderr)
        return 1

    results.sort(key=lambda r: [t.name for t in TOOLS].index(r.tool.name))
    print(f"{'tool':28} {'version':10} {'size':>9} {'build':>8}  reports")
    for r in results:
        size = f"{folder_size(r.folder) / 2**20:.0f} MiB"
        took = "reused" if r.reused else f"{r.seconds:.0f} s"
        print(f"{r.tool.name:28} {r.tool.version:10} {size:>9} {took:>8}  {r.reported}")
    print(f"total {time.monotonic() - started:.0f} s")
    print(link_set(results, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
