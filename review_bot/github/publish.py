"""Posting a plan: one review with the new inline comments, one summary comment edited in
place, stale comments of ours removed; annotations and the job summary when the token is
read-only.

It needs the token, and neither the checkout nor the model, so the fork-safe workflow can
post a plan made by an unprivileged job without running any of the pull request's code.

A comment is review-bot's only when the posting identity wrote it (`client.identity`):
anybody can type a marker, and a stranger's comment must never be edited, deleted as
stale, or taken for a suggestion already made. Of its own inline comments it keeps one per
function (the code hash) and kind: a re-run whose model wrote other words for unchanged
code posts nothing new.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from review_bot.errors import FatalError
from review_bot.github.annotations import annotation
from review_bot.github.client import (
    ForbiddenError,
    GitHub,
    GitHubError,
    ReadOnlyError,
    UncertainError,
    UnprocessableError,
    author,
    identity,
)
from review_bot.github.markdown import render_summary
from review_bot.github.plan_json import comment_payload, review_payload
from review_bot.github.records import MARKER_RE, SUMMARY_MARKER, ReviewPlan, Suggestion

FAIL_LEVELS = ("none", "any")
Notice = Callable[[str], None]


class Published(NamedTuple):
    review_id: int | None
    posted: tuple[str, ...]  # fingerprints posted inline by this run
    present: tuple[str, ...]  # fingerprints already inline from an earlier run
    unplaced: tuple[str, ...]  # fingerprints written into the summary instead
    deleted: tuple[int, ...]  # ids of stale comments removed
    summary_id: int | None
    degraded: bool


class Marked(NamedTuple):
    """One of review-bot's own top-level review comments, read from its marker."""

    id: int
    fingerprint: str
    code: str | None
    kind: str | None  # None: a comment from before markers named the kind
    outdated: bool  # GitHub's `line: null`: its line has gone from the diff

    @property
    def key(self) -> tuple[str, str]:
        """One comment per function and kind; an old marker is known by its fingerprint."""
        if self.code and self.kind:
            return (self.kind, self.code)
        return ("fp", self.fingerprint)


def suggestion_key(s: Suggestion) -> tuple[str, str]:
    return (s.kind, s.code)


def ours(comments: list[dict[str, Any]], login: str) -> list[Marked]:
    """The top-level review comments `login` wrote that carry a marker, in order."""
    found: list[Marked] = []
    for comment in comments:
        body = comment.get("body")
        match = MARKER_RE.search(body) if isinstance(body, str) else None
        if match is None or author(comment) != login or comment.get("in_reply_to_id"):
            continue
        fp, code, kind = match.groups()
        found.append(Marked(int(comment["id"]), fp, code, kind, comment.get("line") is None))
    return found


def sort_existing(
    existing: list[dict[str, Any]], plan: ReviewPlan, login: str
) -> tuple[set[str], list[int]]:
    """Which suggestions already stand (by fingerprint, or by function and kind), and
    which of our comments are stale: outdated, about code that has gone, or a second
    comment for one function and kind. A comment somebody replied to stays."""
    replied = {c.get("in_reply_to_id") for c in existing if c.get("in_reply_to_id")}
    by_fp = {s.fingerprint: s for s in plan.suggestions}
    by_key = {suggestion_key(s): s for s in plan.suggestions}
    current_code = {c.code for c in plan.checked}
    present: set[str] = set()
    claimed: set[tuple[str, str]] = set()
    stale: list[int] = []
    for mine in ours(existing, login):
        wanted = by_fp.get(mine.fingerprint) or by_key.get(mine.key)
        keep = False
        if not mine.outdated and mine.key not in claimed:
            if wanted is not None and wanted.fingerprint not in present:
                present.add(wanted.fingerprint)
                claimed.add(suggestion_key(wanted))
                keep = True
            elif wanted is None and mine.code is not None and mine.code in current_code:
                keep = True  # the function is unchanged; this run made no such suggestion
            if keep:
                claimed.add(mine.key)
        if not keep and mine.id not in replied:
            stale.append(mine.id)
    return present, stale


def _post_review(
    github: GitHub,
    plan: ReviewPlan,
    pulls: str,
    number: int,
    new: list[Suggestion],
    login: str,
    notice: Notice,
) -> int | None:
    """POST the review. An answer that may hide a review GitHub made after all (a 502) is
    followed by a look at the comments, and only what is still missing is posted again."""
    remaining = list(new)
    for attempt in range(github.retries + 1):
        try:
            payload = review_payload(plan, remaining)
            review = github.json("POST", f"{pulls}/{number}/reviews", payload)
        except UncertainError as exc:
            if attempt == github.retries:
                raise
            notice(f"review-bot: {exc}; looking whether it was posted before posting again")
            github.backoff(attempt)
            comments = github.paginate(f"{pulls}/{number}/comments")
            there = {m.fingerprint for m in ours(comments, login)}
            remaining = [s for s in remaining if s.fingerprint not in there]
            if not remaining:
                return None
            continue
        return review.get("id") if isinstance(review, dict) else None
    raise AssertionError("unreachable")  # pragma: no cover


def _post_one_by_one(
    github: GitHub, plan: ReviewPlan, pulls: str, number: int, new: list[Suggestion], login: str
) -> tuple[list[str], list[str]]:
    """After a 422 on the whole review: each comment alone; the posted and the refused."""
    posted: list[str] = []
    refused: list[str] = []
    for s in new:
        body = comment_payload(s) | {"commit_id": plan.head}
        for attempt in range(github.retries + 1):
            try:
                github.json("POST", f"{pulls}/{number}/comments", body)
                posted.append(s.fingerprint)
            except UnprocessableError:
                refused.append(s.fingerprint)
            except UncertainError:
                if attempt == github.retries:
                    raise
                github.backoff(attempt)
                comments = github.paginate(f"{pulls}/{number}/comments")
                if s.fingerprint not in {m.fingerprint for m in ours(comments, login)}:
                    continue
                posted.append(s.fingerprint)
            break
    return posted, refused


