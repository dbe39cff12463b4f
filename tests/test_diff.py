"""diff.py: changed line ranges and hunks from real `git diff` output, staged and PR."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from review_bot import diff as diff_module
from review_bot import git
from review_bot.diff import (
    FileDiff,
    Hunk,
    common_changes,
    intersects,
    lines_of,
    parse_diff,
    to_ranges,
    unquote_path,
)
from review_bot.errors import FatalError
from tests.helpers.repos import GitRepo, scrub_git_env


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo")


def staged(repo: GitRepo) -> list[FileDiff]:
    text = repo.git(
        "diff", "--cached", "-U0", "-M", "--src-prefix=a/", "--dst-prefix=b/"
    ).stdout.decode("utf-8", "surrogateescape")
    return parse_diff(text)


BEFORE = """\
def first(x):
    a = 1
    b = 2
    return x


def second(y):
    return y
"""


def test_added_changed_and_deleted_lines(repo: GitRepo) -> None:
    repo.write("m.py", BEFORE)
    repo.commit_all()
    # Change line 2, delete line 3, add two lines at the end of second().
    repo.write(
        "m.py", BEFORE.replace("    a = 1\n    b = 2\n", "    a = 10\n") + "    # one\n    # two\n"
    )
    repo.git("add", "m.py")
    [diff] = staged(repo)
    assert (diff.path, diff.old_path, diff.status, diff.binary) == (
        "m.py",
        "m.py",
        "modified",
        False,
    )
    assert diff.ranges == ((2, 2), (8, 9))


def test_pure_deletion_marks_the_line_above(repo: GitRepo) -> None:
    repo.write("m.py", BEFORE)
    repo.commit_all()
    repo.write("m.py", BEFORE.replace("    b = 2\n", ""))
    repo.git("add", "m.py")
    [diff] = staged(repo)
    # `b = 2` was line 3; line 2 (`a = 1`) is above it, inside first().
    assert diff.ranges == ((2, 2),)
    assert intersects(diff.ranges, 1, 4) and not intersects(diff.ranges, 6, 7)


# Two functions with no blank line between them: the line below a deletion at the end of
# first() is second()'s `def`.
ADJACENT = """\
def first(x):
    x += 1
    print(x)
def second(y):
    return y
