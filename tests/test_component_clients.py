"""components/__init__.py: in the dynamic provider's process the Kubernetes client and openstacksdk
are imported once, by one background thread, and methods wait for it; elsewhere nothing is imported."""
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


def run(code: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")


def test_the_provider_process_imports_the_clients_in_the_background_and_methods_wait_for_them():
    assert run(AS_DYNAMIC_PROVIDER)[:2] == ["background", "True"]


def test_the_program_imports_nothing_and_never_waits():
    assert run(AS_PROGRAM)[0] == "[] False"
