"""The pull request, the token and the job summary file, from the Actions environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from review_bot.errors import FatalError
from review_bot.github.records import REPO_RE, PullRequest, WorkflowRun

DEFAULT_API_URL = "https://api.github.com"


def read_event(environ: Mapping[str, str]) -> Any:
    """The event payload at GITHUB_EVENT_PATH, or {} without one."""
    event_path = environ.get("GITHUB_EVENT_PATH")
    if not event_path:
        return {}
    try:
        return json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FatalError(f"GITHUB_EVENT_PATH {event_path}: cannot read: {exc}") from None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def workflow_run_from_env(environ: Mapping[str, str]) -> WorkflowRun | None:
    """The `workflow_run` of the event, if it is one: the facts a plan is checked against."""
    event = read_event(environ)
    run = event.get("workflow_run") if isinstance(event, dict) else None
    if not isinstance(run, dict):
        return None
    head_repo = run.get("head_repository")
    pulls = run.get("pull_requests")
    numbers = tuple(
        p["number"]
        for p in (pulls if isinstance(pulls, list) else [])
        if isinstance(p, dict) and isinstance(p.get("number"), int)
    )
    return WorkflowRun(
        head_sha=_str(run.get("head_sha")),
        head_repository=_str(head_repo.get("full_name")) if isinstance(head_repo, dict) else None,
        head_branch=_str(run.get("head_branch")),
        pull_requests=numbers,
    )


def pull_request_from_env(
    environ: Mapping[str, str],
    *,
    repo: str | None = None,
    number: int | None = None,
    base: str | None = None,
    head: str | None = None,
    api_url: str | None = None,
) -> PullRequest:
    """Flags first, then the event payload (GITHUB_EVENT_PATH) and GITHUB_* variables."""
    event = read_event(environ)
    pull = event.get("pull_request") if isinstance(event, dict) else None
    pull = pull if isinstance(pull, dict) else {}

    def sha(side: str) -> str | None:
        value = pull.get(side)
        found = value.get("sha") if isinstance(value, dict) else None
        return found if isinstance(found, str) else None

    if number is None:
        found = pull.get("number", event.get("number") if pull else None)
        number = found if isinstance(found, int) and not isinstance(found, bool) else None
    repo = repo or environ.get("GITHUB_REPOSITORY") or None
    if repo is not None and not REPO_RE.match(repo):
        raise FatalError(f"repository must be OWNER/NAME, not {repo!r}")
    if number is not None and number < 1:
        raise FatalError(f"pull request number must be positive, not {number}")
    url = (api_url or environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise FatalError(f"GitHub API URL must start with https:// or http://, not {url!r}")
    return PullRequest(repo, number, base or sha("base"), head or sha("head"), url)


def token_from(environ: Mapping[str, str]) -> str:
    token = environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise FatalError(
            "no GitHub token: set GITHUB_TOKEN (the action passes ${{ github.token }}), "
            "or use --dry-run"
        )
    return token


def step_summary_path(environ: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None
