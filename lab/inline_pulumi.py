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
policy violations, the change summary and the outputs; progress goes to stderr.
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
from pathlib import Path

import yaml
from pulumi import automation as auto
from pulumi.automation import events

PROJECT = Path(__file__).resolve().parent.parent


def program_for(project: Path):
    """The project's __main__.py as an inline program, run as the language host would run it."""

    def run() -> None:
        os.chdir(project)
        if str(project) not in sys.path:
            sys.path.insert(0, str(project))
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")

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
            self._say(f"{step['op']:>14} {step['type']} {step['name']}")
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


def stack_for(name: str, project: Path) -> auto.Stack:
    settings = auto.LocalWorkspaceOptions(
        work_dir=str(project),
        # Dynamic providers run `python -m pulumi.dynamic` from this virtualenv (the language
        # host would set it from Pulumi.yaml's `virtualenv` option).
        env_vars={"PULUMI_RUNTIME_VIRTUALENV": sys.prefix},
    )
    return auto.create_or_select_stack(stack_name=name, project_name=_project_name(project),
                                       program=program_for(project), opts=settings)


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
    launchers = tempfile.TemporaryDirectory(prefix="lab-policy-")
    packs = [str(policy_launcher(p.resolve(), Path(launchers.name))) for p in args.policy_pack]
    pack_configs = [str(p.resolve()) for p in args.policy_pack_config]
    if pack_configs and len(pack_configs) != len(packs):
        parser.error("give one --policy-pack-config per --policy-pack")

    stack = stack_for(args.stack, project)
    collector = Collector(echo=True)
    document: dict = {"stack": args.stack, "operation": args.operation}
    previews_first = args.operation == "up" and not args.skip_preview
    document["phase"] = "preview" if args.operation == "preview" or previews_first else args.operation
    try:
        if document["phase"] == "preview":
            stack.preview(policy_packs=packs, policy_pack_configs=pack_configs, on_event=collector,
                          replace=args.replace or None)
        if args.operation == "up":
            if previews_first:
                collector.start_phase("update")
            document["phase"] = "update"
            result = stack.up(policy_packs=packs, policy_pack_configs=pack_configs, on_event=collector,
                              replace=args.replace or None)
            document["outputs"] = {k: v.value for k, v in result.outputs.items()}
        elif args.operation == "refresh":
            stack.refresh(on_event=collector)
        elif args.operation == "destroy":
            stack.destroy(on_event=collector)
        elif args.operation == "output":
            document["outputs"] = {k: v.value for k, v in stack.outputs().items()}
        document["succeeded"] = True
    except auto.CommandError as error:
        document["succeeded"] = False
        document["error"] = str(error)
        print(f"lab-pulumi: {args.operation} failed (in its {document['phase']})", file=sys.stderr)
    document.update(steps=collector.steps, diagnostics=collector.diagnostics,
                    policyViolations=collector.policy, summary=collector.summary)
    if collector.preview is not None:
        document["preview"] = collector.preview
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    elif "outputs" in document:
        print(json.dumps(document["outputs"], indent=2, default=str))
    return 0 if document["succeeded"] else 1


if __name__ == "__main__":
    sys.exit(main())
