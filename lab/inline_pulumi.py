"""Run the project's program through the real Pulumi CLI where no Python language host exists.

    scripts/lab-pulumi preview --stack devstack [--policy-pack policy] [--json]
    scripts/lab-pulumi up --stack devstack [--skip-preview] [--replace URN]...
    scripts/lab-pulumi refresh --stack devstack
    scripts/lab-pulumi destroy --stack devstack
    scripts/lab-pulumi output --stack devstack

Why: the Go module proxy serves no `pulumi-language-python`, the plugin through which
`pulumi preview` starts a Python program. Pulumi's Python Automation API runs a program
"inline": the SDK serves the language-runtime protocol itself and the real CLI connects to it
(`pulumi preview --client=<address>`). Everything else is the CLI's own path: it reads
Pulumi.yaml and Pulumi.<stack>.yaml from the project folder (defaults, type checks), runs the
engine, the provider plugins installed in the lab's PULUMI_HOME (lab/environment.py installs
them as `pulumi plugin install --file` does; none is taken from PATH), dynamic providers through
pulumi-resource-pulumi-python (bundled beside the CLI). A policy pack folder also needs the
language host (the CLI runs it through the host's RunPlugin); the CLI launches an executable given as --policy-pack
directly instead, so each pack gets a two-line launcher that does what RunPlugin does: run
`python -m pulumi.policy <engine> .` in the pack folder with the virtualenv named in its
PulumiPolicy.yaml (policy/venv).

`up` does what the CLI's `pulumi up --yes` does: it previews first, with the same policy packs,
and stops if the preview fails (the Automation API's `up` alone is `pulumi up --skip-preview`);
`--skip-preview` skips it, as the CLI's flag does.

With --json, one JSON document goes to stdout: the steps (op, type, name, urn), diagnostics,
policy violations, the change summary, the outputs and a timeline (wall-clock seconds of each
phase's start and end, the program's evaluation, and each resource step's start and outputs, as
the engine events arrive: the Automation API reads its event log every 0.1 s); progress goes to
stderr. benchmarks/deploy_benchmark.py --breakdown reads the timeline.
Exit codes: 0 success, 1 the operation failed, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from pulumi import automation as auto
from pulumi.automation import events

PROJECT = Path(__file__).resolve().parent.parent
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
MASKED_SECRET = "[secret]"  # how engine events show a secret value


def program_for(project: Path, mark: Callable[[str], None] = lambda _event: None):
    """The project's __main__.py as an inline program, run as the language host would run it.
    ``mark`` is told when its evaluation starts and ends (registrations still in flight then
    are the engine's)."""

    def run() -> None:
        mark("program-start")
        os.chdir(project)
        if str(project) not in sys.path:
            sys.path.insert(0, str(project))
        try:
            runpy.run_path(str(project / "__main__.py"), run_name="__main__")
        finally:
            mark("program-end")

    return run


class Collector:
    """Engine events, kept for the --json document and echoed to stderr as progress."""

    def __init__(self, echo: bool):
        self.echo = echo
        self.steps: list[dict] = []
        self.diagnostics: list[dict] = []
        self.policy: list[dict] = []
        self.summary: dict | None = None
        self.preview: dict | None = None
        self.timeline: list[dict] = []
        self.stack_outputs: dict | None = None  # the root stack's, from its latest outputs event

    def mark(self, event: str, **details) -> None:
        """One timeline entry, stamped now (wall clock: the benchmark compares it with its own)."""
        self.timeline.append({"event": event, "t": time.time(), **details})

    def start_phase(self, name: str) -> None:
        """Keep what the preview planned apart from what the update then did."""
        self.preview = {"steps": self.steps, "summary": self.summary}
        self.steps, self.summary = [], None
        self._say(f"-- {name} --")

    def __call__(self, event: events.EngineEvent) -> None:
        if event.resource_pre_event:
            meta = event.resource_pre_event.metadata
            step = {"op": meta.op.value, "type": meta.type, "urn": meta.urn,
                    "name": meta.urn.rsplit("::", 1)[-1]}
            self.steps.append(step)
            state = meta.new or meta.old
            self.mark("step-start", urn=meta.urn, type=meta.type, op=meta.op.value,
                      custom=bool(state.custom) if state else True)
            self._say(f"{step['op']:>14} {step['type']} {step['name']}")
        elif event.res_outputs_event:
            meta = event.res_outputs_event.metadata
            self.mark("step-end", urn=meta.urn)
            if meta.type == ROOT_STACK_TYPE and meta.new is not None:
                self.stack_outputs = dict(meta.new.outputs or {})
        elif event.res_op_failed_event:
            self.mark("step-failed", urn=event.res_op_failed_event.metadata.urn)
        elif event.diagnostic_event:
            diag = event.diagnostic_event
            if diag.severity != "debug" and diag.message.strip():
                self.diagnostics.append({"severity": diag.severity, "message": diag.message.strip(),
                                         "urn": diag.urn})
                self._say(f"{diag.severity}: {diag.message.strip()}")
        elif event.policy_event:
            policy = event.policy_event
            self.policy.append({"policy": policy.policy_name, "pack": policy.policy_pack_name,
                                "enforcementLevel": policy.enforcement_level,
                                "message": policy.message.strip(), "urn": policy.resource_urn})
            self._say(f"policy {policy.enforcement_level} {policy.policy_name}: {policy.message.strip()}")
        elif event.summary_event:
            summary = event.summary_event
            self.mark("summary")
            self.summary = {"resourceChanges": dict(summary.resource_changes),
                            "policyPacks": dict(summary.policy_packs),
                            "durationSeconds": summary.duration_seconds}

    def _say(self, line: str) -> None:
        if self.echo:
            print(line, file=sys.stderr, flush=True)


def policy_launcher(pack: Path, folder: Path) -> Path:
    """An executable the CLI can start as the pack (see the module docstring)."""
    settings = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text()) or {}
    runtime = settings.get("runtime")
    options = (runtime.get("options") or {}) if isinstance(runtime, dict) else {}
    python = pack / options.get("virtualenv", "venv") / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"lab-pulumi: the policy pack's virtualenv {python.parent.parent} is missing: "
                         f"python3 -m venv {python.parent.parent} && "
                         f"{python.parent}/pip install -r {pack / 'requirements.txt'}")
    launcher = folder / pack.name / "run-policy-pack"
    launcher.parent.mkdir(parents=True)
    (launcher.parent / "PulumiPolicy.yaml").symlink_to(pack / "PulumiPolicy.yaml")
    launcher.write_text(f'#!/bin/sh\ncd {shlex.quote(str(pack))} && '
                        f'exec {shlex.quote(str(python))} -u -m pulumi.policy "$1" .\n')
    launcher.chmod(0o755)
    return launcher


