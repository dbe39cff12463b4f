"""Posting a review from the command line: to the pull request it was made for, or a plan
written by `--dry-run` and posted by a privileged job (`--post-from`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from review_bot.errors import FatalError
from review_bot.github.client import GitHub, GitHubError
from review_bot.github.env import step_summary_path, token_from, workflow_run_from_env
from review_bot.github.plan import body_problem
from review_bot.github.publish import publish
from review_bot.github.records import PullRequest, ReviewPlan, WorkflowRun


class Posting(NamedTuple):
    """How to post: the annotation level, the posting identity, the retries and their sleep
    (a test passes one that records instead of sleeping)."""

    level: str
    login: str | None
    retries: int
    backoff: float
    notice: Callable[[str], None]
    sleep: Callable[[float], None] = time.sleep

    def client(self, api_url: str, token: str) -> GitHub:
        return GitHub(
            api_url, token, retries=self.retries, backoff_s=self.backoff, sleep=self.sleep
        )


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
    how: Posting,
    environ: Mapping[str, str],
) -> None:
    """Post a plan just made for `pr`."""
    github = how.client(pr.api_url, token)
    try:
        repo_name, pr_number = target(pr.repo, pr.number)
        publish(
            github,
            plan,
            repo_name,
            pr_number,
            level=how.level,
            login=how.login,
            notice=how.notice,
            step_summary=step_summary_path(environ),
        )
    finally:
        github.close()


def _head_of(pull: Any) -> tuple[str | None, str | None, str | None]:
    """A pull request's head: its SHA, the OWNER/NAME of its repository, its branch."""
    head = pull.get("head") if isinstance(pull, dict) else None
    head = head if isinstance(head, dict) else {}
    repo = head.get("repo")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    values = (head.get("sha"), name, head.get("ref"))
    return tuple(v if isinstance(v, str) else None for v in values)  # type: ignore[return-value]


def check_run(run: WorkflowRun, number: int, pull: Any) -> None:
    """The pull request must be the one the workflow run checked: the artifact's `pr` is
    the fork's word, and another pull request may have the same head commit. GitHub lists
    the run's pull requests for a branch of this repository; for a fork's it lists none,
    and the pull request's head repository and branch must be the run's."""
    if run.pull_requests and number not in run.pull_requests:
        runs = ", ".join(f"#{n}" for n in run.pull_requests)
        raise FatalError(f"the workflow run was for {runs}, not #{number}; not posting it")
    _, repo, branch = _head_of(pull)
    if run.head_repository is None or run.head_branch is None:
        if not run.pull_requests:
            raise FatalError(
                "the workflow_run event names no head repository and branch and no pull "
                "request; not posting"
            )
        return
    if (repo or "").lower() != run.head_repository.lower() or branch != run.head_branch:
        raise FatalError(
            f"pull request #{number} is from {repo}:{branch}, the workflow run was of "
            f"{run.head_repository}:{run.head_branch}; not posting it"
        )


def post_from(
    plan: ReviewPlan,
    pr: PullRequest,
    *,
    explicit_head: str | None,
    how: Posting,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Post a plan made by an unprivileged job; its content is data, never code."""
    environ = os.environ if environ is None else environ
    run = workflow_run_from_env(environ)
    repo, number = target(pr.repo or plan.repo, pr.number or plan.pr)
    if plan.repo is not None and plan.repo.lower() != repo.lower():
        raise FatalError(f"the review is for {plan.repo}, not {repo}; not posting it")
    if pr.number is not None and plan.pr is not None and plan.pr != pr.number:
        raise FatalError(f"the review is for pull request #{plan.pr}, not #{pr.number}")
    # The commit the workflow run checked (--head, else its event): a plan for any other
    # commit (one a fork wrote to comment on somebody else's pull request) is refused.
    expected = explicit_head or (run.head_sha if run else None) or pr.head
    if expected is not None and expected != plan.head:
        raise FatalError(f"the review is for commit {plan.head}, not {expected}; not posting it")
    for suggestion in plan.suggestions:
        # The plan is the unprivileged job's output: each comment is checked against what
        # review-bot renders for its content, and the content screened again.
        problem = body_problem(suggestion)
        if problem is not None:
            raise FatalError(
                f"the review's suggestion for {suggestion.qualname} in {suggestion.path}: "
                f"{problem}; not posting it"
            )
    github = how.client(pr.api_url, token_from(environ))
    try:
        pull = github.json("GET", f"repos/{repo}/pulls/{number}")
        current, _, _ = _head_of(pull)
        if current is None:
            raise GitHubError(f"GitHub API: pull request {repo}#{number} has no head SHA")
        if run is not None:
            check_run(run, number, pull)
        if current != plan.head:
            how.notice(
                f"review-bot: pull request #{number} has moved on to {current[:12]}; "
                f"not posting the review of {plan.head[:12]}"
            )
            return
        publish(
            github,
            plan,
            repo,
            number,
            level=how.level,
            login=how.login,
            notice=how.notice,
            step_summary=step_summary_path(environ),
        )
    finally:
        github.close()


def write_dry_run(text: str, output: Path) -> None:
    """The --dry-run JSON into --output, its directory made as needed."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
