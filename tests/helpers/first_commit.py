"""A new user's first commit through pre-commit, as docs/hook.md tells it.

`hook_repository` snapshots this checkout (what `git ls-files` would ship, uncommitted
edits included) into a git repository that a `.pre-commit-config.yaml` can name;
`user_repository` makes a fresh project whose only review-bot set-up is the documented
entry; `first_commit` installs the hook and commits, timing pre-commit's environment
install and the commit apart; when the hook inserted docstrings, pre-commit stops that
commit as it does for a formatter, and `commit_again` takes them and commits. Used by
tests/test_first_commit.py (the shared pip cache) and bench/first_commit.py (an empty one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
IDENTITY = {
    "GIT_AUTHOR_NAME": "New User",
    "GIT_AUTHOR_EMAIL": "new.user@example.com",
    "GIT_COMMITTER_NAME": "New User",
    "GIT_COMMITTER_EMAIL": "new.user@example.com",
}
MODULE = """\
def word_count(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
"""
GENERATED = "tests/test_textutils_generated.py"


class FirstCommit(NamedTuple):
    install_s: float  # pre-commit install-hooks: the hook's environment
    commit_s: float  # git commit: the hook's first run, the model's assembly included
    output: str  # what git commit printed
    committed: bool  # False: the hook inserted docstrings, so pre-commit stopped the commit
    staged: list[str]  # what the commit holds, or what is staged for the next one


def environment(base: Mapping[str, str], home: Path) -> dict[str, str]:
    """A clean environment: no GIT_*, no REVIEW_BOT_*, pre-commit's and review-bot's homes
    under `home`, no user git configuration."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("GIT_", "REVIEW_BOT_", "PRE_COMMIT", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env.update(IDENTITY)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        REVIEW_BOT_HOME=str(home / "review-bot"),
    )
    return env


def _git(cwd: Path, env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def hook_repository(dest: Path, env: Mapping[str, str]) -> str:
    """This checkout as a one-commit git repository at `dest`; its commit id."""
    listed = _git(ROOT, env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    dest.mkdir(parents=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(dest, env, "init", "-q")
    _git(dest, env, "add", "-A")
    _git(dest, env, "commit", "-q", "-m", "snapshot")
    return _git(dest, env, "rev-parse", "HEAD").strip()


def user_repository(root: Path, hook_repo: Path, rev: str, env: Mapping[str, str]) -> None:
    """A fresh project: one module, a pyproject.toml without any review-bot setting, and
    the documented `.pre-commit-config.yaml` entry."""
    root.mkdir(parents=True)
    _git(root, env, "init", "-q")
    (root / "pyproject.toml").write_text('[project]\nname = "textutils"\nversion = "0.1"\n')
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n    hooks:\n      - id: llm-tests\n"
    )
    _git(root, env, "add", "pyproject.toml", ".pre-commit-config.yaml")
    _git(root, env, "commit", "-q", "-m", "project")
    (root / "textutils.py").write_text(MODULE)


def _run(
    argv: list[str], root: Path, env: Mapping[str, str], timeout_s: float
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=root,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )
    return time.monotonic() - start, done


def first_commit(root: Path, env: Mapping[str, str], timeout_s: float = 1800) -> FirstCommit:
    """`pre-commit install`, its environment, then `git add` and `git commit`."""
    for argv in ([str(PRE_COMMIT), "install"], [str(PRE_COMMIT), "install-hooks"]):
        install_s, done = _run(argv, root, env, timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[1:])}: {done.stdout}{done.stderr}")
    _git(root, env, "add", "textutils.py")
    commit_s, commit = _run(["git", "commit", "-m", "word count"], root, env, timeout_s)
    output = commit.stdout + commit.stderr
    if commit.returncode == 0:
        staged = _git(root, env, "show", "--name-only", "--format=", "HEAD").split()
    else:
        staged = _git(root, env, "diff", "--cached", "--name-only").split()
    return FirstCommit(install_s, commit_s, output, commit.returncode == 0, staged)


def commit_again(root: Path, env: Mapping[str, str], timeout_s: float = 600) -> list[str]:
    """After a formatter-like stop: take the inserted docstrings and commit; the paths
    in the new commit."""
    _git(root, env, "add", "-u")
    _, commit = _run(["git", "commit", "-m", "word count"], root, env, timeout_s)
    if commit.returncode != 0:
        raise RuntimeError(f"the second git commit failed:\n{commit.stdout}{commit.stderr}")
    return _git(root, env, "show", "--name-only", "--format=", "HEAD").split()
