"""The plan as JSON: a round trip, and the strict reading of an untrusted document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from review_bot.errors import FatalError
from review_bot.github.plan_json import plan_from_json, plan_to_json
from review_bot.github.records import MAX_BODY
from tests.helpers.github_plans import plan, suggestion


def test_plan_round_trips_through_json() -> None:
    original = plan(suggestion(), suggestion(kind="test", inline=False, destination="t.py"))
    data = json.loads(json.dumps(plan_to_json(original)))
    assert plan_from_json(data) == original
    assert data["review"]["comments"] == [
        {"path": "a.py", "body": original.suggestions[0].body, "line": 3, "side": "RIGHT"}
    ]
    assert "| `a.f` `a.py:3` | rejected: fail | kept (inline) |" in data["summary"]
    assert "*fail*: a test failed" in data["summary"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"review_bot": 2}, "version 2"),
        ({"head": "main"}, "full commit SHAs"),
        ({"repo": "not a repo"}, "OWNER/NAME"),
        ({"pr": "7"}, "'pr' has the wrong type"),
        ({"pr": True}, "'pr' has the wrong type"),
        ({"suggestions": [{"kind": "shell"}]}, "unknown suggestion kind"),
        ({"notes": [1]}, "'notes' must be strings"),
    ],
)
def test_plan_from_json_refuses_bad_documents(change: dict[str, Any], message: str) -> None:
    data = plan_to_json(plan(suggestion())) | change
    with pytest.raises(FatalError, match=message):
        plan_from_json(json.loads(json.dumps(data)))


def test_bad_line_numbers_and_huge_bodies_are_refused() -> None:
    data = plan_to_json(plan(suggestion()))
    data["suggestions"][0]["start_line"] = 5  # after `line`
    with pytest.raises(FatalError, match="bad line numbers"):
        plan_from_json(data)
    data["suggestions"][0] |= {"start_line": None, "body": "x" * (MAX_BODY + 1)}
    with pytest.raises(FatalError, match="'body' is too long"):
        plan_from_json(data)