def publish(
    github: GitHub,
    plan: ReviewPlan,
    repo: str,
    number: int,
    *,
    level: str = "info",
    login: str | None = None,
    notice: Notice = lambda message: None,
    stdout: TextIO | None = None,
    step_summary: Path | None = None,
) -> Published:
    """Post the plan: one review with the new comments, the summary edited in place, stale
    comments of ours deleted. A token that cannot write degrades to annotations.

    `login` is the posting identity; None asks GitHub (`client.identity`)."""
    pulls = f"repos/{repo}/pulls"
    issues = f"repos/{repo}/issues"
    try:
        me = identity(github, login)
        existing = github.paginate(f"{pulls}/{number}/comments")
        present, stale = sort_existing(existing, plan, me)
        new = [s for s in plan.suggestions if s.inline and s.fingerprint not in present]
        posted: list[str] = []
        # An inline comment from an earlier run still stands even if the hunks moved.
        unplaced = [
            s.fingerprint for s in plan.suggestions if not (s.inline or s.fingerprint in present)
        ]
        review_id: int | None = None
        if new:
            try:
                review_id = _post_review(github, plan, pulls, number, new, me, notice)
                posted = [s.fingerprint for s in new]
                notice(f"review-bot: posted a review with {len(new)} comments")
            except UnprocessableError as exc:
                # GitHub names no culprit: post one comment at a time, keep the valid ones,
                # move the rest into the summary.
                notice(f"review-bot: {exc}; posting the comments one at a time")
                posted, refused = _post_one_by_one(github, plan, pulls, number, new, me)
                unplaced += refused
                notice(
                    f"review-bot: posted {len(posted)} comments; "
                    f"{len(refused)} moved to the summary"
                )
        deleted = _delete(github, pulls, stale, notice)
        inline = (set(posted) | present) - set(unplaced)
        summary = render_summary(plan, inline)
        summary_id = _upsert_summary(
            github, issues, number, summary, bool(plan.checked), me, notice
        )
    except ReadOnlyError as exc:
        notice(
            f"review-bot: {exc}: the token cannot write to this pull request (a fork?); "
            "writing annotations and the job summary instead"
        )
        out = stdout if stdout is not None else sys.stdout
        for s in plan.suggestions:
            out.write(annotation(s, level) + "\n")
        out.flush()
        note = (
            "The token could not write to the pull request (a pull request from a fork has a "
            "read-only token), so the suggestions are here and as annotations."
        )
        _append_step_summary(step_summary, render_summary(plan, set(), heading_note=note))
        wanted = tuple(s.fingerprint for s in plan.suggestions)
        return Published(None, (), (), wanted, (), None, True)
    _append_step_summary(step_summary, summary)
    return Published(
        review_id,
        tuple(posted),
        tuple(sorted(present)),
        tuple(unplaced),
        tuple(deleted),
        summary_id,
        False,
    )


def _delete(github: GitHub, pulls: str, stale: list[int], notice: Notice) -> list[int]:
    deleted: list[int] = []
    for comment_id in stale:
        try:
            github.request("DELETE", f"{pulls}/comments/{comment_id}")
        except ForbiddenError as exc:
            notice(f"review-bot: cannot delete comment {comment_id}, leaving it: {exc}")
            continue
        except GitHubError as exc:
            if exc.status != 404:  # already gone: somebody was quicker
                raise
        deleted.append(comment_id)
    if deleted:
        notice(f"review-bot: deleted {len(deleted)} comments on code that has changed")
    return deleted


def _find_summary(github: GitHub, issues: str, number: int, login: str) -> dict[str, Any] | None:
    """The first issue comment `login` wrote with the summary marker."""
    for comment in github.paginate(f"{issues}/{number}/comments"):
        if author(comment) == login and SUMMARY_MARKER in str(comment.get("body", "")):
            return comment
    return None


def _upsert_summary(
    github: GitHub,
    issues: str,
    number: int,
    body: str,
    has_content: bool,
    login: str,
    notice: Notice,
) -> int | None:
    mine = _find_summary(github, issues, number, login)
    if mine is not None:
        comment_id = int(mine["id"])
        if mine.get("body") == body:
            return comment_id
        try:
            github.json("PATCH", f"{issues}/comments/{comment_id}", {"body": body})
            return comment_id
        except ForbiddenError as exc:
            # Not a read-only token (that shows on creating): this one comment is refused.
            notice(f"review-bot: cannot edit summary comment {comment_id} ({exc}); posting anew")
    elif not has_content:
        return None  # a pull request without a changed function gets no comment at all
    for attempt in range(github.retries + 1):
        try:
            created = github.json("POST", f"{issues}/{number}/comments", {"body": body})
        except UncertainError:
            if attempt == github.retries:
                raise
            github.backoff(attempt)
            found = _find_summary(github, issues, number, login)
            if found is not None and found.get("body") == body:
                return int(found["id"])
            continue
        return int(created["id"]) if isinstance(created, dict) and "id" in created else None
    raise AssertionError("unreachable")  # pragma: no cover


def _append_step_summary(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(text + "\n")
    except OSError as exc:
        raise FatalError(f"GITHUB_STEP_SUMMARY {path}: cannot write: {exc}") from None


def should_fail(plan: ReviewPlan, fail_level: str) -> bool:
    """--fail-level any: a non-zero exit when there is any verified suggestion."""
    return fail_level == "any" and bool(plan.suggestions)
