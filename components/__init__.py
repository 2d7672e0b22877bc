"""One module per logical unit of the graph; __main__.py composes them."""

import atexit
import os
import sys
import threading

_clients_imported = threading.Event()


def wait_for_clients() -> None:
    """Called before a provider method imports the Kubernetes client or openstacksdk: in the dynamic
    provider's process they are imported once, by one thread (see below); elsewhere at once."""
    _clients_imported.wait()


def _import_clients() -> None:
    try:
        import kubernetes.client  # noqa: F401
        import openstack  # noqa: F401
    finally:
        _clients_imported.set()  # a failed import is raised again, with its message, where it is used


def _exit_without_teardown() -> None:
    """The dynamic provider's last step: the engine ends it with SIGINT once the operation is over
    and waits for it to exit, and the interpreter's teardown of the SDKs' and clients' modules took
    0.3-0.6 s there, at the end of every preview and up. atexit runs it after threading's shutdown has
    joined the gRPC workers (a method still running is finished first, as before), and it exits as
    the interpreter would: 1 after an unhandled exception, else 0 (pulumi.dynamic never calls exit)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if hasattr(sys, "last_value") else 0)


if getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None) == "pulumi.dynamic.__main__":
    # The dynamic provider's process (`python -m pulumi.dynamic`) runs several resources' methods at
    # once on its gRPC threads: two of them importing these clients together met a half-initialised
    # module ("cannot import name ... from partially initialized module 'requests.utils'"). One thread
    # imports them; methods that need them wait for it (wait_for_clients). In the background, because
    # the first steps (the floating-IP sweep's create, before the Service's) need neither, and the
    # ~0.6 s of imports were on the path to the load balancer's boot in every preview and up.
    threading.Thread(target=_import_clients, name="import-clients", daemon=True).start()
    atexit.register(_exit_without_teardown)
else:
    _clients_imported.set()
