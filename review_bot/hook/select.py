"""Which staged files the hook is asked about: SKIP, and the FILES pre-commit passes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from review_bot import git


def skipped_ids(environ: Mapping[str, str]) -> set[str]:
    """Hook ids in SKIP, as pre-commit reads it (comma-separated)."""
    return {part.strip() for part in environ.get("SKIP", "").split(",") if part.strip()}


def repo_relative(repo: git.Repo, cwd: Path, names: Sequence[str]) -> set[str]:
    """`names` (relative to `cwd`) as paths in the repository; names outside it are left out."""
    out: set[str] = set()
    root = os.path.abspath(repo.root)
    for name in names:
        full = os.path.abspath(os.path.join(cwd, name))
        rel = os.path.relpath(full, root)
        if not rel.startswith(".."):
            out.add(rel.replace(os.sep, "/"))
    return out


def python_staged(cwd: Path, files: Sequence[Path]) -> bool:
    """Whether any Python file is staged (and among FILES, if given).

    The hook command asks this before importing the rest of the hook, so that a commit
    without a Python change costs one small git call. run.run_hook asks again, precisely.
    """
    if files:
        return any(f.suffix == ".py" for f in files)
    repo = git.find_repo(cwd)
    return any(c.status != "D" for c in git.staged_changes(repo, pattern="*.py"))