def stack_for(name: str, project: Path, mark: Callable[[str], None] = lambda _event: None) -> auto.Stack:
    """The stack, as `pulumi <operation> --stack NAME` takes it: an existing one is used as it is
    (the CLI's `--stack` selects nothing, and a `pulumi stack select` cost 0.2 s per command);
    a new one is created and selected (`pulumi stack init`), so that the probe and verify find it
    without --stack, as after `pulumi stack init` on a Devstack."""
    project_name = _project_name(project)
    workspace = auto.LocalWorkspace(
        work_dir=str(project),
        program=program_for(project, mark),
        # Dynamic providers run `python -m pulumi.dynamic` from this virtualenv (the language
        # host would set it from Pulumi.yaml's `virtualenv` option).
        env_vars={"PULUMI_RUNTIME_VIRTUALENV": sys.prefix},
    )
    exists = stack_file_exists(os.environ.get("PULUMI_BACKEND_URL", ""), project_name, name)
    if exists is None:  # not a file backend: the CLI tells
        return auto.Stack.create_or_select(name, workspace)
    if not exists:
        return auto.Stack.create(name, workspace)
    workspace.select_stack = lambda _name: None  # this Stack's construction only: nothing to select
    stack = auto.Stack.select(name, workspace)
    del workspace.select_stack
    return stack


def stack_file_exists(backend_url: str, project: str, stack: str) -> bool | None:
    """Whether a file backend holds the stack's checkpoint (`<root>/.pulumi/stacks/<project>/<stack>.json`,
    maybe gzipped); None for any other backend, which only the CLI can ask."""
    if not backend_url.startswith("file://"):
        return None
    folder = Path(backend_url.removeprefix("file://")).expanduser() / ".pulumi" / "stacks" / project
    return any((folder / f"{stack}{suffix}").is_file() for suffix in (".json", ".json.gz"))


