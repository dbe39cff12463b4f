"""The pull request's diff from the local checkout: `git diff base...head`, per file hunks.

GitHub accepts a review comment only on a line inside one of the diff's hunks (context
lines included), on the RIGHT (head) side. This module computes those hunks the way
GitHub does (three-dot diff against the merge base, three lines of context) and hands out
the head version of the tree, so that the core can run on the changed functions.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import git
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from review_bot.errors import FatalError


class Hunk(NamedTuple):
    """The new-side (RIGHT) lines of one hunk, inclusive, 1-based."""

    start: int
    end: int


class FileDiff(NamedTuple):
    path: str  # the head-side path, relative to the repository root, POSIX separators
    hunks: tuple[Hunk, ...]
    added: frozenset[int]  # head-side line numbers added or changed by the PR
    # Head-side lines where the PR deleted lines: the line now standing in their place (or
    # the one before, at the end of a hunk). A function that only lost lines has changed.
    deleted_at: frozenset[int] = frozenset()

    def hunk_of(self, start: int, end: int) -> Hunk | None:
        """The one hunk holding every line of [start, end], if any."""
        for hunk in self.hunks:
            if hunk.start <= start and end <= hunk.end:
                return hunk
        return None

    def changes(self, start: int, end: int) -> bool:
        """Whether the PR added, changed or deleted lines within [start, end]."""
        return any(start <= line <= end for line in self.added | self.deleted_at)


def _git_error(exc: git.GitCommandError) -> FatalError:
    command = " ".join(str(part) for part in exc.command)
    stdout = (exc.stdout or "").strip()
    stderr = (exc.stderr or "").strip()
    return FatalError(
        f"`{command}` failed with code {exc.status}; stdout: {stdout!r}; stderr: {stderr!r}"
    )


def open_repo(path: Path) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise FatalError(f"{path}: not inside a git checkout") from None


def resolve(repo: git.Repo, rev: str, what: str) -> str:
    """The full SHA of `rev`; a clear message when the checkout lacks it (a shallow clone)."""
    try:
        # --verify checks that the object exists: a full SHA alone is taken on trust.
        found: Any = repo.git.rev_parse(
            "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
    except git.GitCommandError:
        raise FatalError(
            f"{what} commit {rev} is not in this checkout; check out with full history "
            "(actions/checkout with fetch-depth: 0)"
        ) from None
    return str(found).strip()


def diff_text(repo: git.Repo, base: str, head: str) -> str:
    """`git diff base...head`, in a form unidiff parses whatever the user's git config says."""
    try:
        data: Any = repo.git.diff(
            f"{base}...{head}",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--unified=3",
            "--find-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
    except git.GitCommandError as exc:
        raise _git_error(exc) from None
    assert isinstance(data, bytes)
    # Only line numbers matter here; a non-UTF-8 file must not stop the review.
    return data.decode("utf-8", "replace")


def parse_diff(text: str) -> list[FileDiff]:
    """Hunks and added lines per file that exists on the head side."""
    try:
        patch = PatchSet.from_string(text)
    except UnidiffParseError as exc:
        raise FatalError(f"cannot parse the output of git diff: {exc}") from None
    files: list[FileDiff] = []
    for patched in patch:
        if patched.is_removed_file or patched.is_binary_file:
            continue
        path = patched.target_file
        path = path[2:] if path.startswith("b/") else path
        hunks: list[Hunk] = []
        added: set[int] = set()
        deleted_at: set[int] = set()
        for hunk in patched:
            if hunk.target_length > 0:
                hunks.append(Hunk(hunk.target_start, hunk.target_start + hunk.target_length - 1))
            pending = False  # deleted lines not yet placed on the head side
            last: int | None = None
            for line in hunk:
                if line.is_removed:
                    pending = True
                    continue
                if line.target_line_no is None:
                    continue  # "\ No newline at end of file"
                if line.is_added:
                    added.add(line.target_line_no)
                if pending:
                    deleted_at.add(line.target_line_no)
                    pending = False
                last = line.target_line_no
            if pending and last is not None:
                deleted_at.add(last)
        files.append(FileDiff(path, tuple(hunks), frozenset(added), frozenset(deleted_at)))
    return files


def pr_diff(repo: git.Repo, base: str, head: str) -> list[FileDiff]:
    return parse_diff(diff_text(repo, base, head))


def persisted_credentials(repo: git.Repo) -> bool:
    """Whether git's config holds an auth header (actions/checkout's persist-credentials).

    Generated tests run as the same user and could read it by an absolute path.
    """
    try:
        found: Any = repo.git.config("--get-regexp", r"^http\..*\.extraheader$")
    except git.GitCommandError:
        return False  # git config exits 1 when nothing matches
    return bool(str(found).strip())


def at_head(repo: git.Repo, head: str) -> bool:
    """Whether the working tree is a clean checkout of `head` (then it is used as is)."""
    if repo.working_tree_dir is None or not repo.head.is_valid():
        return False
    return repo.head.commit.hexsha == head and not repo.is_dirty(untracked_files=False)


@contextlib.contextmanager
def head_tree(repo: git.Repo, head: str) -> Iterator[Path]:
    """A directory holding the tree of `head`: the working tree when it is at head, else an
    export of the commit (the Actions checkout of a pull request is the merge commit, whose
    line numbers are not the head's)."""
    if at_head(repo, head):
        assert repo.working_tree_dir is not None
        yield Path(repo.working_tree_dir)
        return
    directory = Path(tempfile.mkdtemp(prefix="review-bot-head-"))
    try:
        archive = directory / ".head.tar"
        with archive.open("wb") as stream:
            try:
                repo.git.archive(head, format="tar", output_stream=stream)
            except git.GitCommandError as exc:
                raise _git_error(exc) from None
        tree = directory / "tree"
        tree.mkdir()
        with tarfile.open(archive) as tar:
            # The "data" filter refuses absolute paths and links out of the tree.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tree, filter="data")
            else:  # pragma: no cover - Python < 3.10.12
                tar.extractall(tree)
        archive.unlink()
        yield tree
    finally:
        shutil.rmtree(directory, ignore_errors=True)
