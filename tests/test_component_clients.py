"""components/__init__.py: in the dynamic provider's process the Kubernetes client and openstacksdk
are imported once, by one background thread, and methods wait for it; elsewhere nothing is imported.
That process exits without the interpreter's teardown, with the interpreter's exit code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

AS_DYNAMIC_PROVIDER = """
import importlib.machinery, sys
sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("pulumi.dynamic.__main__", None)
import components
# the import returns before the clients' (hundreds of milliseconds of imports) are done
print("background" if not components._clients_imported.is_set() else "imported at once")
components.wait_for_clients()
print("kubernetes.client" in sys.modules and "openstack" in sys.modules)
"""

AS_PROGRAM = """
import sys, threading
import components
components.wait_for_clients()
print([t.name for t in threading.enumerate() if t.name == "import-clients"], "openstack" in sys.modules)
"""


# The atexit hook registered before components stands for the interpreter's teardown: it runs after
# components' own (LIFO), so it prints only if that one did not end the process. `finished` shows
# whether the worker thread (a gRPC method still running) was joined before the end.
EXITING = """
import atexit, importlib.machinery, sys
if {as_provider}:
    sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("pulumi.dynamic.__main__", None)
atexit.register(lambda: print("teardown"))
import components
components.wait_for_clients()
threading = __import__("threading")
finished = []
worker = threading.Thread(target=lambda: (__import__("time").sleep(0.5), finished.append(1)))
worker.start()
print("served", flush=True)
{ending}
"""


def run(code: str, returncode: int = 0) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == returncode, result.stderr
    return result.stdout.split("\n")


def test_the_provider_process_imports_the_clients_in_the_background_and_methods_wait_for_them():
    assert run(AS_DYNAMIC_PROVIDER)[:2] == ["background", "True"]


def test_the_program_imports_nothing_and_never_waits():
    assert run(AS_PROGRAM)[0] == "[] False"


def test_the_provider_process_ends_without_the_interpreters_teardown_once_its_threads_are_done():
    # A gRPC worker still running a method is joined first, as the interpreter does.
    lines = run(EXITING.format(as_provider=True, ending="atexit.register(lambda: print('joined', finished))"))
    assert lines[:2] == ["served", "joined [1]"]
    assert "teardown" not in lines


def test_the_provider_process_still_exits_1_after_an_unhandled_exception():
    lines = run(EXITING.format(as_provider=True, ending="raise RuntimeError('port in use')"), returncode=1)
    assert "teardown" not in lines


def test_elsewhere_the_interpreter_exits_as_usual():
    assert run(EXITING.format(as_provider=False, ending=""))[:2] == ["served", "teardown"]
