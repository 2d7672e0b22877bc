"""Wait for the load balancer, then sample it until the spread over pods and nodes is shown.

Every request opens a new TCP connection: Octavia's TCP listener balances per
connection, so a kept-alive connection would always reach the same pod.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import requests

from probe.identity import Identity, parse_identity

MAX_BODY_BYTES = 64 * 1024
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 10.0
NO_IDENTITY = "no-identity"


@dataclass(frozen=True)
class ProbeOptions:
    url: str
    min_pods: int = 2
    min_nodes: int = 1
    requests: int = 64
    deadline: float = 600.0
    concurrency: int = 4
    max_error_ratio: float = 0.2
    connect_timeout: float = 3.0
    read_timeout: float = 5.0


@dataclass(frozen=True)
class Outcome:
    """One request: the identity that answered, or the kind of error."""

    identity: Identity | None = None
    error: str | None = None


@dataclass
class Tally:
    requests: int = 0
    pods: Counter = field(default_factory=Counter)
    nodes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        if outcome.error:
            self.errors[outcome.error] += 1
        if outcome.identity:
            self.pods[outcome.identity.pod] += 1
            self.nodes[outcome.identity.node] += 1

    def update(self, other: Tally) -> None:
        self.requests += other.requests
        self.pods.update(other.pods)
        self.nodes.update(other.nodes)
        self.errors.update(other.errors)


@dataclass
class ProbeResult:
    url: str
    verdict: str  # pass, fail or unreachable
    reason: str
    tally: Tally
    waited_seconds: float
    wait_attempts: int
    elapsed_seconds: float

    def to_json(self) -> dict:
        return {
            "url": self.url,
            "verdict": self.verdict,
            "reason": self.reason,
            "requests": self.tally.requests,
            "pods": dict(self.tally.pods.most_common()),
            "nodes": dict(self.tally.nodes.most_common()),
            "errors": dict(self.tally.errors.most_common()),
            "waited_seconds": round(self.waited_seconds, 3),
            "wait_attempts": self.wait_attempts,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def fetch_once(url: str, connect_timeout: float, read_timeout: float) -> Outcome:
    """GET the URL over a connection of its own and read who answered."""
    try:
        # requests.get uses a fresh session, hence a fresh connection; Connection: close
        # also stops the server from keeping it.
        with requests.get(url, timeout=(connect_timeout, read_timeout), headers={"Connection": "close"},
                          allow_redirects=False, stream=True) as response:
            body = response.raw.read(MAX_BODY_BYTES, decode_content=True).decode("utf-8", "replace")
    except requests.exceptions.ConnectTimeout:
        return Outcome(error="connect-timeout")
    except requests.exceptions.ReadTimeout:
        return Outcome(error="read-timeout")
    except requests.exceptions.ConnectionError as error:
        return Outcome(error="connection-refused" if _refused(error) else "connection-error")
    except requests.exceptions.RequestException as error:
        return Outcome(error=type(error).__name__)
    if response.status_code >= 500:
        return Outcome(error=f"http-{response.status_code}")
    identity = parse_identity(body)
    return Outcome(identity=identity, error=None if identity else NO_IDENTITY)


def _refused(error: requests.exceptions.ConnectionError) -> bool:
    # requests wraps urllib3's NewConnectionError, whose text carries the OS error.
    text = str(error)
    return "Connection refused" in text or "Errno 111" in text


def evaluate(tally: Tally, options: ProbeOptions) -> tuple[str, str]:
    """pass or fail, with the reason, for what was seen so far."""
    problems = []
    if tally.errors[NO_IDENTITY]:
        problems.append(f"{tally.errors[NO_IDENTITY]} answer(s) had no 'Server <pod> on <node>' line")
    if len(tally.pods) < options.min_pods:
        problems.append(f"{len(tally.pods)} pod(s) answered, at least {options.min_pods} required")
    if len(tally.nodes) < options.min_nodes:
        problems.append(f"{len(tally.nodes)} node(s) answered, at least {options.min_nodes} required")
    failed = sum(tally.errors.values())
    if tally.requests and failed / tally.requests > options.max_error_ratio:
        problems.append(
            f"{failed} of {tally.requests} requests failed ({failed / tally.requests:.0%} > {options.max_error_ratio:.0%})"
        )
    if problems:
        return "fail", "; ".join(problems)
    return "pass", f"{len(tally.pods)} pods on {len(tally.nodes)} nodes answered {tally.requests} requests"


Fetch = Callable[[str, float, float], Outcome]
Progress = Callable[[str], None]


def run_probe(options: ProbeOptions, progress: Progress = lambda _: None, fetch: Fetch = fetch_once,
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    started = clock()
    deadline = started + options.deadline
    tally = Tally()

    first, attempts = _wait_for_answer(options, deadline, tally, progress, fetch, clock, sleep)
    waited = clock() - started
    if first is None:
        last = ", ".join(f"{kind} x{count}" for kind, count in tally.errors.most_common()) or "no attempt"
        reason = f"no answer within {options.deadline:g}s ({last})"
        return ProbeResult(options.url, "unreachable", reason, tally, waited, attempts, clock() - started)

    progress(f"{options.url} answers after {waited:.1f}s; sampling up to {options.requests} requests")
    sample = Tally()
    sample.add(first)
    _sample(options, deadline, sample, fetch, clock)
    # The verdict (and its error ratio) covers the requests after the first answer;
    # the report's totals include the refusals seen while waiting.
    verdict, reason = evaluate(sample, options)
    tally.update(sample)
    return ProbeResult(options.url, verdict, reason, tally, waited, attempts, clock() - started)


def _wait_for_answer(options, deadline, tally, progress, fetch, clock, sleep) -> tuple[Outcome | None, int]:
    """Retry with backoff until something other than a 5xx or a network error answers."""
    delay = FIRST_RETRY_DELAY
    attempts = 0
    while True:
        attempts += 1
        # Keep a slow attempt from running far past the deadline.
        left = max(deadline - clock(), 0.1)
        outcome = fetch(options.url, min(options.connect_timeout, left), min(options.read_timeout, left))
        if outcome.error is None or outcome.error == NO_IDENTITY:
            return outcome, attempts
        tally.add(outcome)
        left = deadline - clock()
        if left <= 0:
            return None, attempts
        progress(f"waiting for {options.url}: {outcome.error} (attempt {attempts}, {left:.0f}s left)")
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_RETRY_DELAY)


def _sample(options: ProbeOptions, deadline: float, tally: Tally, fetch: Fetch, clock) -> None:
    """Send requests, a few at a time, until the verdict is settled, the count is spent or time is up."""

    def settled() -> bool:
        return evaluate(tally, options)[0] == "pass" or tally.errors[NO_IDENTITY] > 0

    sent = tally.requests
    in_flight: set[Future] = set()
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        while True:
            while (not settled() and sent < options.requests and len(in_flight) < options.concurrency
                   and clock() < deadline):
                in_flight.add(pool.submit(fetch, options.url, options.connect_timeout, options.read_timeout))
                sent += 1
            # Requests already in flight are waited for even once the verdict looks settled:
            # the slow ones are often the failures (a dead member), and dropping them would
            # bias the error count.
            if not in_flight:
                return
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                tally.add(future.result())
