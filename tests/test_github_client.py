"""The REST client against the local GitHub stand-in over real HTTP: retries as GitHub asks,
typed errors, pagination."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from review_bot.github.client import GitHub, GitHubError, ReadOnlyError, UnprocessableError
from tests.helpers.github_plans import SHA1, SHA2
from tests.helpers.github_stub import READ_ONLY_MESSAGE, GitHubStub


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
