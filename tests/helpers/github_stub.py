"""A local stand-in for the GitHub REST endpoints review-bot uses, over real HTTP.

It listens on 127.0.0.1 in a thread, keeps pull requests, review comments, reviews and
issue comments in memory, records every request, checks the token, paginates lists with a
Link header as GitHub does, refuses comments outside the diff with 422 as GitHub does, and
answers 403 / 422 / 429 / 5xx on demand:

    with GitHubStub(prefix="/api/v3") as gh:
        gh.add_pull(7, base=sha1, head=sha2)
        gh.fail("POST", r"/reviews$", 500, times=2)
        ... GITHUB_API_URL=gh.url ...
        gh.requests, gh.review_comments, gh.issue_comments, gh.reviews

What the fixes of issue 12 rest on, modelled as GitHub does it:

- every comment has an author (`user.login`); the token's own identity is `login`, which
  GET /user names, except for the Actions token (`actions_token`), which has no user and
  gets 403; PATCH or DELETE of somebody else's comment is a 403 (`FORBIDDEN_MESSAGE`);
- a push (`add_pull` with a new head and `files`) turns a comment whose lines changed into
  an outdated one: `line: null`, `original_line` kept;
- `fail(..., applied=True)` answers an error *after* doing the request (a 502 that did
  create the review); `SECONDARY_LIMIT_MESSAGE` is a secondary rate limit, which comes
  without any header;
- `workflow_run_event` builds the payload of a `workflow_run` event, with an empty
  `pull_requests` for a fork's pull request, as GitHub sends it.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

BOT_LOGIN = "github-actions[bot]"
READ_ONLY_MESSAGE = "Resource not accessible by integration"
FORBIDDEN_MESSAGE = "Must have admin rights to Repository."
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def user(login: str) -> dict[str, str]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def workflow_run_event(
    head_sha: str,
    *,
    head_repository: str,
    head_branch: str,
    pull_requests: list[int],
    event: str = "pull_request",
) -> dict[str, Any]:
    """A `workflow_run` event's payload: `pull_requests` is empty for a fork's pull request."""
    return {
        "action": "completed",
        "workflow_run": {
            "id": 99,
            "event": event,
            "conclusion": "success",
            "head_sha": head_sha,
            "head_branch": head_branch,
            "head_repository": {"full_name": head_repository},
            "pull_requests": [{"number": n} for n in pull_requests],
        },
    }


class Request(NamedTuple):
    method: str
    path: str  # without the prefix and the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any


class Failure(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    applied: bool  # the request is done, then answered with the failure


class Answer(NamedTuple):
    status: int
    body: Any = None
    headers: dict[str, str] | None = None


class GitHubStub:
    def __init__(
        self,
        *,
        token: str = "test-token",
        prefix: str = "",
        login: str = BOT_LOGIN,
        actions_token: bool = True,
    ) -> None:
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.login = login  # who the token is: the author of what it creates
        self.actions_token = actions_token  # GET /user answers 403, as for GITHUB_TOKEN
        self.pulls: dict[int, dict[str, Any]] = {}
        self.trees: dict[str, dict[str, str]] = {}  # commit -> path -> text (for outdated)
        self.review_comments: list[dict[str, Any]] = []
        self.issue_comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.failures: list[Failure] = []
        self.read_only = False
        self.page_size = 100  # GitHub's maximum per_page
        self.link_base: str | None = None  # where Link headers point; None: this server
        # path -> lines a comment may use (the diff's hunks); None accepts any line
        self.valid_lines: dict[str, set[int]] | None = None
        self._ids = iter(range(1000, 10**9))
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the tests read stub.requests instead

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                answer = stub._dispatch(self.command, self.path, dict(self.headers), raw)
                data = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                for name, value in (answer.headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- control ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def __enter__(self) -> GitHubStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def add_pull(
        self,
        number: int,
        *,
        base: str,
        head: str,
        files: dict[str, str] | None = None,
        head_repo: str = "octo/demo",
        head_ref: str = "feature",
    ) -> None:
        """Open a pull request, or push `head` to it: then its comments whose lines read
        differently at `head` (given the files of both commits) become outdated."""
        if files is not None:
            self.trees[head] = dict(files)
        old = self.pulls.get(number)
        self.pulls[number] = {
            "number": number,
            "base": {"sha": base},
            "head": {"sha": head, "ref": head_ref, "repo": {"full_name": head_repo}},
        }
        if old is not None and old["head"]["sha"] != head and head in self.trees:
            for comment in self.review_comments:
                if comment["pull"] == number and self._moved(comment, head):
                    comment["line"] = None
                    comment["start_line"] = None

    def _moved(self, comment: dict[str, Any], head: str) -> bool:
        before = self.trees.get(comment["commit_id"], {}).get(comment["path"])
        after = self.trees[head].get(comment["path"])
        if before is None or after is None or comment["line"] is None:
            return True
        first = (comment.get("start_line") or comment["line"]) - 1
        last = comment["line"]
        return before.splitlines()[first:last] != after.splitlines()[first:last]

    def add_comment(self, kind: str, number: int, body: str, login: str) -> dict[str, Any]:
        """Somebody's comment: `kind` "issue" (a conversation comment) or "review" (a review
        comment on line 1 of calc.py)."""
        comment: dict[str, Any] = {"id": next(self._ids), "body": body, "user": user(login)}
        if kind == "issue":
            comment["issue"] = number
            self.issue_comments.append(comment)
        else:
            comment |= {"pull": number, "path": "calc.py", "line": 1, "start_line": None}
            comment |= {"original_line": 1, "commit_id": "", "in_reply_to_id": None}
            self.review_comments.append(comment)
        return comment

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "stub failure",
        applied: bool = False,
    ) -> None:
        """Answer the next `times` matching requests with `status`; `applied`: after doing
        what they ask (a 502 from a proxy after GitHub made the review)."""
        body = {"message": message}
        failure = Failure(method, re.compile(pattern), status, headers or {}, body, applied)
        self.failures.extend([failure] * times)

    def reply(self, to: dict[str, Any], body: str, login: str = "octocat") -> dict[str, Any]:
        """A human's reply to a review comment."""
        comment = dict(to, id=next(self._ids), body=body, in_reply_to_id=to["id"])
        comment["user"] = user(login)
        self.review_comments.append(comment)
        return comment

    def calls(self, method: str, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- the endpoints ---------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        parts = urlsplit(target)
        path = parts.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return Answer(404, {"message": "Not Found (outside the API prefix)"})
            path = path[len(self.prefix) :]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Request(method, path, query, lower, body))
            if lower.get("authorization") != f"Bearer {self.token}":
                return Answer(401, {"message": "Bad credentials"})
            base_url = f"http://{lower.get('host', '127.0.0.1')}{self.prefix}"
            for failure in self.failures:
                if failure.method == method and failure.pattern.search(path):
                    self.failures.remove(failure)
                    if failure.applied:
                        self._route(method, path, query, body, base_url)
                    return Answer(failure.status, failure.body, failure.headers)
            if self.read_only and method != "GET":
                return Answer(403, {"message": READ_ONLY_MESSAGE})
            return self._route(method, path, query, body, base_url)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, base_url: str
    ) -> Answer:
        if path == "/user" and method == "GET":
            if self.actions_token:
                return Answer(403, {"message": READ_ONLY_MESSAGE})
            return Answer(200, user(self.login) | {"id": 1})
        m = re.fullmatch(r"/repos/[^/]+/[^/]+/(pulls|issues)/(\d+)(/\w+)?", path)
        if m:
            kind, number, tail = m.group(1), int(m.group(2)), m.group(3)
            if number not in self.pulls:
                return Answer(404, {"message": "Not Found"})
            if kind == "pulls" and tail is None and method == "GET":
                return Answer(200, self.pulls[number])
            if kind == "pulls" and tail == "/comments" and method == "GET":
                found = [c for c in self.review_comments if c["pull"] == number]
                return self._page(found, query, path, base_url)
            if kind == "pulls" and tail == "/comments" and method == "POST":
                return self._create_comment(number, body)
            if kind == "pulls" and tail == "/reviews" and method == "POST":
                return self._create_review(number, body)
            if kind == "issues" and tail == "/comments" and method == "GET":
                found = [c for c in self.issue_comments if c["issue"] == number]
                return self._page(found, query, path, base_url)
            if kind == "issues" and tail == "/comments" and method == "POST":
                comment = {"id": next(self._ids), "issue": number, "body": body["body"]}
                comment["user"] = user(self.login)
                self.issue_comments.append(comment)
                return Answer(201, comment)
        m = re.fullmatch(r"/repos/[^/]+/[^/]+/(pulls|issues)/comments/(\d+)", path)
        if m:
            kind, comment_id = m.group(1), int(m.group(2))
            pool = self.review_comments if kind == "pulls" else self.issue_comments
            found = [c for c in pool if c["id"] == comment_id]
            if not found:
                return Answer(404, {"message": "Not Found"})
            if method in ("PATCH", "DELETE") and found[0]["user"]["login"] != self.login:
                return Answer(403, {"message": FORBIDDEN_MESSAGE})
            if kind == "pulls" and method == "DELETE":
                pool.remove(found[0])
                return Answer(204)
            if kind == "issues" and method == "PATCH":
                found[0]["body"] = body["body"]
                return Answer(200, found[0])
        return Answer(404, {"message": f"Not Found: {method} {path}"})

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, str], path: str, base_url: str
    ) -> Answer:
        per_page = min(int(query.get("per_page", 30)), self.page_size)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        base_url = self.link_base or base_url
        if page * per_page < len(items):
            headers["link"] = (
                f'<{base_url}{path}?per_page={per_page}&page={page + 1}>; rel="next", '
                f"<{base_url}{path}?per_page={per_page}&page={-(-len(items) // per_page)}>; "
                'rel="last"'
            )
        return Answer(200, chunk, headers)

    def _invalid(self, comment: dict[str, Any]) -> str | None:
        line = comment.get("line")
        start = comment.get("start_line", line)
        if not isinstance(line, int) or comment.get("side", "RIGHT") != "RIGHT":
            return "line and side RIGHT are required"
        if not isinstance(start, int) or start > line:
            return "start_line must precede line"
        if not comment.get("body") or not comment.get("path"):
            return "path and body are required"
        if self.valid_lines is not None:
            allowed = self.valid_lines.get(comment["path"], set())
            if not all(n in allowed for n in range(start, line + 1)):
                return "Pull request review thread line must be part of the diff"
        return None

    def _store(self, number: int, comment: dict[str, Any], commit_id: str, review: int) -> None:
        self.review_comments.append(
            {
                "id": next(self._ids),
                "pull": number,
                "pull_request_review_id": review,
                "path": comment["path"],
                "line": comment["line"],
                "start_line": comment.get("start_line"),
                "side": "RIGHT",
                "original_line": comment["line"],
                "commit_id": commit_id,
                "body": comment["body"],
                "in_reply_to_id": None,
                "user": user(self.login),
            }
        )

    def _create_review(self, number: int, body: Any) -> Answer:
        if body.get("commit_id") != self.pulls[number]["head"]["sha"]:
            return Answer(422, {"message": "Unprocessable Entity", "errors": ["bad commit_id"]})
        if body.get("event") not in ("COMMENT", "APPROVE", "REQUEST_CHANGES"):
            return Answer(422, {"message": "Unprocessable Entity", "errors": ["bad event"]})
        if body.get("event") != "APPROVE" and not body.get("body"):
            return Answer(422, {"message": "Unprocessable Entity", "errors": ["body needed"]})
        comments = body.get("comments", [])
        problems = [p for p in map(self._invalid, comments) if p]
        if problems:
            return Answer(422, {"message": "Unprocessable Entity", "errors": problems})
        review = {"id": next(self._ids), "body": body["body"], "state": "COMMENTED"}
        self.reviews.append(review | {"pull": number, "commit_id": body["commit_id"]})
        for comment in comments:
            self._store(number, comment, body["commit_id"], review["id"])
        return Answer(200, review)

    def _create_comment(self, number: int, body: Any) -> Answer:
        problem = self._invalid(body)
        if problem:
            return Answer(422, {"message": "Validation Failed", "errors": [problem]})
        review_id = next(self._ids)  # GitHub wraps a lone comment in a review of its own
        self._store(number, body, body["commit_id"], review_id)
        return Answer(201, self.review_comments[-1])
