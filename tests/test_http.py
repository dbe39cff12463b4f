"""The one retry loop: which answers and errors are tried again, how long it waits, and what
it hands back. Waits are recorded, never slept; one test talks real HTTP to a local server."""

from __future__ import annotations

import doctest
import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from review_bot import http

Handler = Callable[[httpx.Request], httpx.Response]


def is_5xx(response: httpx.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429


def policy(sleeps: list[float], **changes: Any) -> http.Policy:
    values: dict[str, Any] = {
        "retries": 3,
        "backoff_s": 0.5,
        "retryable": is_5xx,
        "sleep": sleeps.append,
    }
    return http.Policy(**(values | changes))


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler that gives `responses` in turn (the last one repeats) and records requests."""
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return handle, seen


def send(handler: Handler, p: http.Policy, **kwargs: Any) -> http.Answer:
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://h/") as client:
        return http.send(client, "GET", "x", p, **kwargs)


def test_the_algorithm_in_the_module_docstring() -> None:
    assert doctest.testmod(http, raise_on_error=True).attempted > 0


def test_final_answers_come_back_at_once() -> None:
    sleeps: list[float] = []
    for status in (200, 404, 422):
        handler, seen = answers(httpx.Response(status))
        answer = send(handler, policy(sleeps))
        assert answer.response.status_code == status
        assert (answer.attempts, answer.exhausted, len(seen)) == (1, False, 1)
    assert sleeps == []


def test_answers_worth_another_try_back_off_then_succeed() -> None:
    sleeps: list[float] = []
    handler, seen = answers(httpx.Response(503), httpx.Response(500), httpx.Response(200))
    answer = send(handler, policy(sleeps))
    assert (answer.response.status_code, answer.attempts, answer.exhausted) == (200, 3, False)
    assert sleeps == [0.5, 1.0] and len(seen) == 3


def test_the_last_retryable_answer_is_handed_back_as_exhausted() -> None:
    sleeps: list[float] = []
    handler, seen = answers(httpx.Response(503))
    answer = send(handler, policy(sleeps, retries=2))
    assert (answer.response.status_code, answer.attempts, answer.exhausted) == (503, 3, True)
    assert sleeps == [0.5, 1.0] and len(seen) == 3
    handler, seen = answers(httpx.Response(503))
    assert send(handler, policy(sleeps, retries=0)).attempts == 1 and len(seen) == 1


def test_which_answers_are_retried_is_the_policys_choice() -> None:
    handler, seen = answers(httpx.Response(503))
    answer = send(handler, policy([], retryable=lambda response: False))
    assert (answer.attempts, answer.exhausted, len(seen)) == (1, False, 1)


def test_retry_after_seconds_are_honoured_and_capped_if_the_policy_says() -> None:
    sleeps: list[float] = []
    handler, _ = answers(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503, headers={"Retry-After": "-3"}),
        httpx.Response(503, headers={"Retry-After": "soon"}),  # not a number: the backoff
        httpx.Response(200),
    )
    send(handler, policy(sleeps))
    assert sleeps == [7.0, 0.0, 2.0]
    sleeps.clear()
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(200))
    send(handler, policy(sleeps, max_retry_after_s=30.0))
    assert sleeps == [30.0]


def test_retry_after_as_an_http_date_only_when_the_policy_reads_dates() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    date = email.utils.format_datetime(when, usegmt=True)
    past = email.utils.format_datetime(when - timedelta(hours=1), usegmt=True)
    sleeps: list[float] = []
    handler, _ = answers(
        httpx.Response(503, headers={"Retry-After": date}),
        httpx.Response(503, headers={"Retry-After": past}),
        httpx.Response(200),
    )
    send(handler, policy(sleeps, retry_after_dates=True))
    assert 15 <= sleeps[0] <= 20 and sleeps[1] == 0.0
    sleeps.clear()
    handler, _ = answers(httpx.Response(503, headers={"Retry-After": date}), httpx.Response(200))
    send(handler, policy(sleeps))
    assert sleeps == [0.5]  # a date is not read: the backoff


def test_the_rate_limit_reset_is_waited_for_when_the_policy_says() -> None:
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 30)}
    sleeps: list[float] = []
    handler, _ = answers(httpx.Response(403, headers=reset), httpx.Response(200))
    send(handler, policy(sleeps, retryable=lambda r: r.status_code == 403, rate_limit_reset=True))
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31
    sleeps.clear()
    handler, _ = answers(httpx.Response(403, headers=reset), httpx.Response(200))
    send(handler, policy(sleeps, retryable=lambda r: r.status_code == 403))
    assert sleeps == [0.5]
    sleeps.clear()
    # Retry-After comes first; a reset that is not a number leaves the backoff.
    handler, _ = answers(
        httpx.Response(403, headers=reset | {"Retry-After": "3"}),
        httpx.Response(403, headers=reset | {"x-ratelimit-reset": "later"}),
        httpx.Response(200),
    )
    send(handler, policy(sleeps, retryable=lambda r: r.status_code == 403, rate_limit_reset=True))
    assert sleeps == [3.0, 1.0]


def test_a_wait_longer_than_max_wait_ends_the_tries() -> None:
    sleeps: list[float] = []
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(http.WaitTooLong) as caught:
        send(handler, policy(sleeps, max_wait_s=60.0))
    assert (caught.value.wait_s, caught.value.attempts) == (3600.0, 1)
    assert caught.value.response.status_code == 429
    assert sleeps == [] and len(seen) == 1
    # A growing backoff counts too; on the last attempt the answer is simply handed back.
    handler, seen = answers(httpx.Response(503))
    with pytest.raises(http.WaitTooLong) as caught:
        send(handler, policy(sleeps, max_wait_s=1.5))
    assert (caught.value.wait_s, caught.value.attempts, sleeps) == (2.0, 3, [0.5, 1.0])
    sleeps.clear()
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "3600"}))
    answer = send(handler, policy(sleeps, retries=0, max_wait_s=60.0))
    assert answer.exhausted and sleeps == []


def test_connection_errors_are_retried_with_a_capped_backoff_then_raised() -> None:
    sleeps: list[float] = []
    refused = httpx.ConnectError("connection refused")
    handler, seen = answers(refused, refused, httpx.Response(200))
    assert send(handler, policy(sleeps)).attempts == 3
    assert sleeps == [0.5, 1.0]
    sleeps.clear()
    handler, seen = answers(refused)
    with pytest.raises(http.Unreachable, match="connection refused") as caught:
        send(handler, policy(sleeps, max_wait_s=1.5))
    assert caught.value.error is refused and caught.value.attempts == 4
    assert sleeps == [0.5, 1.0, 1.5] and len(seen) == 4


def test_connection_errors_the_policy_does_not_retry_are_raised_at_once() -> None:
    sleeps: list[float] = []
    timeout = httpx.ReadTimeout("slow")
    handler, seen = answers(timeout, httpx.Response(200))
    p = policy(sleeps, retry_transport=lambda exc: not isinstance(exc, httpx.TimeoutException))
    with pytest.raises(http.Unreachable) as caught:
        send(handler, p)
    assert caught.value.error is timeout and caught.value.attempts == 1
    assert sleeps == [] and len(seen) == 1


# -- real HTTP ------------------------------------------------------------------------------


class Server:
    """A local server that answers 503 (Retry-After: 0) `busy` times, then echoes the request."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.seen: list[tuple[str, str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                outer.seen.append((self.command, self.path, body))
                if outer.busy:
                    outer.busy -= 1
                    status, payload, extra = 503, b"busy", {"Retry-After": "0"}
                else:
                    status, extra = 200, {}
                    payload = json.dumps({"path": self.path, "body": body}).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(busy=2)
    thread = threading.Thread(target=state.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def test_over_real_http_the_same_request_is_sent_again(server: Server) -> None:
    sleeps: list[float] = []
    with httpx.Client(base_url=server.url) as client:
        answer = http.send(
            client, "POST", "things", policy(sleeps), json={"n": 1}, params={"page": 2}
        )
    assert answer.response.json() == {"path": "/things?page=2", "body": {"n": 1}}
    assert answer.attempts == 3 and sleeps == [0.0, 0.0]
    assert server.seen == [("POST", "/things?page=2", {"n": 1})] * 3


def test_over_real_http_a_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}/") as client,
        pytest.raises(http.Unreachable) as caught,
    ):
        http.send(client, "GET", "x", policy(sleeps, retries=1))
    assert isinstance(caught.value.error, httpx.ConnectError) and caught.value.attempts == 2
    assert sleeps == [0.5]