def _project_name(project: Path) -> str:
    for line in (project / "Pulumi.yaml").read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"lab-pulumi: {project / 'Pulumi.yaml'} has no `name:`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lab-pulumi", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("operation", choices=["preview", "up", "refresh", "destroy", "output"])
    parser.add_argument("--stack", "-s", required=True, help="stack name, e.g. devstack")
    parser.add_argument("--cwd", type=Path, default=PROJECT, help="project folder (default: this one)")
    parser.add_argument("--policy-pack", action="append", default=[], type=Path,
                        help="policy pack folder (repeatable)")
    parser.add_argument("--policy-pack-config", action="append", default=[], type=Path,
                        help="policy pack config file, one per --policy-pack")
    parser.add_argument("--replace", action="append", default=[], metavar="URN",
                        help="preview/up: replace this resource even if it has no change (repeatable)")
    parser.add_argument("--skip-preview", action="store_true",
                        help="up only: do not preview first (pulumi up --skip-preview)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    project = args.cwd.resolve()
    if not (project / "Pulumi.yaml").is_file():
        parser.error(f"--cwd {project} has no Pulumi.yaml")
    for pack in args.policy_pack:
        if not (pack / "PulumiPolicy.yaml").is_file():
            parser.error(f"--policy-pack {pack} has no PulumiPolicy.yaml")
    if args.policy_pack_config and len(args.policy_pack_config) != len(args.policy_pack):
        parser.error("give one --policy-pack-config per --policy-pack")
    with tempfile.TemporaryDirectory(prefix="lab-policy-") as launchers:
        return run(args, project, [str(policy_launcher(p.resolve(), Path(launchers))) for p in args.policy_pack])


def run(args: argparse.Namespace, project: Path, packs: list[str]) -> int:
    """The operation, with the policy packs' launchers; prints the document; the exit code."""
    pack_configs = [str(p.resolve()) for p in args.policy_pack_config]
    collector = Collector(echo=True)
    collector.mark("process-ready")  # the CLI's and the SDK's imports are behind
    stack = stack_for(args.stack, project, collector.mark)
    document: dict = {"stack": args.stack, "operation": args.operation}
    previews_first = args.operation == "up" and not args.skip_preview
    document["phase"] = "preview" if args.operation == "preview" or previews_first else args.operation
    try:
        if document["phase"] == "preview":
            collector.mark("phase-start", phase="preview")
            stack.preview(policy_packs=packs, policy_pack_configs=pack_configs, on_event=collector,
                          replace=args.replace or None)
            collector.mark("phase-end", phase="preview")
        if args.operation == "up":
            if previews_first:
                collector.start_phase("update")
            document["phase"] = "update"
            collector.mark("phase-start", phase="update")
            collector.stack_outputs = None  # the preview's event shows the outputs before the update
            document["outputs"] = up_as_the_cli_does(stack, collector, policy_packs=packs,
                                                     policy_pack_configs=pack_configs, on_event=collector,
                                                     replace=args.replace or None)
            collector.mark("phase-end", phase="update")
        elif args.operation in ("refresh", "destroy"):
            collector.mark("phase-start", phase=args.operation)
            getattr(stack, args.operation)(on_event=collector)
            collector.mark("phase-end", phase=args.operation)
        elif args.operation == "output":
            document["outputs"] = {k: v.value for k, v in stack.outputs().items()}
        document["succeeded"] = True
    except auto.CommandError as error:
        document["succeeded"] = False
        document["error"] = str(error)
        print(f"lab-pulumi: {args.operation} failed (in its {document['phase']})", file=sys.stderr)
    document.update(steps=collector.steps, diagnostics=collector.diagnostics,
                    policyViolations=collector.policy, summary=collector.summary, timeline=collector.timeline)
    if collector.preview is not None:
        document["preview"] = collector.preview
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    elif "outputs" in document:
        print(json.dumps(document["outputs"], indent=2, default=str))
    return 0 if document["succeeded"] else 1


def up_as_the_cli_does(stack: auto.Stack, collector: Collector, **options) -> dict:
    """``stack.up(**options)`` and the stack's outputs, without the two CLI runs the Automation API
    adds once `pulumi up` has exited (`pulumi stack output` and `pulumi stack history`: 0.8 to 1.3 s
    here, which the CLI's own `pulumi up` does not spend). The outputs are the root stack's outputs
    event of the update; when one is a secret (events show it masked), `pulumi stack output` reads them."""
    stack.outputs = lambda: {}  # the instance's, for this call only
    stack.info = lambda *_args, **_kwargs: "not read"  # up() only checks it is there
    try:
        stack.up(**options)
    finally:
        del stack.outputs, stack.info
    outputs = collector.stack_outputs
    if outputs is None or MASKED_SECRET in json.dumps(outputs):
        return {key: value.value for key, value in stack.outputs().items()}
    return outputs


def exit_now(code: int) -> None:
    """Exit without the interpreter's finalization: tearing down the SDKs' modules (pulumi_kubernetes'
    classes, the clients' models) took 0.4 to 1 s after every command had finished. Everything this
    process owes is written by then (the policy launchers' folder is removed in main)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
