"""The exit codes and the usage error that `python -m probe` and `python -m verify` share.

Both say pass 0, fail 1, usage error 2 (argparse's own code for a bad option), unreachable 3;
only what "fails" and "unreachable" mean differs, and each CLI names that in its epilog.
"""

from __future__ import annotations

import sys
from typing import TextIO

PASS, FAIL, UNREACHABLE = "pass", "fail", "unreachable"
EXIT_CODES = {PASS: 0, FAIL: 1, UNREACHABLE: 3}
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or an unusable target or input: the CLI exits with EXIT_USAGE."""


def exit_code(verdict: str) -> int:
    return EXIT_CODES[verdict]


def report_usage_error(program: str, error: UsageError, stream: TextIO | None = None) -> int:
    """Print `<program>: error: <why>` the way argparse does, and return the usage exit code."""
    print(f"{program}: error: {error}", file=stream or sys.stderr)
    return EXIT_USAGE


def exit_codes_epilog(passes: str, fails: str, unreachable: str) -> str:
    """The `Exit codes: ...` line of a CLI's help, from what pass, fail and unreachable mean to it."""
    meanings = {EXIT_CODES[PASS]: passes, EXIT_CODES[FAIL]: fails, EXIT_USAGE: "usage error",
                EXIT_CODES[UNREACHABLE]: unreachable}
    return "Exit codes: " + ", ".join(f"{code} {meanings[code]}" for code in sorted(meanings)) + "."
