"""A copy of the project as a fresh clone has it, with the checkout's virtualenvs linked in.

Deploying in the lab creates stacks, which writes an ``encryptionsalt`` into the stack file;
the tests, the benchmark and scripts/try work on such a copy so the checkout stays as it is.

    python -m lab.project_copy TARGET      (prints TARGET)
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VIRTUALENVS = ("venv", "policy/venv")


def copy_project(target: Path, source: Path = REPO) -> Path:
    """Copy what git tracks or would track (untracked, not ignored) into ``target``; link the
    virtualenvs that scripts/setup made. A missing virtualenv is an error naming the fix."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=source,
                            capture_output=True, text=True, check=True).stdout
    for relative in filter(None, listed.split("\0")):
        path = source / relative
        if path.is_file():  # a file deleted in the work tree but still in the index is skipped
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    for venv in VIRTUALENVS:
        if not (source / venv / "bin" / "python").exists():
            raise FileNotFoundError(f"{source / venv} is missing: run ./scripts/setup")
        (target / venv).parent.mkdir(parents=True, exist_ok=True)
        (target / venv).symlink_to(source / venv)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m lab.project_copy TARGET")
    print(copy_project(Path(sys.argv[1]).resolve()))
