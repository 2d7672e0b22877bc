"""The human report: verdict, then a bar per pod, per node and per kind of error."""

from __future__ import annotations

from collections import Counter

from probe.check import ProbeResult

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


def render_text(result: ProbeResult) -> str:
    tally = result.tally
    lines = [
        f"{result.verdict.upper()}: {result.reason}",
        f"url {result.url}: {tally.requests} requests in {result.elapsed_seconds:.1f}s "
        f"(answering after {result.waited_seconds:.1f}s, {result.wait_attempts} attempt(s))",
        *bar_chart("pods", tally.pods),
        *bar_chart("nodes", tally.nodes),
        *bar_chart("errors", tally.errors),
    ]
    return "\n".join(lines)
