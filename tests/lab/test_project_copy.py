"""lab/project_copy.py: what a fresh clone has, plus the checkout's virtualenvs."""
from __future__ import annotations

import subprocess

import pytest

from lab.project_copy import copy_project


def _repo(root):
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("ignored.txt\nvenv/\npolicy/venv/\n")
    (root / "kept.py").write_text("tracked")
    (root / "gone.py").write_text("deleted after git add")
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    (root / "gone.py").unlink()
    (root / "new.py").write_text("untracked, not ignored")
    (root / "ignored.txt").write_text("ignored")
    return root


def test_copies_tracked_and_untracked_files_and_links_the_virtualenvs(tmp_path):
    source = _repo(tmp_path / "src")
    for venv in ("venv", "policy/venv"):
        (source / venv / "bin").mkdir(parents=True)
        (source / venv / "bin" / "python").write_text("")
    copy = copy_project(tmp_path / "copy", source)
    assert (copy / "kept.py").read_text() == "tracked" and (copy / "new.py").exists()
    assert not (copy / "ignored.txt").exists() and not (copy / "gone.py").exists()
    assert (copy / "venv").resolve() == (source / "venv").resolve() and (copy / "policy/venv").is_symlink()


def test_a_missing_virtualenv_names_the_fix(tmp_path):
    source = _repo(tmp_path / "src")
    with pytest.raises(FileNotFoundError, match="scripts/setup"):
        copy_project(tmp_path / "copy", source)
