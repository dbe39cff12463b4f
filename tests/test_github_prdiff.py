"""The pull request's diff, as the review plan reads it, from real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot import prdiff
from review_bot.errors import FatalError
from tests.helpers.repos import commit, git

BASE = "".join(f"line{n}\n" for n in range(1, 31))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_hunks_and_added_lines_of_the_three_dot_diff(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE, "gone.py": "x = 1\n", "img.bin": "\0\1"}, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    changed = BASE.replace("line5\n", "five\n").replace("line25\n", "l25\nextra\n")
    (repo / "gone.py").unlink()
    head = commit(repo, {"a.py": changed, "new.py": "def f():\n    pass\n"}, "feature")
    # main moves on after the branch: its change is not part of the pull request.
    git(repo, "checkout", "-q", "main")
    commit(repo, {"a.py": BASE.replace("line15\n", "fifteen\n")}, "main moves")
    files = {f.path: f for f in prdiff.pr_diff(prdiff.open_repo(repo), "main", head)}
    assert set(files) == {"a.py", "new.py"}  # the deleted file has no head side
    a = files["a.py"]
    assert a.hunks == (prdiff.Hunk(2, 8), prdiff.Hunk(22, 29))
    assert a.added == frozenset({5, 25, 26})
    assert a.hunk_of(22, 29) == prdiff.Hunk(22, 29) and a.hunk_of(8, 22) is None
    assert a.changes(1, 5) and not a.changes(10, 20)
    assert files["new.py"].hunks == (prdiff.Hunk(1, 2),) and files["new.py"].added == {1, 2}
    assert base != head


def test_a_function_that_only_lost_lines_has_changed(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE}, "base")
    head = commit(repo, {"a.py": BASE.replace("line12\n", "").replace("line30\n", "")}, "head")
    [a] = prdiff.pr_diff(prdiff.open_repo(repo), base, head)
    assert a.added == frozenset() and a.hunks == (prdiff.Hunk(9, 14), prdiff.Hunk(26, 28))
    # Where line12 was now stands line13 (new line 12); line30 went at the end of the file.
    assert a.deleted_at == frozenset({12, 28})
    assert a.changes(10, 12) and a.changes(28, 28) and not a.changes(13, 27)


def test_head_tree_is_the_working_tree_at_head_else_an_export(repo: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    head = commit(repo, {"a.py": "x = 2\n", "pkg/b.py": "y = 1\n"}, "head")
    handle = prdiff.open_repo(repo / "pkg")  # found from a subdirectory
    with prdiff.head_tree(handle, head) as tree:
        assert tree == repo
    git(repo, "checkout", "-q", "HEAD~1")
    with prdiff.head_tree(handle, head) as tree:
        assert tree != repo and (tree / "a.py").read_text() == "x = 2\n"
        assert (tree / "pkg" / "b.py").is_file() and not (tree / ".git").exists()
    assert not tree.exists()  # removed afterwards
    # An uncommitted edit means the working tree is not the head either.
    git(repo, "checkout", "-q", head)
    (repo / "a.py").write_text("edited\n")
    assert not prdiff.at_head(handle, head)


def test_missing_commits_and_non_repositories_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    with pytest.raises(FatalError, match=r"base commit 0{40} is not in this checkout.*depth: 0"):
        prdiff.resolve(prdiff.open_repo(repo), "0" * 40, "base")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(FatalError, match="not inside a git checkout"):
        prdiff.open_repo(plain)
    # Unrelated histories have no merge base: git's own words, with the command.
    orphan = commit(repo, {"a.py": "x = 2\n"}, "second")
    git(repo, "checkout", "-q", "--orphan", "other")
    other = commit(repo, {"b.py": "y = 1\n"}, "orphan")
    with pytest.raises(FatalError, match=r"`git diff .*` failed with code \d+; .*stderr"):
        prdiff.pr_diff(prdiff.open_repo(repo), orphan, other)


def test_persisted_credentials_are_detected(repo: Path) -> None:
    handle = prdiff.open_repo(repo)
    assert not prdiff.persisted_credentials(handle)
    git(repo, "config", "http.https://example.invalid/.extraheader", "AUTHORIZATION: basic x")
    assert prdiff.persisted_credentials(handle)
