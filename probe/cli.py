"""python -m probe: the options, then the probe's verdict as its exit code (probe/exit_codes.py)."""

from __future__ import annotations

import argparse
import json
import math
import sys

from probe.check import ProbeOptions, run_probe
from probe.exit_codes import UsageError, exit_code, exit_codes_epilog, report_usage_error
from probe.report import render_text
from probe.target import checked_url, resolvable, url_from_stack

MAX_DEADLINE = 86400.0  # a day: more is a typo, and far more overflows the socket's timeout
MAX_CONCURRENCY = 256  # one thread per request in flight: thousands exhaust the process, not the LB


def in_range(minimum: float, maximum: float = math.inf, *, kind: type = int):
    """An argparse type: a finite number of that kind from minimum to maximum (argparse names the flag)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        # float() accepts nan and inf: every comparison with nan is false, so it slips past the range
        # check (an error ratio of nan checks nothing), and a deadline of inf never comes.
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below the minimum {minimum:g}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} is above the maximum {maximum:g}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    defaults = ProbeOptions(url="")
    parser = argparse.ArgumentParser(
        prog="python -m probe",
        description="Check that a load balancer spreads requests over pods on several nodes. Each pod must "
                    "answer 'Server <pod> on <node>'; every request uses a new connection.",
        epilog=exit_codes_epilog(passes="the check holds", fails="it fails",
                                 unreachable="no answer before the deadline"),
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="URL to probe (default: the `url` output of the stack)")
    target.add_argument("--stack", help="read the `url` output of this stack (default: the selected stack)")
    parser.add_argument("--min-pods", type=in_range(1), default=defaults.min_pods,
                        help=f"distinct pods that must answer (default {defaults.min_pods})")
    parser.add_argument("--min-nodes", type=in_range(1), default=defaults.min_nodes,
                        help=f"distinct nodes that must answer (default {defaults.min_nodes}; "
                             "1 on a single-node cluster)")
    parser.add_argument("--requests", type=in_range(1), default=defaults.requests,
                        help=f"most requests to send once the target answers (default {defaults.requests})")
    parser.add_argument("--deadline", type=in_range(0.1, MAX_DEADLINE, kind=float), default=defaults.deadline,
                        help="seconds to wait in all, e.g. for an Octavia amphora to boot "
                             f"(default {defaults.deadline:g}, at most {MAX_DEADLINE:g})")
    parser.add_argument("--concurrency", type=in_range(1, MAX_CONCURRENCY), default=defaults.concurrency,
                        help=f"requests in flight at once (default {defaults.concurrency}, at most {MAX_CONCURRENCY})")
    parser.add_argument("--max-error-ratio", type=in_range(0.0, 1.0, kind=float),
                        default=defaults.max_error_ratio,
                        help="largest share of failed requests that still passes, 0 to 1 "
                             f"(default {defaults.max_error_ratio:g})")
    parser.add_argument("--connect-timeout", type=in_range(0.1, kind=float), default=defaults.connect_timeout,
                        help=f"seconds to open a connection (default {defaults.connect_timeout:g})")
    parser.add_argument("--read-timeout", type=in_range(0.1, kind=float), default=defaults.read_timeout,
                        help=f"seconds to wait for an answer (default {defaults.read_timeout:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad arguments
    try:
        url = resolvable(checked_url(args.url) if args.url else url_from_stack(args.stack))
    except UsageError as error:
        return report_usage_error("probe", error)
    options = ProbeOptions(
        url=url, min_pods=args.min_pods, min_nodes=args.min_nodes, requests=args.requests,
        deadline=args.deadline, concurrency=args.concurrency, max_error_ratio=args.max_error_ratio,
        connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
    )
    result = run_probe(options, progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(json.dumps(result.to_json(), indent=2) if args.json else render_text(result))
    return exit_code(result.verdict)
