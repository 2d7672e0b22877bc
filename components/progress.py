"""How the program's waits say what they see: a state once, then again only when it changes or
after a while unchanged, so a long wait shows it is alive without repeating every poll."""

from __future__ import annotations

import sys
from collections.abc import Callable

PROGRESS_EVERY_SECONDS = 15.0  # an unchanged state is still logged this often


def to_stderr(line: str) -> None:
    """Where a dynamic provider's lines go: the engine shows its stderr with the resource."""
    print(line, file=sys.stderr, flush=True)


class ProgressLog:
    """The last state a wait logged, and when; `last` is what a failure message quotes."""

    def __init__(self, log: Callable[[str], None] = to_stderr, every_seconds: float = PROGRESS_EVERY_SECONDS):
        self.log = log
        self.every_seconds = every_seconds
        self.last: str | None = None
        self._logged_at: float | None = None

    def update(self, state: str, now: float, line: str | None = None) -> None:
        """Log `line` (default: the state) if the state is new or was last logged long enough ago."""
        if state != self.last or self._logged_at is None or now - self._logged_at >= self.every_seconds:
            self.log(state if line is None else line)
            self.last, self._logged_at = state, now
