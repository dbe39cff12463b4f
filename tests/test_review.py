"""The parts of `review-bot review`: the PR diff from real git repositories, docstring
suggestions, workflow-command escaping, the plan's JSON, and the REST client against the
local GitHub stand-in over real HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from review_bot import prdiff
from review_bot import review as rv
from review_bot.errors import FatalError
from review_bot.records import Target
from review_bot.targets import targets_in_source
from tests.github_stub import READ_ONLY_MESSAGE, GitHubStub
from tests.test_review_e2e import commit, git

# -- the PR diff ------------------------------------------------------------------------------

BASE = "".join(f"line{n}\n" for n in range(1, 31))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_hunks_and_added_lines_of_the_three_dot_diff(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE, "gone.py": "x = 1\n", "img.bin": "\0\1"}, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    changed = BASE.replace("line5\n", "five\n").replace("line25\n", "l25\nextra\n")
    (repo / "gone.py").unlink()
    head = commit(repo, {"a.py": changed, "new.py": "def f():\n    pass\n"}, "feature")
    # main moves on after the branch: its change is not part of the pull request.
    git(repo, "checkout", "-q", "main")
    commit(repo, {"a.py": BASE.replace("line15\n", "fifteen\n")}, "main moves")
    files = {f.path: f for f in prdiff.pr_diff(prdiff.open_repo(repo), "main", head)}
    assert set(files) == {"a.py", "new.py"}  # the deleted file has no head side
    a = files["a.py"]
    assert a.hunks == (prdiff.Hunk(2, 8), prdiff.Hunk(22, 29))
    assert a.added == frozenset({5, 25, 26})
    assert a.hunk_of(22, 29) == prdiff.Hunk(22, 29) and a.hunk_of(8, 22) is None
    assert a.changes(1, 5) and not a.changes(10, 20)
    assert files["new.py"].hunks == (prdiff.Hunk(1, 2),) and files["new.py"].added == {1, 2}
    assert base != head


def test_a_function_that_only_lost_lines_has_changed(repo: Path) -> None:
    base = commit(repo, {"a.py": BASE}, "base")
    head = commit(repo, {"a.py": BASE.replace("line12\n", "").replace("line30\n", "")}, "head")
    [a] = prdiff.pr_diff(prdiff.open_repo(repo), base, head)
    assert a.added == frozenset() and a.hunks == (prdiff.Hunk(9, 14), prdiff.Hunk(26, 28))
    # Where line12 was now stands line13 (new line 12); line30 went at the end of the file.
    assert a.deleted_at == frozenset({12, 28})
    assert a.changes(10, 12) and a.changes(28, 28) and not a.changes(13, 27)


def test_test_files_get_no_tests_of_their_own() -> None:
    assert rv.is_reviewed("pkg/mod.py") and rv.is_reviewed("contest.py")
    assert not rv.is_reviewed("tests/test_mod.py") and not rv.is_reviewed("mod_test.py")
    assert not rv.is_reviewed("conftest.py") and not rv.is_reviewed("mod.pyi")


def test_head_tree_is_the_working_tree_at_head_else_an_export(repo: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    head = commit(repo, {"a.py": "x = 2\n", "pkg/b.py": "y = 1\n"}, "head")
    handle = prdiff.open_repo(repo / "pkg")  # found from a subdirectory
    with prdiff.head_tree(handle, head) as tree:
        assert tree == repo
    git(repo, "checkout", "-q", "HEAD~1")
    with prdiff.head_tree(handle, head) as tree:
        assert tree != repo and (tree / "a.py").read_text() == "x = 2\n"
        assert (tree / "pkg" / "b.py").is_file() and not (tree / ".git").exists()
    assert not tree.exists()  # removed afterwards
    # An uncommitted edit means the working tree is not the head either.
    git(repo, "checkout", "-q", head)
    (repo / "a.py").write_text("edited\n")
    assert not prdiff.at_head(handle, head)


def test_missing_commits_and_non_repositories_are_clear_errors(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"a.py": "x = 1\n"}, "base")
    with pytest.raises(FatalError, match=r"base commit 0{40} is not in this checkout.*depth: 0"):
        prdiff.resolve(prdiff.open_repo(repo), "0" * 40, "base")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(FatalError, match="not inside a git checkout"):
        prdiff.open_repo(plain)
    # Unrelated histories have no merge base: git's own words, with the command.
    orphan = commit(repo, {"a.py": "x = 2\n"}, "second")
    git(repo, "checkout", "-q", "--orphan", "other")
    other = commit(repo, {"b.py": "y = 1\n"}, "orphan")
    with pytest.raises(FatalError, match=r"`git diff .*` failed with code \d+; .*stderr"):
        prdiff.pr_diff(prdiff.open_repo(repo), orphan, other)


def test_persisted_credentials_are_detected(repo: Path) -> None:
    handle = prdiff.open_repo(repo)
    assert not prdiff.persisted_credentials(handle)
    git(repo, "config", "http.https://example.invalid/.extraheader", "AUTHORIZATION: basic x")
    assert prdiff.persisted_credentials(handle)


# -- docstring suggestions --------------------------------------------------------------------


def target(source: str, qualname: str) -> Target:
    path = Path("/nonexistent/mod.py")
    return next(t for t in targets_in_source(path.parent, path, source) if t.qualname == qualname)


@pytest.mark.parametrize(
    ("source", "qualname", "expected"),
    [
        (
            "import os\n\n\ndef f(x):\n    return x\n",
            "f",
            (4, 4, ["def f(x):", '    """Do it."""']),
        ),
        (
            "@deco\ndef f(\n    x,\n    y,\n):\n\n    return x\n",
            "f",
            # The blank line after the signature goes too (a docstring must not precede it).
            (2, 6, ["def f(", "    x,", "    y,", "):", '    """Do it."""']),
        ),
        ("def f(x): return x\n", "f", (1, 1, ["def f(x):", '    """Do it."""', "    return x"])),
        (
            "class C:\n    def m(self) -> int:\n        return 1\n",
            "C.m",
            (2, 2, ["    def m(self) -> int:", '        """Do it."""']),
        ),
    ],
)
def test_docstring_change_replaces_the_signature_lines(
    source: str, qualname: str, expected: tuple[int, int, list[str]]
) -> None:
    assert rv.docstring_change(source, target(source, qualname), "Do it.") == expected


def test_fence_outgrows_backticks_in_the_content() -> None:
    assert rv.fence("x = 1\n", "python") == "```python\nx = 1\n```"
    assert rv.fence('"""Use ``` or ````."""', "suggestion").startswith("`````suggestion\n")


