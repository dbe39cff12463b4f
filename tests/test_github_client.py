"""The REST client against the local GitHub stand-in over real HTTP: retries as GitHub asks,
typed errors, pagination."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from review_bot.github.client import (
    GitHub,
    GitHubError,
    ReadOnlyError,
    UncertainError,
    UnprocessableError,
    identity,
)
from tests.helpers.github_plans import SHA1, SHA2
from tests.helpers.github_stub import READ_ONLY_MESSAGE, SECONDARY_LIMIT_MESSAGE, GitHubStub


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    with GitHubStub(prefix="/api/v3") as server:
        server.add_pull(1, base=SHA1, head=SHA2)
        yield server


Client = Callable[[list[float]], GitHub]


@pytest.fixture
def client(stub: GitHubStub) -> Iterator[Client]:
    """Clients of the stub that record their sleeps instead of sleeping."""
    made: list[GitHub] = []

    def make(sleeps: list[float]) -> GitHub:
        made.append(GitHub(stub.url, stub.token, backoff_s=0.5, sleep=sleeps.append))
        return made[-1]

    yield make
    for github in made:
        github.close()


def test_retries_wait_as_github_asks(stub: GitHubStub, client: Client) -> None:
    stub.fail("GET", "/pulls/1$", 429, headers={"retry-after": "2"})
    stub.fail("GET", "/pulls/1$", 503)
    stub.fail("GET", "/pulls/1$", 503)
    sleeps: list[float] = []
    github = client(sleeps)
    assert github.json("GET", "repos/o/r/pulls/1")["head"]["sha"] == SHA2
    assert sleeps == [2.0, 1.0, 2.0]  # retry-after, then backoff 0.5 * 2**attempt
    assert len(stub.calls("GET")) == 4


def test_primary_rate_limit_waits_for_the_reset(stub: GitHubStub, client: Client) -> None:
    reset = str(int(time.time()) + 30)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    stub.fail("GET", "/pulls/1$", 403, headers=headers, message="API rate limit exceeded")
    sleeps: list[float] = []
    client(sleeps).json("GET", "repos/o/r/pulls/1")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31


def test_a_wait_longer_than_the_cap_fails_at_once(stub: GitHubStub, client: Client) -> None:
    stub.fail("GET", "/pulls/1$", 429, headers={"retry-after": "3600"})
    sleeps: list[float] = []
    with pytest.raises(GitHubError, match="rate limited for 3600 s more"):
        client(sleeps).json("GET", "repos/o/r/pulls/1")
    assert sleeps == [] and len(stub.requests) == 1


def test_final_answers_are_typed_errors(stub: GitHubStub, client: Client) -> None:
    github = client([])
    stub.read_only = True
    with pytest.raises(ReadOnlyError, match=READ_ONLY_MESSAGE):
        github.json("POST", "repos/o/r/issues/1/comments", {"body": "x"})
    stub.fail("POST", "/reviews$", 422, message="Unprocessable Entity")
    with pytest.raises(UnprocessableError, match="answered 422"):
        github.json("POST", "repos/o/r/pulls/1/reviews", {})
    with pytest.raises(GitHubError, match=r"404.*wrong repository"):
        github.json("GET", "repos/o/r/pulls/2")
    with (
        GitHub(stub.url, "wrong") as bad,
        pytest.raises(GitHubError, match=r"401.*token valid"),
    ):
        bad.json("GET", "repos/o/r/pulls/1")
    assert len(stub.requests) == 4  # none of these is retried


def test_unreachable_server_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{port}"
    with (
        GitHub(url, "t", retries=2, backoff_s=0.1, sleep=sleeps.append) as github,
        pytest.raises(GitHubError, match="failed after 3 attempts"),
    ):
        github.json("GET", "repos/o/r/pulls/1")
    assert sleeps == [0.1, 0.2]


def test_pagination_never_follows_a_link_to_another_host(stub: GitHubStub, client: Client) -> None:
    stub.page_size = 2
    for n in range(5):
        stub.issue_comments.append({"id": n, "issue": 1, "body": str(n)})
    github = client([])
    assert [c["id"] for c in github.paginate("repos/o/r/issues/1/comments")] == [0, 1, 2, 3, 4]
    # Links that point at another host (the same server under another name): the token
    # must not follow them.
    stub.link_base = stub.url.replace("127.0.0.1", "localhost")
    stub.requests.clear()
    assert [c["id"] for c in github.paginate("repos/o/r/issues/1/comments")] == [0, 1]
    assert len(stub.requests) == 1


# -- issue 12: what GitHub asks of a client that posts ---------------------------------------


def test_a_secondary_rate_limit_without_headers_waits_a_minute(
    stub: GitHubStub, client: Client
) -> None:
    stub.fail("GET", "/pulls/1$", 403, message=SECONDARY_LIMIT_MESSAGE)
    sleeps: list[float] = []
    github = client(sleeps)
    assert github.json("GET", "repos/o/r/pulls/1")["head"]["sha"] == SHA2
    assert sleeps == [60.0]  # GitHub: "wait for at least one minute", not the 0.5 s backoff
    # A second one in a row would wait 120 s: past the cap, so it fails at once and says so.
    stub.fail("GET", "/pulls/1$", 429, times=2)
    with pytest.raises(GitHubError, match="rate limited for 120 s more"):
        github.json("GET", "repos/o/r/pulls/1")
    assert sleeps == [60.0, 60.0]


@pytest.mark.parametrize("value", ["soon", "nan", "", "Wed, 99 Foo 2024 99:99:99 GMT"])
def test_a_retry_after_that_is_no_number_and_no_date_is_ignored(
    stub: GitHubStub, client: Client, value: str
) -> None:
    stub.fail("GET", "/pulls/1$", 503, headers={"retry-after": value})
    sleeps: list[float] = []
    assert client(sleeps).json("GET", "repos/o/r/pulls/1")["number"] == 1
    assert sleeps == [0.5]  # the backoff, as without the header


def test_mutating_requests_are_a_second_apart(stub: GitHubStub) -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with GitHub(stub.url, stub.token, sleep=sleep, clock=lambda: now[0]) as github:
        for n in range(3):
            github.json("POST", "repos/o/r/issues/1/comments", {"body": str(n)})
            now[0] += 0.25
        github.json("GET", "repos/o/r/pulls/1")  # reads are not paced
        now[0] += 2.0
        github.json("POST", "repos/o/r/issues/1/comments", {"body": "later"})
    assert sleeps == [0.75, 0.75]
    assert len(stub.issue_comments) == 4


def test_a_post_answered_5xx_is_not_retried_blindly(stub: GitHubStub, client: Client) -> None:
    stub.fail("POST", "/comments$", 502, applied=True)
    sleeps: list[float] = []
    with pytest.raises(UncertainError, match="answered 502"):
        client(sleeps).json("POST", "repos/o/r/issues/1/comments", {"body": "x"})
    # It was made: a blind retry would have made a second one.
    assert len(stub.calls("POST")) == 1 and len(stub.issue_comments) == 1
    # A rate limit is sure to have done nothing: that one is retried.
    stub.fail("POST", "/comments$", 403, message=SECONDARY_LIMIT_MESSAGE)
    client(sleeps).json("POST", "repos/o/r/issues/1/comments", {"body": "y"})
    assert len(stub.issue_comments) == 2 and sleeps == [60.0]


def test_the_posting_identity() -> None:
    with GitHubStub(actions_token=True) as stub, GitHub(stub.url, stub.token) as github:
        assert identity(github) == "github-actions[bot]"  # /user answers 403 to this token
        assert identity(github, "my-app[bot]") == "my-app[bot]"
        assert len(stub.calls("GET", "^/user$")) == 1
    with (
        GitHubStub(actions_token=False, login="octo-bot") as stub,
        GitHub(stub.url, stub.token) as github,
    ):
        assert identity(github) == "octo-bot"
