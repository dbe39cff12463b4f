"""The pull request from the Actions environment: the event payload, variables and flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from review_bot.errors import FatalError
from review_bot.github.env import DEFAULT_API_URL, pull_request_from_env
from review_bot.github.records import PullRequest
from tests.helpers.github_plans import SHA1, SHA2


def test_pull_request_from_the_event_and_flags(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    pull = {"number": 3, "base": {"sha": SHA1}, "head": {"sha": SHA2}}
    payload = {"number": 3, "pull_request": pull}
    event.write_text(json.dumps(payload))
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r"}
    assert pull_request_from_env(env) == PullRequest("o/r", 3, SHA1, SHA2, DEFAULT_API_URL)
    got = pull_request_from_env(
        env | {"GITHUB_API_URL": "https://ghe.example/api/v3/"}, number=4, head="HEAD", repo="a/b"
    )
    assert got == PullRequest("a/b", 4, SHA1, "HEAD", "https://ghe.example/api/v3")
    assert pull_request_from_env({}).number is None
    with pytest.raises(FatalError, match="OWNER/NAME"):
        pull_request_from_env({"GITHUB_REPOSITORY": "../x"})
    event.write_text("{")
    with pytest.raises(FatalError, match="GITHUB_EVENT_PATH"):
        pull_request_from_env(env)
