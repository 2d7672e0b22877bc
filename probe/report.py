"""The human report: verdict, then a bar per pod, per node and per kind of error."""

from __future__ import annotations

from collections import Counter

from probe.check import ProbeResult
from probe.wording import counted

BAR_WIDTH = 40


def bar_chart(title: str, counts: Counter) -> list[str]:
    if not counts:
        return [f"{title}: none"]
    width = max(len(name) for name in counts)
    largest = max(counts.values())
    lines = [f"{title}:"]
    for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        bar = "█" * max(1, round(BAR_WIDTH * count / largest))
        lines.append(f"  {name:<{width}}  {bar} {count}")
    return lines


def timeline(result: ProbeResult) -> str:
    """How long it took and how many requests, the verdict's apart from the failed attempts before it."""
    if not result.answered:
        return f"no answer in {result.elapsed_seconds:.1f}s ({counted(result.waiting.requests, 'attempt')})"
    if result.waiting.requests:
        waited = (f"answering after {result.waited_seconds:.1f}s and "
                  f"{counted(result.waiting.requests, 'failed attempt')}")
    else:
        waited = "answering at once"
    return f"{counted(result.tally.requests, 'request')} for the verdict in {result.elapsed_seconds:.1f}s, {waited}"


def render_text(result: ProbeResult) -> str:
    tally = result.tally
    # Nothing answered: no request reached the verdict, so only the waiting has something to show.
    verdict_charts = [*bar_chart("pods", tally.pods), *bar_chart("nodes", tally.nodes),
                      *bar_chart("errors", tally.errors)] if result.answered else []
    lines = [
        f"{result.verdict.upper()}: {result.reason}",
        f"url {result.url}: {timeline(result)}",
        *verdict_charts,
        *bar_chart("errors while waiting", result.waiting.errors),
    ]
    return "\n".join(lines)
