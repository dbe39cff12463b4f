"""Publishing a plan; the rest of publishing is tested end to end in test_review_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.github.client import GitHub
from review_bot.github.publish import publish
from tests.helpers.github_plans import SHA1, SHA2, plan, suggestion
from tests.helpers.github_stub import READ_ONLY_MESSAGE, GitHubStub


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
