"""`review-bot review`: verified suggestions on a pull request, posted as review comments.

Parsing and echo; the work is github/ (plan, post) and the core below it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from review_bot.commands.options import (
    backend_factory,
    backend_options,
    generation_options,
    model_options,
    oracle_options,
    settings_flags,
    what_options,
)
from review_bot.errors import EXIT_FATAL, EXIT_OK
from review_bot.github import post
from review_bot.github.annotations import LEVELS
from review_bot.github.env import pull_request_from_env, token_from
from review_bot.github.markdown import log_lines
from review_bot.github.plan import build_plan
from review_bot.github.plan_json import plan_to_json, read_plan
from review_bot.github.publish import FAIL_LEVELS, should_fail
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
@model_options
@backend_options(backend_help=None, base_url_help="An OpenAI-compatible server instead of a file.")
@click.option("--gpu-layers", type=int, help="Layers offloaded to the GPU (-1: all).")
@generation_options()
@what_options
@oracle_options
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
@click.option(
    "--bot-login",
    metavar="LOGIN",
    envvar="REVIEW_BOT_BOT_LOGIN",
    help="Whose comments are review-bot's (else GET /user's login, else github-actions[bot]).",
)
@click.pass_context
def review(
    ctx: click.Context,
    /,
    base: str | None,
    head: str | None,
    number: int | None,
    repo: str | None,
    api_url: str | None,
    checkout: Path,
    level: str,
    fail_level: str,
    dry_run: bool,
    output: Path | None,
    post_from: Path | None,
    retries: int,
    retry_backoff: float,
    bot_login: str | None,
    **options: Any,
) -> int:
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
    obj = ctx.find_object(dict) or {}
    # The test seam for the GitHub client's waits (see commands/options.py).
    how = post.Posting(
        level, bot_login, retries, retry_backoff, progress.notice, obj.get("sleep", time.sleep)
    )
    try:
        if post_from is not None:
            plan = read_plan(post_from)
            post.post_from(plan, pr, explicit_head=head, how=how, environ=environ)
        else:
            token = None
            if not dry_run:
                # Fail before the model runs, not after.
                token = token_from(environ)
                post.target(pr.repo, pr.number)
            plan = build_plan(
                checkout.absolute(),
                pr,
                settings_flags(options),
                backend_factory=backend_factory(ctx),
                progress=progress,
            )
            progress.stop()
            for line in log_lines(plan):
                click.echo(line, err=True)
            if dry_run:
                text = json.dumps(plan_to_json(plan), indent=2) + "\n"
                if output is None:
                    click.echo(text, nl=False)
                else:
                    post.write_dry_run(text, output)
            else:
                assert token is not None
                post.post_plan(plan, pr, token, how, environ)
    finally:
        progress.stop()
    if should_fail(plan, fail_level):
        click.echo(
            f"review-bot: {len(plan.suggestions)} verified suggestions (--fail-level any)",
            err=True,
        )
        return EXIT_FATAL
    return EXIT_OK
