"""One retry loop for every HTTP client: bounded attempts, backoff, Retry-After.

Both clients (GitHub's REST API in `review_bot.github.client`, an OpenAI-compatible model
server in `review_bot.llm.openai`) send a request through `send`, with a `Policy` that says
what differs between them: which answers and which connection errors deserve another try,
whether Retry-After may be an HTTP date, whether GitHub's rate-limit reset counts, and how
long a wait may be. The loop raises nothing of its own kind to a user: it returns the final
answer (`Answer`), or raises `Unreachable` or `WaitTooLong`, and each client words those in
its own error.

The wait before attempt n + 1 (n from 0) after a connection error is the backoff
`backoff_s * 2**n`, cut to `max_wait_s` when there is one:

>>> policy = Policy(retries=3, backoff_s=0.5, retryable=lambda response: True)
>>> [backoff(policy, n) for n in range(4)]
[0.5, 1.0, 2.0, 4.0]
>>> [backoff(policy._replace(max_wait_s=1.5), n) for n in range(4)]
[0.5, 1.0, 1.5, 1.5]

After an answer worth another try, the server's own word comes first:

>>> headers = httpx.Headers({"Retry-After": "120"})
>>> response_wait(policy, httpx.Response(503, headers=headers), 0)
120.0
>>> response_wait(policy._replace(max_retry_after_s=30.0), httpx.Response(503, headers=headers), 0)
30.0
>>> response_wait(policy, httpx.Response(503), 2)
2.0

A rate limit that says nothing of how long (GitHub's secondary limits: a 403 or 429 with
neither Retry-After nor a reset) waits at least `limit_wait_s`, doubling, as GitHub asks;
a Retry-After that is no number and no date counts as absent:

>>> limited = policy._replace(limited=lambda response: response.status_code == 429)
>>> [response_wait(limited, httpx.Response(429), n) for n in range(2)]
[60.0, 120.0]
>>> response_wait(limited, httpx.Response(429, headers={"Retry-After": "soon"}), 0)
60.0

A wait the server asks for that is longer than `max_wait_s` is not waited for at all:
`send` raises `WaitTooLong` instead, so that a job does not sit out an hour's rate limit.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import httpx


class Policy(NamedTuple):
    """How one client retries; everything the two clients do differently."""

    retries: int  # tries after the first
    backoff_s: float  # the first wait of the backoff, doubled each time
    # An answer worth another try (429, 5xx, a rate-limited 403, ...); any other is final.
    retryable: Callable[[httpx.Response], bool]
    # A connection error worth another try; any other is raised as Unreachable at once.
    retry_transport: Callable[[httpx.TransportError], bool] = lambda exc: True
    # Retry-After in seconds is cut to this (None: taken as sent).
    max_retry_after_s: float | None = None
    # Retry-After may be an HTTP date (RFC 9110) as well as seconds.
    retry_after_dates: bool = False
    # GitHub's primary rate limit: x-ratelimit-remaining 0 waits until x-ratelimit-reset.
    rate_limit_reset: bool = False
    # The longest wait: a backoff is cut to it, a longer wait asked for raises WaitTooLong.
    max_wait_s: float | None = None
    # A rate limit that may come without headers (GitHub's secondary limits): when neither
    # Retry-After nor the reset says how long, wait `limit_wait_s * 2**attempt`.
    limited: Callable[[httpx.Response], bool] = lambda response: False
    limit_wait_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    # One attempt's whole answer, not only each read (a server that sends one byte every
    # few seconds never trips a read timeout, issue 22), and its largest body.
    deadline_s: float | None = None
    max_bytes: int | None = None


class Answer(NamedTuple):
    """The final answer to a request, and how many attempts it took."""

    response: httpx.Response
    attempts: int
    exhausted: bool  # it was worth another try, but none was left


class Unreachable(Exception):
    """A connection error that is final: not worth retrying, or no attempt left."""

    def __init__(self, error: httpx.TransportError, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


class TooSlow(Exception):
    """An answer that did not arrive whole within the policy's `deadline_s`."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"no whole answer within {deadline_s:g} s")
        self.deadline_s = deadline_s


