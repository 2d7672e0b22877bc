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

from probe.exit_codes import FAIL, PASS, UNREACHABLE
from probe.identity import Identity, parse_identity
from probe.wording import counted

MAX_BODY_BYTES = 64 * 1024
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 10.0
NO_IDENTITY = "no-identity"


@dataclass(frozen=True)
class ProbeOptions:
    url: str
    min_pods: int = 2
    min_nodes: int = 2
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


@dataclass
class ProbeResult:
    """The verdict's requests apart from the attempts that failed before the first answer:
    refusals while Octavia boots are not errors of the load balancer."""

    url: str
    verdict: str  # PASS, FAIL or UNREACHABLE
    reason: str
    tally: Tally  # the verdict's requests: the first answer and the sample after it
    waiting: Tally  # the attempts that failed before the first answer
    waited_seconds: float
    elapsed_seconds: float

    @property
    def answered(self) -> bool:
        return self.tally.requests > 0

    def to_json(self) -> dict:
        return {
            "url": self.url,
            "verdict": self.verdict,
            "reason": self.reason,
            "requests": self.tally.requests,
            "pods": dict(self.tally.pods.most_common()),
            "nodes": dict(self.tally.nodes.most_common()),
            "errors": dict(self.tally.errors.most_common()),
            "waiting": {
                "seconds": round(self.waited_seconds, 3),
                "requests": self.waiting.requests,
                "errors": dict(self.waiting.errors.most_common()),
            },
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
        problems.append(f"{counted(tally.errors[NO_IDENTITY], 'answer')} had no 'Server <pod> on <node>' line")
    if len(tally.pods) < options.min_pods:
        problems.append(f"{counted(len(tally.pods), 'pod')} answered, at least {options.min_pods} required")
    if len(tally.nodes) < options.min_nodes:
        problems.append(f"{counted(len(tally.nodes), 'node')} answered, at least {options.min_nodes} required")
    failed = sum(tally.errors.values())
    if tally.requests and failed / tally.requests > options.max_error_ratio:
        problems.append(f"{failed} of {counted(tally.requests, 'request')} failed "
                        f"({failed / tally.requests:.0%} > {options.max_error_ratio:.0%})")
    if problems:
        return FAIL, "; ".join(problems)
    return PASS, (f"{counted(len(tally.pods), 'pod')} on {counted(len(tally.nodes), 'node')} "
                    f"answered {counted(tally.requests, 'request')}")


Fetch = Callable[[str, float, float], Outcome]
Progress = Callable[[str], None]


def run_probe(options: ProbeOptions, progress: Progress = lambda _: None, fetch: Fetch = fetch_once,
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> ProbeResult:
    started = clock()
    deadline = started + options.deadline
    waiting = Tally()

    first = _wait_for_answer(options, deadline, waiting, progress, fetch, clock, sleep)
    waited = clock() - started
    if first is None:
        last = ", ".join(f"{kind} x{count}" for kind, count in waiting.errors.most_common()) or "no attempt"
        reason = f"no answer within {options.deadline:g}s ({last})"
        return ProbeResult(options.url, UNREACHABLE, reason, Tally(), waiting, waited, clock() - started)

    progress(f"{options.url} answers after {waited:.1f}s; sampling up to {counted(options.requests, 'request')}")
    # The verdict (and its error ratio) covers the first answer and the requests after it:
    # refusals while the load balancer was not up yet are reported apart.
    sample = Tally()
    sample.add(first)
    _sample(options, deadline, sample, fetch, clock)
    verdict, reason = evaluate(sample, options)
    return ProbeResult(options.url, verdict, reason, sample, waiting, waited, clock() - started)


def _wait_for_answer(options, deadline, waiting, progress, fetch, clock, sleep) -> Outcome | None:
    """Retry with backoff until something other than a 5xx or a network error answers;
    the failed attempts go to the waiting tally."""
    delay = FIRST_RETRY_DELAY
    while True:
        outcome = fetch(options.url, *_timeouts(options, deadline - clock()))
        if outcome.error is None or outcome.error == NO_IDENTITY:
            return outcome
        waiting.add(outcome)
        left = deadline - clock()
        if left <= 0:
            return None
        progress(f"waiting for {options.url}: {outcome.error} (attempt {waiting.requests}, {left:.0f}s left)")
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_RETRY_DELAY)


def _timeouts(options: ProbeOptions, left: float) -> tuple[float, float]:
    """Connect and read timeouts cut to the time left: no request runs far past the deadline
    (and a huge timeout never reaches the socket, which cannot hold it)."""
    left = max(left, 0.1)
    return min(options.connect_timeout, left), min(options.read_timeout, left)


def _sample(options: ProbeOptions, deadline: float, tally: Tally, fetch: Fetch, clock) -> None:
    """Send requests, a few at a time, until the verdict is settled, the count is spent or time is up."""

    def settled() -> bool:
        return evaluate(tally, options)[0] == PASS or tally.errors[NO_IDENTITY] > 0

    sent = tally.requests
    in_flight: set[Future] = set()
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        while True:
            while (not settled() and sent < options.requests and len(in_flight) < options.concurrency
                   and clock() < deadline):
                in_flight.add(pool.submit(fetch, options.url, *_timeouts(options, deadline - clock())))
                sent += 1
            # Requests already in flight are waited for even once the verdict looks settled:
            # the slow ones are often the failures (a dead member), and dropping them would
            # bias the error count.
            if not in_flight:
                return
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                tally.add(future.result())
