"""python -m probe: exit 0 the spread holds, 1 it does not, 2 usage error, 3 no answer."""

from __future__ import annotations

import argparse
import json
import sys

from probe.check import ProbeOptions, run_probe
from probe.report import render_text
from probe.target import UsageError, checked_url, url_from_stack

EXIT_CODES = {"pass": 0, "fail": 1, "unreachable": 3}
EXIT_USAGE = 2


def _at_least(minimum: float, kind=int):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below the minimum {minimum}")
        return value

    return parse


def _ratio(text: str) -> float:
    value = _at_least(0.0, float)(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ratio between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = ProbeOptions(url="")
    parser = argparse.ArgumentParser(
        prog="python -m probe",
        description="Check that a load balancer spreads requests over pods on several nodes. Each pod must "
                    "answer 'Server <pod> on <node>'; every request uses a new connection.",
        epilog="Exit codes: 0 the check holds, 1 it fails, 2 usage error, 3 no answer before the deadline.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="URL to probe (default: the `url` output of the stack)")
    target.add_argument("--stack", help="read the `url` output of this stack (default: the selected stack)")
    parser.add_argument("--min-pods", type=_at_least(1), default=defaults.min_pods,
                        help=f"distinct pods that must answer (default {defaults.min_pods})")
    parser.add_argument("--min-nodes", type=_at_least(1), default=defaults.min_nodes,
                        help=f"distinct nodes that must answer (default {defaults.min_nodes})")
    parser.add_argument("--requests", type=_at_least(1), default=defaults.requests,
                        help=f"most requests to send once the target answers (default {defaults.requests})")
    parser.add_argument("--deadline", type=_at_least(0.1, float), default=defaults.deadline,
                        help=f"seconds to wait in all, e.g. for an Octavia amphora to boot (default {defaults.deadline:g})")
    parser.add_argument("--concurrency", type=_at_least(1), default=defaults.concurrency,
                        help=f"requests in flight at once (default {defaults.concurrency})")
    parser.add_argument("--max-error-ratio", type=_ratio, default=defaults.max_error_ratio,
                        help=f"largest share of failed requests that still passes (default {defaults.max_error_ratio:g})")
    parser.add_argument("--connect-timeout", type=_at_least(0.1, float), default=defaults.connect_timeout,
                        help=f"seconds to open a connection (default {defaults.connect_timeout:g})")
    parser.add_argument("--read-timeout", type=_at_least(0.1, float), default=defaults.read_timeout,
                        help=f"seconds to wait for an answer (default {defaults.read_timeout:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad arguments
    try:
        url = checked_url(args.url) if args.url else url_from_stack(args.stack)
    except UsageError as error:
        print(f"probe: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    options = ProbeOptions(
        url=url, min_pods=args.min_pods, min_nodes=args.min_nodes, requests=args.requests,
        deadline=args.deadline, concurrency=args.concurrency, max_error_ratio=args.max_error_ratio,
        connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
    )
    result = run_probe(options, progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(json.dumps(result.to_json(), indent=2) if args.json else render_text(result))
    return EXIT_CODES[result.verdict]
