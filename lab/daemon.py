"""What every double's main() shares: one logging setup and a stop on SIGTERM/SIGINT.

    def main(argv=None) -> int:
        args = parser.parse_args(argv)
        setup_logging(args.verbose)
        double = Double(...)
        return run_until_signalled(double.start, double.stop, "cinder-csi")
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

_NOISY = ("urllib3", "kubernetes", "keystoneauth", "openstack", "stevedore")


def setup_logging(verbose: bool = False) -> None:
    """One format for every part's log file (the lab sends stdout and stderr there)."""
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def run_until_signalled(start: Callable[[], object], stop: Callable[[], object], name: str) -> int:
    """Call ``start``, then ``stop`` once SIGTERM or SIGINT arrives; return 0 when both are done.

    ``start`` may return at once (servers on threads) or block until ``stop`` makes it return
    (a controller's loop): ``stop`` runs on its own thread, so either shape works.
    """
    log = logging.getLogger(name)
    signalled = threading.Event()
    stopper = threading.Thread(target=stop, name="stop", daemon=True)

    def on_signal(signum, _frame) -> None:
        if not signalled.is_set():
            log.info("signal %d: stopping", signum)
            signalled.set()
            stopper.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start()
    signalled.wait()
    stopper.join()
    log.info("stopped")
    return 0