def test_workflow_command_escaping() -> None:
    assert rv.escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert rv.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    s = suggestion(path="dir,x/a:b.py", start_line=2, line=4, content="l1\nl2")
    assert rv.annotation(s, "error") == (
        "::error file=dir%2Cx/a%3Ab.py,line=2,endLine=4,title=review-bot%3A docstring for f"
        "::Suggested replacement for lines 2-4:%0Al1%0Al2"
    )


# -- the plan as JSON -------------------------------------------------------------------------

SHA1, SHA2 = "a" * 40, "b" * 40


def suggestion(**changes: Any) -> rv.Suggestion:
    values: dict[str, Any] = {
        "kind": "docstring",
        "path": "a.py",
        "qualname": "f",
        "line": 3,
        "start_line": None,
        "body": "<!-- review-bot:fp=0123456789abcdef0123 code=abcdef0123456789abcd -->\nhi",
        "content": "def f():\n    '''Doc.'''",
        "fingerprint": "0123456789abcdef0123",
        "code": "abcdef0123456789abcd",
        "inline": True,
        "destination": None,
    }
    return rv.Suggestion(**(values | changes))


def plan(*suggestions: rv.Suggestion) -> rv.ReviewPlan:
    checked = rv.Checked(
        "a.f",
        "a.py",
        3,
        "abcdef0123456789abcd",
        rv.Outcome("rejected", "fail", ("chat#0: fail: assert 1 == 2",)),
        rv.Outcome("kept", None, ("docstring#0: kept",)),
    )
    return rv.ReviewPlan(
        repo="octo/demo",
        pr=7,
        base=SHA1,
        head=SHA2,
        files=("a.py",),
        checked=(checked,),
        suggestions=suggestions,
        notes=(),
        model="m.gguf",
        arch="llama",
        model_calls=2,
        model_s=1.5,
        total_s=3.25,
        cache_hits=0,
        cache_misses=2,
    )


def test_plan_round_trips_through_json() -> None:
    original = plan(suggestion(), suggestion(kind="test", inline=False, destination="t.py"))
    data = json.loads(json.dumps(rv.plan_to_json(original)))
    assert rv.plan_from_json(data) == original
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
    data = rv.plan_to_json(plan(suggestion())) | change
    with pytest.raises(FatalError, match=message):
        rv.plan_from_json(json.loads(json.dumps(data)))


