"""The pull request's side of the git layer (git/pr.py) and its diff as the review plan
reads it, from real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot import git
from review_bot.diff import FileDiff, Hunk, intersects, parse_diff
from review_bot.errors import FatalError
from review_bot.github.plan import build_plan
from review_bot.github.records import PullRequest
from tests.helpers.repos import commit, scrub_git_env
from tests.helpers.repos import git as git_cli

BASE = "".join(f"line{n}\n" for n in range(1, 31))


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git_cli(path, "init", "-q", "-b", "main")
    return path


def pr_diff(repo: Path, base: str, head: str) -> list[FileDiff]:
    handle = git.find_repo(repo)
    return parse_diff(git.three_dot_diff(handle, base, head))


def test_hunks_and_ranges_of_the_three_dot_diff(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE, "gone.py": "x = 1\n", "img.bin": "\0\1"}, "base")
    git_cli(repo, "checkout", "-q", "-b", "feature")
    changed = BASE.replace("line5\n", "five\n").replace("line25\n", "l25\nextra\n")
    (repo / "gone.py").unlink()
    head = commit(repo, {"a.py": changed, "new.py": "def f():\n    pass\n"}, "feature")
    # main moves on after the branch: its change is not part of the pull request.
    git_cli(repo, "checkout", "-q", "main")
    commit(repo, {"a.py": BASE.replace("line15\n", "fifteen\n")}, "main moves")
    files = {f.path: f for f in pr_diff(repo, "main", head)}
    # The deleted file is reported, with no head side to comment on; the review skips it.
    assert set(files) == {"a.py", "new.py", "gone.py"}
    assert files["gone.py"].status == "deleted" and files["gone.py"].hunks == ()
    a = files["a.py"]
    assert a.status == "modified" and a.hunks == (Hunk(2, 8), Hunk(22, 29))
    assert a.ranges == ((5, 5), (25, 26))
    assert a.hunk_of(22, 29) == Hunk(22, 29) and a.hunk_of(8, 22) is None
    assert intersects(a.ranges, 1, 5) and not intersects(a.ranges, 10, 20)
    new = files["new.py"]
    assert new.status == "added" and new.hunks == (Hunk(1, 2),) and new.ranges == ((1, 2),)
    assert base != head


def test_a_function_that_only_lost_lines_has_changed(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE}, "base")
    head = commit(repo, {"a.py": BASE.replace("line12\n", "").replace("line30\n", "")}, "head")
    [a] = pr_diff(repo, base, head)
    assert a.hunks == (Hunk(9, 14), Hunk(26, 28))
    # The rule changed with the one parser (issue 8): a deletion marks the line ABOVE it, as
    # in the staged diff, no longer the line now standing in its place (that gave {12, 28}).
    # line11 (new line 11) stood above line12; line29 (new line 28) above line30.
    assert a.ranges == ((11, 11), (28, 28))
    assert intersects(a.ranges, 10, 12) and intersects(a.ranges, 28, 28)
    assert not intersects(a.ranges, 13, 27)


def test_quoted_and_non_ascii_paths_are_the_real_paths(repo: Path) -> None:
    names = ["café.py", "tab\there.py", 'q"uote.py', "dir/naïve name.py"]
    base = commit(repo, dict.fromkeys(names, "x = 1\n"), "base")
    head = commit(repo, dict.fromkeys(names, "x = 2\n"), "head")
    files = {f.path: f for f in pr_diff(repo, base, head)}
    assert set(files) == set(names)
    assert all(f.status == "modified" and f.ranges == ((1, 1),) for f in files.values())
    assert files["café.py"].hunk_of(1, 1) == Hunk(1, 1)


def test_deleted_and_binary_files_are_reported_and_skipped_by_the_review(repo: Path) -> None:
    base = commit(repo, {"gone.py": "def f():\n    return 1\n", "keep.txt": "k\n"}, "base")
    (repo / "gone.py").unlink()
    (repo / "blob.py").write_bytes(b"\x00\x01\x02def g():\n")
    head = commit(repo, {}, "head")
    files = {f.path: f for f in pr_diff(repo, base, head)}
    assert files["gone.py"].status == "deleted" and not files["gone.py"].binary
    assert files["blob.py"].status == "added" and files["blob.py"].binary
    pr = PullRequest("octo/demo", 1, base, head, "https://api.github.com")
    plan = build_plan(repo, pr, {})
    # Neither is reviewed, nor noted as unreadable: no file, no function, no model.
    assert plan.files == () and plan.checked == () and plan.notes == ()


def test_head_tree_is_the_working_tree_at_head_else_an_export(repo: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    head = commit(repo, {"a.py": "x = 2\n", "pkg/b.py": "y = 1\n"}, "head")
    handle = git.find_repo(repo / "pkg")  # found from a subdirectory
    with git.head_tree(handle, head) as tree:
        assert tree == repo.resolve()
    git_cli(repo, "checkout", "-q", "HEAD~1")
    with git.head_tree(handle, head) as tree:
        assert tree != repo.resolve() and (tree / "a.py").read_text() == "x = 2\n"
        assert (tree / "pkg" / "b.py").is_file() and not (tree / ".git").exists()
    assert not tree.exists()  # removed afterwards
    # An uncommitted edit means the working tree is not the head either.
    git_cli(repo, "checkout", "-q", head)
    assert git.at_head(handle, head)
    (repo / "a.py").write_text("edited\n")
    assert not git.at_head(handle, head)
    # Nor does a staged one that the working tree undoes.
    git_cli(repo, "add", "a.py")
    (repo / "a.py").write_text("x = 2\n")
    assert not git.at_head(handle, head)


def test_missing_commits_and_non_repositories_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    with pytest.raises(FatalError, match=r"base commit 0{40} is not in this checkout.*depth: 0"):
        git.resolve_commit(git.find_repo(repo), "0" * 40, "base")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(FatalError, match="not inside a git repository"):
        git.find_repo(plain)
    # Unrelated histories have no merge base: git's own words, with the command.
    orphan = commit(repo, {"a.py": "x = 2\n"}, "second")
    git_cli(repo, "checkout", "-q", "--orphan", "other")
    other = commit(repo, {"b.py": "y = 1\n"}, "orphan")
    with pytest.raises(FatalError, match=r"command failed: git .* diff .*return code \d+.*stderr"):
        pr_diff(repo, orphan, other)


def test_persisted_credentials_are_detected(repo: Path) -> None:
    handle = git.find_repo(repo)
    assert not git.persisted_credentials(handle)
    git_cli(repo, "config", "http.https://example.invalid/.extraheader", "AUTHORIZATION: basic x")
    assert git.persisted_credentials(handle)
