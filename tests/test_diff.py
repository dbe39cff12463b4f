"""diff.py: changed line ranges from real `git diff` output."""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.diff import (
    FileDiff,
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
    with pytest.raises(FatalError, match="cannot read the staged diff"):
        parse_diff("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n+only one line\n")
