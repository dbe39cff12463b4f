"""Which staged files the hook looks at, and where the tests it generates go."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from review_bot import git
from review_bot.config import Settings


def skipped_ids(environ: Mapping[str, str]) -> set[str]:
    """Hook ids in SKIP, as pre-commit reads it (comma-separated)."""
    return {part.strip() for part in environ.get("SKIP", "").split(",") if part.strip()}


def _tests_dir(settings: Settings) -> str:
    return posixpath.normpath(settings.tests_dir.replace(os.sep, "/")).strip("/") or "."


def generated_relpath(settings: Settings, module: str) -> str:
    """Where the generated tests of `module` go (apply.generated_test_path's layout)."""
    name = f"test_{module.replace('.', '_')}_generated.py"
    tests_dir = _tests_dir(settings)
    return name if tests_dir == "." else f"{tests_dir}/{name}"


_GENERATED_NAME = re.compile(r"test_.+_generated\.py")


def is_generated_path(settings: Settings, path: str) -> bool:
    directory, name = posixpath.split(path)
    return (directory or ".") == _tests_dir(settings) and bool(_GENERATED_NAME.fullmatch(name))


def is_source_candidate(settings: Settings, path: str) -> bool:
    """A staged file whose functions may be targets: Python, and not a test."""
    name = posixpath.basename(path)
    if not name.endswith(".py") or name == "conftest.py":
        return False
    if name.startswith("test_") or name.endswith("_test.py"):
        return False
    tests_dir = _tests_dir(settings)
    return tests_dir == "." or not (path + "/").startswith(tests_dir + "/")


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
