"""The records of a pull request review, and the markers and limits several modules share."""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from review_bot.records import Disagreement, RunStats

SUMMARY_MARKER = "<!-- review-bot:summary -->"
REVIEW_MARKER = "<!-- review-bot:review -->"
# Every inline comment carries its fingerprint (what it suggests), the hash of the code it is
# about and its kind, so a re-run recognises its own comments (by their author first: anybody
# can write a marker), those whose code has gone, and keeps one per function and kind.
MARKER_RE = re.compile(
    r"<!-- review-bot:fp=([0-9a-f]{8,64})(?: code=([0-9a-f]{8,64}))?"
    r"(?: kind=(docstring|test))? -->"
)
MAX_BODY = 65_000  # GitHub refuses comment bodies over 65,536 characters
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/(?!\.\.?$)[A-Za-z0-9_.-]+$")

Kind = Literal["docstring", "test"]


class Suggestion(NamedTuple):
    """One thing to post: a docstring suggestion or a kept test, on head-side lines."""

    kind: Kind
    path: str  # repository-relative, POSIX
    qualname: str
    line: int  # the comment's (last) line on the RIGHT side
    start_line: int | None  # first line of a multi-line comment
    body: str  # the comment's Markdown, markers included
    content: str  # the suggested lines (docstring) or the test module (test)
    fingerprint: str
    code: str  # hash of the function's source at head
    inline: bool  # its lines lie inside one hunk of the diff
    destination: str | None  # where a test would go


class Decision(NamedTuple):
    """What became of a test or a docstring for one function: the core's outcome, less
    the code (a kept one is a Suggestion)."""

    status: str  # kept | rejected | skipped
    reason: str | None
    attempts: tuple[str, ...]
    disagreements: tuple[Disagreement, ...] = ()  # of a kept test (generate/oracle.py)
    mutation: tuple[int, int] | None = None  # a kept test's mutants (killed, total)


class Checked(NamedTuple):
    """One changed function and what became of it."""

    name: str  # module.qualname
    path: str
    line: int
    code: str
    test: Decision
    docstring: Decision


class ReviewPlan(NamedTuple):
    repo: str | None
    pr: int | None
    base: str
    head: str
    files: tuple[str, ...]  # the changed Python files
    checked: tuple[Checked, ...]
    suggestions: tuple[Suggestion, ...]
    notes: tuple[str, ...]  # files that could not be read, and the like
    stats: RunStats  # its model's path is the file's name only


class PullRequest(NamedTuple):
    repo: str | None
    number: int | None
    base: str | None
    head: str | None
    api_url: str


class WorkflowRun(NamedTuple):
    """The run a `workflow_run` event is about: what it checked, and of which branch."""

    head_sha: str | None
    head_repository: str | None  # OWNER/NAME of the head branch's repository (a fork's)
    head_branch: str | None
    pull_requests: tuple[int, ...]  # empty for a fork's pull request
