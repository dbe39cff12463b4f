"""A small GitHub REST client: auth headers, bounded retries, pagination; typed errors.

GitHub is spoken to with httpx rather than PyGithub or githubkit: seven endpoints do not
justify a large client library, httpx is already a dependency, and the tests talk to a local
stand-in over real HTTP through GITHUB_API_URL. Retries go through `review_bot.http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from review_bot import __version__, http
from review_bot.errors import FatalError


class GitHubError(FatalError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ForbiddenError(GitHubError):
    """403 that is no rate limit: this token may not do this (edit somebody else's comment)."""


class ReadOnlyError(ForbiddenError):
    """403 on creating something: the token cannot write here (a fork's pull request)."""


class UncertainError(GitHubError):
    """A POST answered 5xx or lost its connection: it may have been applied or not. It is
    not retried blindly (that could post twice); the caller looks before posting again."""


class UnprocessableError(GitHubError):
    """422: GitHub understood the request and refused it (a line outside the diff)."""


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message", ""))
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        message += " (" + "; ".join(str(e) for e in errors)[:300] + ")"
    return message


def _rate_limited(response: httpx.Response) -> bool:
    """A rate limit: 429, or 403 with rate-limit headers or words (a secondary limit may
    come with no header at all, only "You have exceeded a secondary rate limit")."""
    status = response.status_code
    headers = response.headers
    return status == 429 or (
        status == 403
        and (
            "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in _message(response).lower()
        )
    )


def _retryable(response: httpx.Response) -> bool:
    """A rate limit or a server error."""
    return _rate_limited(response) or response.status_code >= 500


# Requests that change something: GitHub asks for at least a second between them (its
# secondary limits allow 80 content-creating requests a minute).
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# What GET /user answers for the Actions token, which has no user: its comments are this bot's.
ACTIONS_LOGIN = "github-actions[bot]"


class GitHub:
    """A small REST client: auth headers, bounded retries with backoff, pagination."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        limit_wait_s: float = 60.0,
        min_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.limit_wait_s = limit_wait_s
        self.min_interval_s = min_interval_s
        self._sleep = sleep
        self._clock = clock
        self._last_mutation: float | None = None
        self._origin = httpx.URL(self.api_url + "/")
        self.client = httpx.Client(
            base_url=self.api_url + "/",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"review-bot/{__version__}",
            },
            timeout=timeout_s,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def policy(self) -> http.Policy:
        """GitHub's retries: 5xx, 429 and a rate-limited 403, waiting as GitHub asks (its
        Retry-After, in seconds or as a date, or its rate limit's reset) up to `max_wait_s`;
        every connection error too."""
        return http.Policy(
            retries=self.retries,
            backoff_s=self.backoff_s,
            retryable=_retryable,
            retry_after_dates=True,
            rate_limit_reset=True,
            max_wait_s=self.max_wait_s,
            limited=_rate_limited,
            limit_wait_s=self.limit_wait_s,
            sleep=self._sleep,
        )

    @property
    def create_policy(self) -> http.Policy:
        """A POST creates something: a 5xx or a lost answer may still have created it, so
        only what surely did nothing is retried here (a rate limit; a connection that was
        never made)."""
        return self.policy._replace(
            retryable=_rate_limited,
            retry_transport=lambda exc: isinstance(exc, httpx.ConnectError),
        )

    def backoff(self, attempt: int) -> None:
        """Sleep the backoff of attempt `attempt` (from 0), as the retry loop would."""
        self._sleep(http.backoff(self.policy, attempt))

    def _pace(self, method: str) -> None:
        if method not in MUTATING:
            return
        if self._last_mutation is not None:
            wait = self._last_mutation + self.min_interval_s - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_mutation = self._clock()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        what = f"GitHub API: {method} {httpx.URL(url).path or url}"
        creates = method == "POST"
        policy = self.create_policy if creates else self.policy
        self._pace(method)
        try:
            answer = http.send(self.client, method, url, policy, json=body, params=params)
        except http.Unreachable as exc:
            message = f"{what} failed after {exc.attempts} attempts: {exc.error}"
            if creates:
                raise UncertainError(message) from None
            raise GitHubError(message) from None
        except http.WaitTooLong as exc:
            raise GitHubError(
                f"{what} answered {exc.response.status_code}: rate limited for {exc.wait_s:.0f} s "
                f"more, longer than review-bot waits ({self.max_wait_s:.0f} s): "
                f"{_message(exc.response)}",
                exc.response.status_code,
            ) from None
        response = answer.response
        if answer.exhausted:
            raise GitHubError(
                f"{what} answered {response.status_code} after {answer.attempts} attempts: "
                f"{_message(response)}",
                response.status_code,
            )
        status = response.status_code
        if status < 300:
            return response
        message = f"{what} answered {status}: {_message(response)}"
        if creates and status >= 500:
            raise UncertainError(message, status)
        if status == 401:
            raise GitHubError(message + " (is the token valid?)", status)
        if status == 403:
            raise (ReadOnlyError if creates else ForbiddenError)(message, status)
        if status == 404:
            raise GitHubError(message + " (wrong repository or number, or no access)", status)
        if status == 422:
            raise UnprocessableError(message, status)
        raise GitHubError(message, status)

    def json(self, method: str, url: str, body: Any = None) -> Any:
        response = self.request(method, url, body=body)
        return response.json() if response.content else None

    def paginate(self, url: str, *, max_pages: int = 100) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following the Link header's rel="next"."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        params: Mapping[str, str | int] | None = {"per_page": 100}
        for _ in range(max_pages):
            if next_url is None:
                break
            response = self.request("GET", next_url, params=params)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API: GET {url}: expected a list")
            items += [item for item in page if isinstance(item, dict)]
            link = response.links.get("next", {}).get("url")
            next_url, params = (link, None) if link and self._same_origin(link) else (None, None)
        return items

    def _same_origin(self, url: str) -> bool:
        # The token goes with every request: never follow a link to another host.
        target = httpx.URL(url)
        return (target.scheme, target.host, target.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        )


def identity(github: GitHub, configured: str | None = None) -> str:
    """The login that posts: `configured`, else GET /user's, else the Actions bot (its token
    has no user: /user answers 403). Only comments of this login count as review-bot's."""
    if configured:
        return configured
    try:
        user = github.json("GET", "user")
    except ForbiddenError:
        return ACTIONS_LOGIN
    login = user.get("login") if isinstance(user, dict) else None
    if not isinstance(login, str) or not login:
        raise GitHubError("GitHub API: GET /user names no login; pass --bot-login")
    return login


def author(item: Mapping[str, Any]) -> str | None:
    """The login of a comment's author, if GitHub named one."""
    user = item.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None
