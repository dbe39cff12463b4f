"""Posting a plan: one review with the new inline comments, one summary comment edited in
place, stale comments of ours removed; annotations and the job summary when the token is
read-only.

It needs the token, and neither the checkout nor the model, so the fork-safe workflow can
post a plan made by an unprivileged job without running any of the pull request's code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from review_bot.errors import FatalError
from review_bot.github.annotations import annotation
from review_bot.github.client import GitHub, GitHubError, ReadOnlyError, UnprocessableError
from review_bot.github.markdown import render_summary
from review_bot.github.plan_json import comment_payload, review_payload
from review_bot.github.records import MARKER_RE, SUMMARY_MARKER, ReviewPlan

FAIL_LEVELS = ("none", "any")


class Published(NamedTuple):
    review_id: int | None
    posted: tuple[str, ...]  # fingerprints posted inline by this run
    present: tuple[str, ...]  # fingerprints already inline from an earlier run
    unplaced: tuple[str, ...]  # fingerprints written into the summary instead
    deleted: tuple[int, ...]  # ids of stale comments removed
    summary_id: int | None
    degraded: bool


def _ours(comment: Mapping[str, Any]) -> tuple[str, str | None] | None:
    body = comment.get("body")
    match = MARKER_RE.search(body) if isinstance(body, str) else None
    return (match.group(1), match.group(2)) if match else None


def publish(
    github: GitHub,
    plan: ReviewPlan,
    repo: str,
    number: int,
    *,
    level: str = "info",
    notice: Callable[[str], None] = lambda message: None,
    stdout: TextIO | None = None,
    step_summary: Path | None = None,
) -> Published:
    """Post the plan: one review with the new comments, the summary edited in place, stale
    comments of ours deleted. A token that cannot write degrades to annotations."""
    pulls = f"repos/{repo}/pulls"
    issues = f"repos/{repo}/issues"
    current_code = {c.code for c in plan.checked}
    want = {s.fingerprint: s for s in plan.suggestions}
    try:
        existing = github.paginate(f"{pulls}/{number}/comments")
        replied = {c.get("in_reply_to_id") for c in existing if c.get("in_reply_to_id")}
        present: set[str] = set()
        stale: list[int] = []
        for comment in existing:
            found = _ours(comment)
            if found is None or comment.get("in_reply_to_id"):
                continue
            fp, code = found
            outdated = comment.get("line") is None  # GitHub's mark of a line that has gone
            if fp in want and not outdated and fp not in present:
                present.add(fp)
                continue
            gone = outdated or (code not in current_code if code else fp not in want)
            duplicate = fp in present
            if (gone or duplicate) and comment.get("id") not in replied:
                stale.append(int(comment["id"]))
        new = [s for s in plan.suggestions if s.inline and s.fingerprint not in present]
        posted: list[str] = []
        # An inline comment from an earlier run still stands even if the hunks moved.
        unplaced = [
            s.fingerprint for s in plan.suggestions if not (s.inline or s.fingerprint in present)
        ]
        review_id: int | None = None
        if new:
            try:
                review = github.json("POST", f"{pulls}/{number}/reviews", review_payload(plan, new))
                review_id = review.get("id") if isinstance(review, dict) else None
                posted = [s.fingerprint for s in new]
                notice(f"review-bot: posted a review with {len(new)} comments")
            except UnprocessableError as exc:
                # GitHub names no culprit: post one comment at a time, keep the valid ones,
                # move the rest into the summary.
                notice(f"review-bot: {exc}; posting the comments one at a time")
                for s in new:
                    comment = comment_payload(s) | {"commit_id": plan.head}
                    try:
                        github.json("POST", f"{pulls}/{number}/comments", comment)
                        posted.append(s.fingerprint)
                    except UnprocessableError:
                        unplaced.append(s.fingerprint)
                notice(
                    f"review-bot: posted {len(posted)} comments; "
                    f"{len(new) - len(posted)} moved to the summary"
                )
        for comment_id in stale:
            try:
                github.request("DELETE", f"{pulls}/comments/{comment_id}")
            except GitHubError as exc:
                if exc.status != 404:  # already gone: somebody was quicker
                    raise
        if stale:
            notice(f"review-bot: deleted {len(stale)} comments on code that has changed")
        inline = (set(posted) | present) - set(unplaced)
        summary = render_summary(plan, inline)
        summary_id = _upsert_summary(github, issues, number, summary, bool(plan.checked))
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
        return Published(None, (), (), tuple(want), (), None, True)
    _append_step_summary(step_summary, summary)
    return Published(
        review_id,
        tuple(posted),
        tuple(sorted(present)),
        tuple(unplaced),
        tuple(stale),
        summary_id,
        False,
    )


def _upsert_summary(
    github: GitHub, issues: str, number: int, body: str, has_content: bool
) -> int | None:
    comments = github.paginate(f"{issues}/{number}/comments")
    mine = [c for c in comments if SUMMARY_MARKER in str(c.get("body", ""))]
    if mine:
        comment_id = int(mine[0]["id"])
        if mine[0].get("body") != body:
            github.json("PATCH", f"{issues}/comments/{comment_id}", {"body": body})
        return comment_id
    if not has_content:
        return None  # a pull request without a changed function gets no comment at all
    created = github.json("POST", f"{issues}/{number}/comments", {"body": body})
    return int(created["id"]) if isinstance(created, dict) and "id" in created else None


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
