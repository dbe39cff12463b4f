"""A loopback stub of an OpenAI-compatible server, for the tests of review-bot's HTTP backend
and of the commands that talk to such a server.

The `stub` fixture (imported by name where it is used) serves it on a free port in a
thread: `stub.on("GET /v1/models", Reply(200, models_list("m")))` queues answers, and
`stub.requests(route)` returns what came in.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest


class Reply(NamedTuple):
    status: int = 200
    body: Any = None
    headers: dict[str, str] = {}  # noqa: RUF012 - never mutated
    delay_s: float = 0.0
    trickle_s: float = 0.0  # the body one byte at a time, this long apart


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Stub:
    """Answers each `METHOD /path` from a queue of replies; the last one repeats."""

    port: int = 0
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def on(self, route: str, *replies: Reply) -> None:
        self.routes[route] = list(replies)

    def requests(self, route: str) -> list[Seen]:
        method, path = route.split(" ", 1)
        return [s for s in self.seen if s.method == method and s.path == path]

    def answer(self, method: str, path: str) -> Reply:
        queue = self.routes.get(f"{method} {path}")
        if not queue:
            return Reply(404, {"error": {"message": f"no route {path}"}})
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            stub.seen.append(Seen(self.command, self.path, dict(self.headers), body))
            reply = stub.answer(self.command, self.path)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if isinstance(reply.body, str):
                payload = reply.body.encode()
                kind = "text/plain"
            else:
                payload = json.dumps(reply.body).encode()
                kind = "application/json"
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", kind))
                for name, value in reply.headers.items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not reply.trickle_s:
                    self.wfile.write(payload)
                for index in range(len(payload)) if reply.trickle_s else ():
                    self.wfile.write(payload[index : index + 1])
                    self.wfile.flush()
                    time.sleep(reply.trickle_s)
            except OSError:
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def models_list(*ids: str, owned_by: str = "me", **extra: Any) -> dict[str, Any]:
    return {"data": [{"id": i, "object": "model", "owned_by": owned_by, **extra} for i in ids]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