class TooLarge(Exception):
    """An answer whose body passed the policy's `max_bytes`: cut, never read whole."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"an answer larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class WaitTooLong(Exception):
    """The server asked for a wait longer than the policy's `max_wait_s`."""

    def __init__(self, response: httpx.Response, wait_s: float, attempts: int) -> None:
        super().__init__(f"asked to wait {wait_s:.0f} s")
        self.response = response
        self.wait_s = wait_s
        self.attempts = attempts


def backoff(policy: Policy, attempt: int) -> float:
    """The wait after a connection error on attempt `attempt` (from 0)."""
    wait = float(policy.backoff_s * 2**attempt)
    return wait if policy.max_wait_s is None else min(wait, policy.max_wait_s)


def retry_after(value: str, *, dates: bool) -> float | None:
    """Retry-After as seconds from now (unclamped), or None when it says nothing usable
    (a server may send anything: "soon", "nan", an empty value)."""
    try:
        seconds = float(value)
    except ValueError:
        if not dates:
            return None
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - Python < 3.10 returned None for a bad date
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp() - time.time()


def response_wait(policy: Policy, response: httpx.Response, attempt: int) -> float:
    """Seconds to wait after an answer worth another try on attempt `attempt` (from 0)."""
    headers = response.headers
    value = headers.get("retry-after")
    if value is not None:
        seconds = retry_after(value, dates=policy.retry_after_dates)
        if seconds is not None:
            if policy.max_retry_after_s is not None:
                return min(max(seconds, 0.0), policy.max_retry_after_s)
            return max(0.0, seconds)
    if (
        policy.rate_limit_reset
        and headers.get("x-ratelimit-remaining") == "0"
        and "x-ratelimit-reset" in headers
    ):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
        except ValueError:
            pass
    if policy.limited(response):
        return float(policy.limit_wait_s * 2**attempt)
    return float(policy.backoff_s * 2**attempt)


def send(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    policy: Policy,
    *,
    json: Any = None,
    params: Mapping[str, str | int] | None = None,
) -> Answer:
    """Send a request, trying again as `policy` says; the final answer, whatever its status.

    Raises Unreachable for a connection error that is final, and WaitTooLong when the
    server asks for a wait longer than `policy.max_wait_s`.
    """
    for attempt in range(policy.retries + 1):
        last = attempt == policy.retries
        try:
            if policy.deadline_s is None and policy.max_bytes is None:
                response = client.request(method, url, json=json, params=params)
            else:
                response = _bounded(client, method, url, policy, json=json, params=params)
        except httpx.TransportError as exc:
            if last or not policy.retry_transport(exc):
                raise Unreachable(exc, attempt + 1) from exc
            policy.sleep(backoff(policy, attempt))
            continue
        if not policy.retryable(response):
            return Answer(response, attempt + 1, exhausted=False)
        wait = response_wait(policy, response, attempt)
        if last:
            return Answer(response, attempt + 1, exhausted=True)
        if policy.max_wait_s is not None and wait > policy.max_wait_s:
            raise WaitTooLong(response, wait, attempt + 1)
        policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _bounded(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    policy: Policy,
    *,
    json: Any,
    params: Mapping[str, str | int] | None,
) -> httpx.Response:
    """The answer read in chunks against the policy's deadline and size cap."""
    start = time.monotonic()
    request = client.build_request(method, url, json=json, params=params)
    streamed = client.send(request, stream=True)
    body = bytearray()
    try:
        for chunk in streamed.iter_bytes():
            body += chunk
            if policy.max_bytes is not None and len(body) > policy.max_bytes:
                raise TooLarge(policy.max_bytes)
            if policy.deadline_s is not None and time.monotonic() - start > policy.deadline_s:
                raise TooSlow(policy.deadline_s)
    finally:
        streamed.close()
    if policy.deadline_s is not None and time.monotonic() - start > policy.deadline_s:
        raise TooSlow(policy.deadline_s)
    headers = [(k, v) for k, v in streamed.headers.items() if k.lower() != "content-encoding"]
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=request
    )
