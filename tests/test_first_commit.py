"""A new user's first commit: the real pre-commit installs review-bot from a git
repository (this checkout's snapshot) with pip, and `git commit` stages a verified test
written by the default model, with nothing set up but the documented entry
(docs/hook.md; bench/first_commit.py times it with an empty pip cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.first_commit import (
    GENERATED,
    commit_again,
    environment,
    first_commit,
    hook_repository,
    user_repository,
)


@pytest.mark.model
def test_the_documented_entry_stages_a_verified_test_on_the_first_commit(tmp_path: Path) -> None:
    env = environment(os.environ, tmp_path / "home")
    rev = hook_repository(tmp_path / "review-bot", env)
    user_repository(tmp_path / "project", tmp_path / "review-bot", rev, env)
    done = first_commit(tmp_path / "project", env)
    # The first commit staged the verified test; when the hook also inserted docstrings
    # into the working tree, pre-commit stopped it like a formatter's fix, and the user
    # takes them and commits again.
    assert GENERATED in done.staged, done.output
    assert "review-bot: staged tests/test_textutils_generated.py" in done.output
    if done.committed:
        committed = done.staged
    else:
        assert "files were modified by this hook" in done.output
        assert "inserted docstrings into textutils.py" in done.output
        committed = commit_again(tmp_path / "project", env)
    assert {GENERATED, "textutils.py"} <= set(committed)
    # The default model, assembled once from its packages into review-bot's home.
    assert "assembling Qwen2.5-Coder-0.5B-Instruct" in done.output
    assert any((tmp_path / "home" / "review-bot" / "models").glob("*.gguf"))
    # What was staged passes where it landed, with the project's own layout.
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", GENERATED],
        cwd=tmp_path / "project",
        capture_output=True,
        text=True,
        check=False,
        env={**env, "PYTHONPATH": str(tmp_path / "project")},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=tmp_path / "project", env=env,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert status == ""  # everything committed, nothing of the user's left behind
