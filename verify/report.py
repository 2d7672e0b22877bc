"""The checklist (one line per check, ✓ / ! / ✗, evidence, then what to look at next) and the
`--json` document; the verdict (its exit code: probe/exit_codes.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from probe import exit_codes as verdicts
from probe.wording import counted
from verify.checks import FAIL, OK, WARN, Check

SYMBOLS = {OK: "✓", WARN: "!", FAIL: "✗"}
ASCII_SYMBOLS = {OK: "+", WARN: "!", FAIL: "x"}
UNREACHABLE = "unreachable"  # the name of the check that says a side could not be read


def verdict(checks: Sequence[Check]) -> str:
    """unreachable when a side could not be read, else fail when a check fails, else pass (warnings pass)."""
    if any(check.name == UNREACHABLE for check in checks):
        return verdicts.UNREACHABLE
    return verdicts.FAIL if any(check.status == FAIL for check in checks) else verdicts.PASS


def check_line(check: Check, symbols: dict[str, str] = SYMBOLS, side_width: int = 10) -> str:
    line = f"{symbols[check.status]} {check.side:<{side_width}}  {check.evidence}"
    if check.next and check.status != OK:
        line += f" → {check.next}" if symbols is SYMBOLS else f" -> {check.next}"
    return line


def summary(checks: Sequence[Check]) -> str:
    counts = Counter(check.status for check in checks)
    result = verdict(checks)
    warnings = f", {counted(counts[WARN], 'warning')}" if counts[WARN] else ""
    if result == verdicts.UNREACHABLE:
        sides = ", ".join(check.side for check in checks if check.name == UNREACHABLE)
        done = len(checks) - 1
        held = f"; {counts[OK]} of the {done} checks made hold{warnings}" if done else ""
        return f"UNREACHABLE: cannot read {sides}{held}"
    if result == verdicts.FAIL:
        return f"FAIL: {counts[FAIL]} of {len(checks)} checks fail{warnings}"
    return f"PASS: {counts[OK]} of {len(checks)} checks hold{warnings}"


def render_text(title: str, checks: Sequence[Check], unicode: bool = True) -> str:
    symbols = SYMBOLS if unicode else ASCII_SYMBOLS
    width = max([len(check.side) for check in checks] + [10])
    return "\n".join([title, *(check_line(check, symbols, width) for check in checks), summary(checks)])


def to_json(stack: str | None, checks: Sequence[Check]) -> dict:
    return {"stack": stack, "checks": [check.to_json() for check in checks], "verdict": verdict(checks)}
