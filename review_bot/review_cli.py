"""`review-bot review`: verified suggestions on a pull request, posted as review comments."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from review_bot.config import CONVENTIONS, STRATEGY_CHOICES
from review_bot.errors import FatalError
from review_bot.github.annotations import LEVELS
from review_bot.github.client import GitHub, current_head
from review_bot.github.env import pull_request_from_env, step_summary_path, token_from
from review_bot.github.markdown import log_lines
from review_bot.github.plan import build_plan
from review_bot.github.plan_json import plan_to_json, read_plan
from review_bot.github.publish import FAIL_LEVELS, publish, should_fail
from review_bot.github.records import PullRequest, ReviewPlan
from review_bot.progress import ConsoleProgress


@click.command()
@click.option("--base", metavar="SHA", help="Base commit (else the pull_request event's).")
@click.option("--head", metavar="SHA", help="Head commit (else the pull_request event's).")
@click.option(
    "--pr", "number", type=click.IntRange(min=1), help="Pull request number (else the event's)."
)
@click.option("--repo", metavar="OWNER/NAME", help="Repository (else GITHUB_REPOSITORY).")
@click.option("--api-url", metavar="URL", help="GitHub API (else GITHUB_API_URL, else github's).")
@click.option(
    "--checkout",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The git checkout with both commits (full history).",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="GGUF model file (else REVIEW_BOT_MODEL, [tool.review-bot] model, bundled).",
)
@click.option("--base-url", metavar="URL", help="An OpenAI-compatible server instead of a file.")
@click.option("--gpu-layers", type=int, help="Layers offloaded to the GPU (-1: all).")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), help="How tests are written.")
@click.option("--convention", type=click.Choice(CONVENTIONS), help="Docstring convention.")
@click.option("--runs", type=click.IntRange(min=1), help="A kept test passes N of N runs.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--no-tests", is_flag=True, help="Docstrings only.")
@click.option("--no-docstrings", is_flag=True, help="Tests only.")
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="info",
    show_default=True,
    help="Annotation level when the token is read-only (notice, warning, error).",
)
@click.option(
    "--fail-level",
    type=click.Choice(FAIL_LEVELS),
    default="none",
    show_default=True,
    help="any: exit 1 when there is any verified suggestion.",
)
@click.option("--dry-run", is_flag=True, help="Print the review as JSON; post nothing.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --dry-run: write the JSON here instead of stdout.",
)
@click.option(
    "--post-from",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Post a review written by --dry-run; runs no model and no code of the PR.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries of a rate-limited or failed GitHub request.",
)
@click.option(
    "--retry-backoff",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="First wait before retrying a 5xx; doubles each time.",
)
@click.pass_context
def review(
    ctx: click.Context,
    base: str | None,
    head: str | None,
    number: int | None,
    repo: str | None,
    api_url: str | None,
    checkout: Path,
    model: Path | None,
    base_url: str | None,
    gpu_layers: int | None,
    strategy: str | None,
    convention: str | None,
    runs: int | None,
    no_cache: bool,
    no_tests: bool,
    no_docstrings: bool,
    level: str,
    fail_level: str,
    dry_run: bool,
    output: Path | None,
    post_from: Path | None,
    retries: int,
    retry_backoff: float,
) -> None:
    """Review a pull request: verified tests and docstrings as review comments.

    Reads the pull request from the Actions environment (GITHUB_EVENT_PATH,
    GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL); flags override each.
    """
    if output is not None and not dry_run:
        raise click.UsageError("--output goes with --dry-run")
    if post_from is not None and dry_run:
        raise click.UsageError("--post-from and --dry-run exclude each other")
    environ = os.environ
    pr = pull_request_from_env(
        environ, repo=repo, number=number, base=base, head=head, api_url=api_url
    )
    progress = ConsoleProgress()
    try:
        if post_from is not None:
            plan = read_plan(post_from)
            _post_from(
                plan,
                pr,
                explicit_head=head,
                level=level,
                retries=retries,
                backoff=retry_backoff,
                notice=progress.notice,
            )
        else:
            token = None
            if not dry_run:
                # Fail before the model runs, not after.
                token = token_from(environ)
                _target(pr.repo, pr.number)
            flags: dict[str, Any] = {
                "model": model,
                "strategy": strategy,
                "convention": convention,
                "runs": runs,
                "gpu_layers": gpu_layers,
                "base_url": base_url,
            }
            if base_url:
                flags["backend"] = "openai"
            if no_cache:
                flags["cache"] = False
            if no_tests:
                flags["tests"] = False
            if no_docstrings:
                flags["docstrings"] = False
            factory = (ctx.find_object(dict) or {}).get("backend_factory")
            plan = build_plan(
                checkout.absolute(), pr, flags, backend_factory=factory, progress=progress
            )
            progress.stop()
            for line in log_lines(plan):
                click.echo(line, err=True)
            if dry_run:
                text = json.dumps(plan_to_json(plan), indent=2) + "\n"
                if output is None:
                    click.echo(text, nl=False)
                else:
                    output.parent.mkdir(parents=True, exist_ok=True)
                    output.write_text(text, encoding="utf-8")
            else:
                assert token is not None
                github = GitHub(pr.api_url, token, retries=retries, backoff_s=retry_backoff)
                try:
                    repo_name, pr_number = _target(pr.repo, pr.number)
                    publish(
                        github,
                        plan,
                        repo_name,
                        pr_number,
                        level=level,
                        notice=progress.notice,
                        step_summary=step_summary_path(environ),
                    )
                finally:
                    github.close()
    finally:
        progress.stop()
    if should_fail(plan, fail_level):
        click.echo(
            f"review-bot: {len(plan.suggestions)} verified suggestions (--fail-level any)",
            err=True,
        )
        ctx.exit(1)


def _target(repo: str | None, number: int | None) -> tuple[str, int]:
    if repo is None:
        raise FatalError("no repository: set GITHUB_REPOSITORY or pass --repo OWNER/NAME")
    if number is None:
        raise FatalError("no pull request number: run on a pull_request event or pass --pr N")
    return repo, number


def _post_from(
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
    repo, number = _target(pr.repo or plan.repo, pr.number or plan.pr)
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