"""


def test_deletion_at_the_end_of_a_function_marks_it_in_both_diffs(repo: GitRepo) -> None:
    # One rule for the staged diff (no context) and the PR's (three lines of context): the
    # line ABOVE the removed ones, so first() changed and second() did not.
    repo.write("m.py", ADJACENT)
    repo.commit_all()
    base = repo.git("rev-parse", "HEAD").stdout.decode().strip()
    repo.write("m.py", ADJACENT.replace("    print(x)\n", ""))
    repo.git("add", "m.py")
    handle = git.find_repo(repo.root)
    [staged_diff] = parse_diff(git.staged_diff(handle))
    repo.git("commit", "-q", "--no-verify", "-m", "drop the print")
    head = repo.git("rev-parse", "HEAD").stdout.decode().strip()
    [pr_diff] = parse_diff(git.three_dot_diff(handle, base, head))
    assert staged_diff.ranges == pr_diff.ranges == ((2, 2),)
    assert intersects(pr_diff.ranges, 1, 2) and not intersects(pr_diff.ranges, 3, 4)
    # Hunks: none for the staged pure deletion, the context lines for the PR's.
    assert staged_diff.hunks == () and pr_diff.hunks == (Hunk(1, 4),)


def test_hunks_of_a_staged_diff_and_hunk_of(repo: GitRepo) -> None:
    repo.write("m.py", BEFORE)
    repo.commit_all()
    repo.write("m.py", BEFORE.replace("    a = 1\n    b = 2\n", "    a = 10\n") + "    # one\n")
    repo.git("add", "m.py")
    [diff] = staged(repo)
    assert diff.hunks == (Hunk(2, 2), Hunk(8, 8))
    assert diff.hunk_of(8, 8) == Hunk(8, 8) and diff.hunk_of(2, 8) is None


def test_module_docstring_examples_run() -> None:
    # The deletion rule, shown on a staged and a PR diff of the same change.
    failed, attempted = doctest.testmod(diff_module, raise_on_error=False, verbose=False)
    assert attempted > 0 and failed == 0


def test_deletion_at_the_top_marks_line_one(repo: GitRepo) -> None:
    repo.write("m.py", "import os\n" + BEFORE)
    repo.commit_all()
    repo.write("m.py", BEFORE)
    repo.git("add", "m.py")
    assert staged(repo)[0].ranges == ((1, 1),)


def test_added_renamed_deleted_binary_and_odd_names(repo: GitRepo) -> None:
    repo.write("gone.py", "x = 1\n")
    repo.write("old name.py", BEFORE)
    repo.write('we"ird\tname.py', "a = 1\n")
    repo.commit_all()
    repo.git("rm", "-q", "gone.py")
    repo.git("mv", "old name.py", "new näme.py")
    repo.write('we"ird\tname.py', "a = 2\n")
    repo.write("blob.py", b"\x00\x01\x02")
    repo.write("dir/new.py", "def f():\n    return 1\n")
    repo.git("add", "-A")
    by_path = {d.path: d for d in staged(repo)}
    assert by_path["gone.py"].status == "deleted" and by_path["gone.py"].ranges == ((1, 1),)
    renamed = by_path["new näme.py"]
    assert (renamed.status, renamed.old_path, renamed.ranges) == ("renamed", "old name.py", ())
    assert by_path['we"ird\tname.py'].ranges == ((1, 1),)
    assert by_path["blob.py"].binary and by_path["blob.py"].status == "added"
    assert by_path["dir/new.py"].ranges == ((1, 2),) and by_path["dir/new.py"].old_path is None


def test_no_newline_at_end_of_file(repo: GitRepo) -> None:
    repo.write("m.py", "x = 1")
    repo.commit_all()
    repo.write("m.py", "x = 1\ny = 2")
    repo.git("add", "m.py")
    assert staged(repo)[0].ranges == ((1, 2),)


def test_unquote_path() -> None:
    assert unquote_path("plain name.py") == "plain name.py"
    assert unquote_path('"a/tab\\there.py"') == "a/tab\there.py"
    assert unquote_path('"q\\"uote\\\\.py"') == 'q"uote\\.py'
    assert unquote_path('"caf\\303\\251.py"') == "café.py"
    # A byte that is not UTF-8 survives as a surrogate, as os.fsdecode makes it.
    assert unquote_path('"x\\377.py"') == "x\udcff.py"
    assert unquote_path('"odd\\q"') == "odd\\q"


def test_ranges_helpers() -> None:
    assert to_ranges([5, 1, 2, 3, 9, 10]) == ((1, 3), (5, 5), (9, 10))
    assert lines_of(((1, 2), (4, 4))) == {1, 2, 4}
    assert intersects(((3, 5),), 5, 9) and not intersects(((3, 5),), 6, 9)


def test_common_changes_keeps_what_differs_from_every_parent() -> None:
    ours = [
        FileDiff("a.py", "a.py", "modified", False, ((1, 5),)),
        FileDiff("b.py", "b.py", "modified", False, ((2, 2),)),
    ]
    theirs = [FileDiff("a.py", "a.py", "modified", False, ((4, 9),))]
    assert common_changes([ours, theirs]) == [
        FileDiff("a.py", "a.py", "modified", False, ((4, 5),))
    ]
    assert common_changes([]) == []


def test_garbage_is_one_clear_error() -> None:
    with pytest.raises(FatalError, match="cannot read the output of git diff"):
        parse_diff("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n+only one line\n")


def test_paths_with_a_space_and_b_slash_are_read(tmp_path: Path) -> None:
    # Issue 22: a path containing ` b/` stopped the commit ("cannot read the output of git
    # diff"): git ends such names with a tab, and its `diff --git` header splits wrongly.
    repo = GitRepo.create(tmp_path / "repo")
    repo.git("config", "user.email", "dev@example.invalid")
    repo.git("config", "user.name", "Dev")
    repo.write("dir b/m.py", "def f():\n    return 1\n")
    repo.write("old b/n.py", "def g():\n    return 1\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "base")
    repo.write("dir b/m.py", "def f():\n    return 2\n")
    repo.write("new b/o.py", "def h():\n    return 3\n")
    (repo.root / "moved b").mkdir()
    repo.git("mv", "old b/n.py", "moved b/n.py")
    repo.write("moved b/n.py", "def g():\n    return 1\n\n\nX = 5\n")
    repo.git("add", "-A")
    found = {d.path: d for d in parse_diff(git.staged_diff(git.find_repo(repo.root)))}
    assert found["dir b/m.py"].status == "modified" and found["dir b/m.py"].ranges == ((2, 2),)
    assert found["new b/o.py"].status == "added" and found["new b/o.py"].ranges == ((1, 2),)
    assert found["moved b/n.py"].status == "renamed"
    assert found["moved b/n.py"].old_path == "old b/n.py"
