"""k8s.io/apimachinery's wait.ExponentialBackoff (no jitter), as the controllers the lab plays use
it: check at once, then after each sleep of the backoff."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


def backoff_sleeps(initial: float, factor: float, steps: int) -> list[float]:
    """The sleeps between a backoff's ``steps`` checks."""
    return [initial * factor ** step for step in range(max(0, steps - 1))]


def backoff_seconds(initial: float, factor: float, steps: int) -> float:
    """How long a backoff of ``steps`` steps sleeps in all."""
    return sum(initial * factor ** step for step in range(steps))


def sleeps_within(total: float, initial: float = 1.0, factor: float = 1.2) -> Iterator[float]:
    """A backoff's sleeps for as long as they add up to no more than ``total`` seconds."""
    slept, pause = 0.0, initial
    while slept + pause <= total:
        yield pause
        slept, pause = slept + pause, pause * factor


def check_on_backoff(check: Callable[[], object], sleeps: Iterable[float],
                     sleep: Callable[[float], object]) -> object:
    """``check``'s first true result, checking at once and after each of ``sleeps``; None when they
    run out or ``sleep`` returns true (a stop Event's wait: the controller is stopping)."""
    result = check()
    for pause in sleeps:
        if result or sleep(pause):
            break
        result = check()
    return result or None
