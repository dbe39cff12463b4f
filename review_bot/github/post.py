"""Posting a review from the command line: to the pull request it was made for, or a plan
written by `--dry-run` and posted by a privileged job (`--post-from`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from review_bot.errors import FatalError
from review_bot.github.client import GitHub, current_head
from review_bot.github.env import step_summary_path, token_from
from review_bot.github.publish import publish
from review_bot.github.records import PullRequest, ReviewPlan


def target(repo: str | None, number: int | None) -> tuple[str, int]:
    """The repository and pull request number to post to; FatalError if either is unknown."""
    if repo is None:
        raise FatalError("no repository: set GITHUB_REPOSITORY or pass --repo OWNER/NAME")
    if number is None:
        raise FatalError("no pull request number: run on a pull_request event or pass --pr N")
    return repo, number


def post_plan(
    plan: ReviewPlan,
    pr: PullRequest,
    token: str,
    *,
    level: str,
    retries: int,
    backoff: float,
    notice: Callable[[str], None],
    environ: Mapping[str, str],
) -> None:
    """Post a plan just made for `pr`."""
    github = GitHub(pr.api_url, token, retries=retries, backoff_s=backoff)
    try:
        repo_name, pr_number = target(pr.repo, pr.number)
        publish(
            github,
            plan,
            repo_name,
            pr_number,
            level=level,
            notice=notice,
            step_summary=step_summary_path(environ),
        )
    finally:
        github.close()


def post_from(
    plan: ReviewPlan,
    pr: PullRequest,
    *,
    explicit_head: str | None,
    level: str,
    retries: int,
    backoff: float,
    notice: Callable[[str], None],
) -> None:
    """Post a plan made by an unprivileged job; its content is data, never code."""
    repo, number = target(pr.repo or plan.repo, pr.number or plan.pr)
    if plan.repo is not None and plan.repo.lower() != repo.lower():
        raise FatalError(f"the review is for {plan.repo}, not {repo}; not posting it")
    if pr.number is not None and plan.pr is not None and plan.pr != pr.number:
        raise FatalError(f"the review is for pull request #{plan.pr}, not #{pr.number}")
    # The workflow_run job passes --head from its event: a plan for any other commit (one
    # a fork wrote to comment on somebody else's pull request) is refused.
    expected = explicit_head or pr.head
    if expected is not None and expected != plan.head:
        raise FatalError(f"the review is for commit {plan.head}, not {expected}; not posting it")
    github = GitHub(pr.api_url, token_from(os.environ), retries=retries, backoff_s=backoff)
    try:
        current = current_head(github, repo, number)
        if current != plan.head:
            notice(
                f"review-bot: pull request #{number} has moved on to {current[:12]}; "
                f"not posting the review of {plan.head[:12]}"
            )
            return
        publish(
            github,
            plan,
            repo,
            number,
            level=level,
            notice=notice,
            step_summary=step_summary_path(),
        )
    finally:
        github.close()


def write_dry_run(text: str, output: Path) -> None:
    """The --dry-run JSON into --output, its directory made as needed."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
