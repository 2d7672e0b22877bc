"""The pulumi CLI asked for JSON (`pulumi stack output --json`, `pulumi config --json`): the one way
the probe and verify read a stack. Each caller decides what a failure means to its exit code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

PULUMI_TIMEOUT = 120  # seconds: a backend that answers slower is reported, not waited for

MISSING, TIMED_OUT, FAILED, NOT_JSON = "missing", "timed-out", "failed", "not-json"


class PulumiCliError(Exception):
    """The CLI is not on PATH, did not finish, failed, or printed no JSON (kind says which)."""

    def __init__(self, kind: str, command: list[str], detail: str = ""):
        self.kind, self.command, self.detail = kind, command, detail
        super().__init__(self._message())

    @property
    def shown(self) -> str:
        return " ".join(self.command)

    @property
    def no_such_stack(self) -> bool:
        return self.kind == FAILED and "no stack named" in self.detail

    def _message(self) -> str:
        if self.kind == MISSING:
            return "the pulumi CLI is not on PATH"
        if self.kind == TIMED_OUT:
            return f"`{self.shown}` did not finish within {self.detail}s"
        if self.kind == NOT_JSON:
            return f"`{self.shown}` printed no JSON: {self.detail[:200]!r}"
        lines = self.detail.splitlines()
        return f"`{self.shown}` failed: {lines[-1] if lines else 'no output'}"


def stack_args(stack: str | None) -> list[str]:
    """`--stack <name>`, or nothing for the selected stack."""
    return ["--stack", stack] if stack else []


def pulumi_json(args: list[str], cwd: Path | None = None, timeout: float = PULUMI_TIMEOUT) -> Any:
    """Run `pulumi <args>` and parse what it prints; raises PulumiCliError."""
    command = ["pulumi", *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except FileNotFoundError:
        raise PulumiCliError(MISSING, command) from None
    except subprocess.TimeoutExpired:
        raise PulumiCliError(TIMED_OUT, command, f"{timeout:g}") from None
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}"
        raise PulumiCliError(FAILED, command, output)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise PulumiCliError(NOT_JSON, command, result.stdout) from None


def pulumi_stack_outputs(stack: str | None, cwd: Path | None = None) -> Any:
    """`pulumi stack output --json` of the stack (the selected one when None), as printed."""
    return pulumi_json(["stack", "output", "--json", *stack_args(stack)], cwd)


def pulumi_config(stack: str | None, cwd: Path | None = None) -> Any:
    """`pulumi config --json` of the stack (the selected one when None), as printed."""
    return pulumi_json(["config", "--json", *stack_args(stack)], cwd)