def test_bad_line_numbers_and_huge_bodies_are_refused() -> None:
    data = rv.plan_to_json(plan(suggestion()))
    data["suggestions"][0]["start_line"] = 5  # after `line`
    with pytest.raises(FatalError, match="bad line numbers"):
        rv.plan_from_json(data)
    data["suggestions"][0] |= {"start_line": None, "body": "x" * (rv.MAX_BODY + 1)}
    with pytest.raises(FatalError, match="'body' is too long"):
        rv.plan_from_json(data)


def test_summary_stays_under_githubs_limit() -> None:
    big = plan(*(suggestion(fingerprint=f"{n:020x}", content="x" * 5000) for n in range(30)))
    text = rv.render_summary(big, set())
    assert len(text) <= rv.MAX_BODY and "Truncated" in text and text.startswith(rv.SUMMARY_MARKER)
    assert text.rstrip().endswith("</sub>")  # model and timings survive the cut


def test_pull_request_from_the_event_and_flags(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    pull = {"number": 3, "base": {"sha": SHA1}, "head": {"sha": SHA2}}
    payload = {"number": 3, "pull_request": pull}
    event.write_text(json.dumps(payload))
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "o/r"}
    assert rv.pull_request_from_env(env) == rv.PullRequest("o/r", 3, SHA1, SHA2, rv.DEFAULT_API_URL)
    got = rv.pull_request_from_env(
        env | {"GITHUB_API_URL": "https://ghe.example/api/v3/"}, number=4, head="HEAD", repo="a/b"
    )
    assert got == rv.PullRequest("a/b", 4, SHA1, "HEAD", "https://ghe.example/api/v3")
    assert rv.pull_request_from_env({}).number is None
    with pytest.raises(FatalError, match="OWNER/NAME"):
        rv.pull_request_from_env({"GITHUB_REPOSITORY": "../x"})
    event.write_text("{")
    with pytest.raises(FatalError, match="GITHUB_EVENT_PATH"):
        rv.pull_request_from_env(env)


# -- the REST client --------------------------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    with GitHubStub(prefix="/api/v3") as server:
        server.add_pull(1, base=SHA1, head=SHA2)
        yield server


Client = Callable[[list[float]], rv.GitHub]


@pytest.fixture
def client(stub: GitHubStub) -> Iterator[Client]:
    """Clients of the stub that record their sleeps instead of sleeping."""
    made: list[rv.GitHub] = []

    def make(sleeps: list[float]) -> rv.GitHub:
        made.append(rv.GitHub(stub.url, stub.token, backoff_s=0.5, sleep=sleeps.append))
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
    with pytest.raises(rv.GitHubError, match="rate limited for 3600 s more"):
        client(sleeps).json("GET", "repos/o/r/pulls/1")
    assert sleeps == [] and len(stub.requests) == 1


def test_final_answers_are_typed_errors(stub: GitHubStub, client: Client) -> None:
    github = client([])
    stub.read_only = True
    with pytest.raises(rv.ReadOnlyError, match=READ_ONLY_MESSAGE):
        github.json("POST", "repos/o/r/issues/1/comments", {"body": "x"})
    stub.fail("POST", "/reviews$", 422, message="Unprocessable Entity")
    with pytest.raises(rv.UnprocessableError, match="answered 422"):
        github.json("POST", "repos/o/r/pulls/1/reviews", {})
    with pytest.raises(rv.GitHubError, match=r"404.*wrong repository"):
        github.json("GET", "repos/o/r/pulls/2")
    with (
        rv.GitHub(stub.url, "wrong") as bad,
        pytest.raises(rv.GitHubError, match=r"401.*token valid"),
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
        rv.GitHub(url, "t", retries=2, backoff_s=0.1, sleep=sleeps.append) as github,
        pytest.raises(rv.GitHubError, match="failed after 3 attempts"),
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


def test_publish_on_a_fork_writes_annotations_and_the_job_summary(
    stub: GitHubStub, client: Client, tmp_path: Path
) -> None:
    stub.read_only = True
    out = tmp_path / "stdout"
    summary = tmp_path / "summary.md"
    notices: list[str] = []
    with out.open("w") as stdout:
        result = rv.publish(
            client([]),
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
