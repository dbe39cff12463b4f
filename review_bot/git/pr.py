"""git for the pull request review: the commits, their three-dot diff, the head's tree.

GitHub accepts a review comment only on a line inside one of the diff's hunks (context
lines included), on the RIGHT (head) side; the diff here is the one GitHub shows: against
the merge base (`base...head`), three lines of context. Every call goes through
`plumbing.run` (via `Repo.git`), like the hook's; none needs GitPython.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from review_bot.errors import FatalError
from review_bot.git.plumbing import GitError, Repo, head

# Options that keep the user's configuration from changing what the diff looks like;
# `run` adds core.quotepath=false, so non-ASCII paths come raw and only odd ones quoted.
_DIFF_OPTIONS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--unified=3",
    "--find-renames",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def resolve_commit(repo: Repo, rev: str, what: str) -> str:
    """The full SHA of `rev`; a clear message when the checkout lacks it (a shallow clone)."""
    try:
        # --verify checks that the object exists: a full SHA alone is taken on trust.
        result = repo.git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
    except GitError:
        raise FatalError(
            f"{what} commit {rev} is not in this checkout; check out with full history "
            "(actions/checkout with fetch-depth: 0)"
        ) from None
    return result.stdout.decode().strip()


def three_dot_diff(repo: Repo, base: str, head: str) -> str:
    """`git diff base...head` as text, in a form unidiff parses whatever the user's config."""
    data = repo.git("diff", *_DIFF_OPTIONS, f"{base}...{head}", "--").stdout
    # Only line numbers matter here; a non-UTF-8 file must not stop the review.
    return data.decode("utf-8", "replace")


def persisted_credentials(repo: Repo) -> bool:
    """Whether git's config holds an auth header (actions/checkout's persist-credentials).

    Generated tests run as the same user and could read it by an absolute path.
    """
    try:
        found = repo.git("config", "--get-regexp", r"^http\..*\.extraheader$").stdout
    except GitError:
        return False  # git config exits 1 when nothing matches
    return bool(found.strip())


def at_head(repo: Repo, commit: str) -> bool:
    """Whether the working tree is a clean checkout of `commit` (then it is used as is):
    HEAD is that commit and neither the index nor the tracked files differ from it."""
    if head(repo) != commit:
        return False
    quiet = ("diff", "--quiet", "--no-ext-diff", "--no-textconv")  # exit code 1: differs
    return all(
        repo.git(*quiet, *cached, ok=(0, 1)).returncode == 0 for cached in (["--cached"], [])
    )


@contextlib.contextmanager
def head_tree(repo: Repo, commit: str) -> Iterator[Path]:
    """A directory holding the tree of `commit`: the working tree when it is at that commit,
    else an export of it (the Actions checkout of a pull request is the merge commit, whose
    line numbers are not the head's)."""
    # Imported here: the hook imports this package at every commit and needs none of them.
    import shutil
    import tarfile
    import tempfile

    if at_head(repo, commit):
        yield repo.root
        return
    directory = Path(tempfile.mkdtemp(prefix="review-bot-head-"))
    try:
        archive = directory / ".head.tar"
        repo.git("archive", "--format=tar", f"--output={archive}", commit)
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
