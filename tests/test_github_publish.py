"""Publishing a plan; the rest of publishing is tested end to end in test_review_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.github.client import GitHub
from review_bot.github.publish import publish
from review_bot.github.records import SUMMARY_MARKER
from tests.helpers.github_plans import SHA1, SHA2, plan, suggestion
from tests.helpers.github_stub import (
    BOT_LOGIN,
    FORBIDDEN_MESSAGE,
    READ_ONLY_MESSAGE,
    GitHubStub,
)


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    with GitHubStub(prefix="/api/v3") as server:
        server.add_pull(1, base=SHA1, head=SHA2)
        yield server


@pytest.fixture
def github(stub: GitHubStub) -> Iterator[GitHub]:
    with GitHub(stub.url, stub.token, backoff_s=0.5, sleep=[].append) as client:
        yield client


def test_publish_on_a_fork_writes_annotations_and_the_job_summary(
    stub: GitHubStub, github: GitHub, tmp_path: Path
) -> None:
    stub.read_only = True
    out = tmp_path / "stdout"
    summary = tmp_path / "summary.md"
    notices: list[str] = []
    with out.open("w") as stdout:
        result = publish(
            github,
            plan(suggestion(start_line=1)),
            "o/r",
            1,
            level="warning",
            notice=notices.append,
            stdout=stdout,
            step_summary=summary,
        )
    assert result.degraded and result.posted == ()
    assert out.read_text().startswith("::warning file=a.py,line=1,endLine=3,title=")
    assert "could not write" in summary.read_text() and "replace lines 1-3" in summary.read_text()
    assert READ_ONLY_MESSAGE in notices[0]


# -- issue 12: only the posting identity's comments are review-bot's --------------------------

CODE = "abcdef0123456789abcd"  # the checked function's code hash in `plan()`


def marked(fp: str, code: str = CODE, kind: str = "docstring") -> str:
    return f"<!-- review-bot:fp={fp} code={code} kind={kind} -->\nsomething"


def test_a_strangers_markers_are_not_ours(stub: GitHubStub, github: GitHub) -> None:
    s = suggestion()
    summary = stub.add_comment("issue", 1, f"{SUMMARY_MARKER}\nmine, says a stranger", "mallory")
    # A forged fingerprint of the coming suggestion, and one "about code that has gone".
    forged = stub.add_comment("review", 1, marked(s.fingerprint), "mallory")
    bait = stub.add_comment("review", 1, marked("f" * 20, code="0" * 20), "octocat")
    result = publish(github, plan(s), "o/r", 1)
    assert not result.degraded and result.posted == (s.fingerprint,)
    assert stub.calls("PATCH") == [] and stub.calls("DELETE") == []
    assert summary["body"] == f"{SUMMARY_MARKER}\nmine, says a stranger"
    assert forged in stub.review_comments and bait in stub.review_comments
    [ours] = [c for c in stub.issue_comments if c["user"]["login"] == BOT_LOGIN]
    assert result.summary_id == ours["id"]
    # The next run edits its own summary, still not the stranger's.
    publish(github, plan(s), "o/r", 1)
    assert [c["id"] for c in stub.issue_comments] == [summary["id"], ours["id"]]


def test_the_identity_comes_from_get_user_or_is_given(tmp_path: Path) -> None:
    with GitHubStub(actions_token=False, login="review-app[bot]") as stub:
        stub.add_pull(1, base=SHA1, head=SHA2)
        old = stub.add_comment("review", 1, marked("e" * 20, code="0" * 20), "review-app[bot]")
        with GitHub(stub.url, stub.token, sleep=[].append) as github:
            result = publish(github, plan(suggestion()), "o/r", 1)
        assert result.deleted == (old["id"],)  # its own stale comment: found by /user's login
        with GitHub(stub.url, stub.token, sleep=[].append) as github:
            publish(github, plan(suggestion()), "o/r", 1, login="someone-else")
        assert len(stub.calls("GET", "^/user$")) == 1
        # Under another identity the comments above are not its own: posted again.
        assert len(stub.reviews) == 2 and len(stub.issue_comments) == 2


def test_a_403_on_editing_is_not_a_read_only_token(stub: GitHubStub, github: GitHub) -> None:
    publish(github, plan(suggestion()), "o/r", 1)
    [summary] = stub.issue_comments
    stub.fail("PATCH", r"/issues/comments/\d+$", 403, message=FORBIDDEN_MESSAGE)
    notices: list[str] = []
    changed = plan(suggestion())._replace(notes=("a note: the summary changes",))
    result = publish(github, changed, "o/r", 1, notice=notices.append)
    assert not result.degraded
    assert not any("fork" in n for n in notices)
    assert any(f"cannot edit summary comment {summary['id']}" in n for n in notices)
    assert len(stub.issue_comments) == 2  # posted anew instead


def test_one_comment_per_function_and_kind(stub: GitHubStub, github: GitHub) -> None:
    first = suggestion(body=marked("0123456789abcdef0123"))
    publish(github, plan(first), "o/r", 1)
    [comment] = stub.review_comments
    # A re-run on unchanged code: the model worded it differently (another fingerprint).
    again = first._replace(fingerprint="2" * 20, body=marked("2" * 20), content="other words")
    stub.requests.clear()
    result = publish(github, plan(again), "o/r", 1)
    assert stub.calls("POST", "/reviews$") == [] and stub.calls("DELETE") == []
    assert result.present == (again.fingerprint,) and stub.review_comments == [comment]
    # A second comment of ours for the same function and kind (an older run's) goes.
    twin = dict(comment, id=comment["id"] + 1000, body=marked("3" * 20))
    stub.review_comments.append(twin)
    result = publish(github, plan(again), "o/r", 1)
    assert result.deleted == (twin["id"],) and stub.review_comments == [comment]


def test_a_502_that_made_the_review_does_not_make_two(stub: GitHubStub, github: GitHub) -> None:
    stub.fail("POST", "/reviews$", 502, applied=True)
    stub.fail("POST", r"/issues/1/comments$", 502, applied=True)
    notices: list[str] = []
    s = suggestion(body=marked("0123456789abcdef0123"))
    result = publish(github, plan(s), "o/r", 1, notice=notices.append)
    assert len(stub.reviews) == 1 and len(stub.review_comments) == 1
    assert len(stub.calls("POST", "/reviews$")) == 1  # looked, found it, posted nothing more
    assert len(stub.issue_comments) == 1 and result.summary_id == stub.issue_comments[0]["id"]
    assert any("looking whether it was posted" in n for n in notices)


def test_a_502_that_made_nothing_is_posted_again(stub: GitHubStub, github: GitHub) -> None:
    stub.fail("POST", "/reviews$", 502)
    publish(github, plan(suggestion()), "o/r", 1)
    assert len(stub.calls("POST", "/reviews$")) == 2 and len(stub.reviews) == 1
