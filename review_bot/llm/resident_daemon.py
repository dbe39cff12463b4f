"""The resident model process (llm/resident.py says what it is for and who starts it).

    python -m review_bot.llm.resident_daemon SOCKET    # {"spec": ..., "keep_alive_s": ...} on stdin

It listens first, then leaves its starter (which waits for that exit), and loads the model
on the first call, so that a load error reaches the caller as that call's one-line error.
It answers one connection at a time (the engine runs one generation at a time anyway),
each one message: `complete`, `status` or `stop`. It exits `keep_alive_s` (the last
request's) after the last call, and removes its socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.llm import Backend
from review_bot.llm.resident import Spec, read_message, send_message

# How often an idle process looks at the clock and at the cores.
TICK_S = 1.0
# Idle this long before it reloads the engine with more threads (cores came free).
SETTLE_S = 3.0


class Daemon:
    def __init__(self, spec: Spec, path: Path, keep_alive_s: float) -> None:
        from review_bot.core.backends import llamacpp_factory

        settings = Settings(
            n_ctx=spec.n_ctx,
            gpu_layers=spec.gpu_layers,
            seed=spec.seed,
            threads=spec.threads,
            runtime=spec.runtime,
        )
        self.spec = spec
        self.path = path
        self.backend: Backend = llamacpp_factory(Path(spec.model), spec.bundled, settings)
        self.keep_alive_s = keep_alive_s  # the first request's own replaces it
        self.last = time.monotonic()
        self.calls = 0
        self.loaded_at: float | None = None  # the engine's load_seconds() after the last call
        self.more_threads = 0  # reloads with more threads while idle
        self.stopping = False

    # -- requests ----------------------------------------------------------------------

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "status":
            return {"ok": self.status()}
        if op == "stop":
            self.stopping = True
            return {"ok": self.status()}
        if op != "complete" or not isinstance(message.get("args"), dict):
            return {"error": f"the resident model process does not know {op!r}"}
        keep = message.get("keep_alive_s")
        if isinstance(keep, (int, float)) and keep >= 0:
            self.keep_alive_s = float(keep)
        args = message["args"]
        before = self.backend.load_seconds()
        try:
            done = self.backend.complete(
                str(args["prompt"]),
                max_tokens=int(args["max_tokens"]),
                temperature=float(args["temperature"]),
                stop=[str(s) for s in args.get("stop") or []],
                json_schema=args.get("json_schema"),
                seed=args.get("seed"),
            )
        except FatalError as exc:
            return {"error": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            return {"error": f"the resident model process got a bad request: {exc}"}
        finally:
            self.last = time.monotonic()
        self.calls += 1
        after = self.backend.load_seconds()
        # A load (first call, or a reload with fewer threads) shows as a changed figure.
        load_s = after if after != before else 0.0
        _log(
            f"call {self.calls}: {getattr(self.backend, 'n_threads', '?')} threads, "
            f"load {load_s:.2f} s, generated {done.completion_tokens} tokens "
            f"(prompt {done.prompt_tokens}) in {done.seconds:.2f} s"
        )
        return {"ok": done._asdict(), "load_s": load_s}

    def status(self) -> dict[str, Any]:
        return {
            "model": self.spec.model,
            "pid": os.getpid(),
            "threads": getattr(self.backend, "n_threads", None),
            "calls": self.calls,
            "idle_s": round(time.monotonic() - self.last, 1),
            "keep_alive_s": self.keep_alive_s,
        }

    # -- idle ----------------------------------------------------------------------------

    def idle(self) -> None:
        """Between calls: reload with more threads when cores came free (a reload is
        seconds; a call at one thread where two are free is ~1.5x slower)."""
        if time.monotonic() - self.last < SETTLE_S or not self.calls:
            return
        if not getattr(self.backend, "follow_load", False):
            return
        from review_bot.llm.threads import resolve_threads

        loaded = int(getattr(self.backend, "n_threads", 0))
        now = resolve_threads(0).n
        if now > loaded:
            reload = getattr(self.backend, "reload", None)
            if callable(reload):
                started = time.monotonic()
                reload(now)
                self.more_threads += 1
                self.last = time.monotonic()
                _log(f"idle: reloaded with {now} threads in {self.last - started:.2f} s")

    def expired(self) -> bool:
        return self.stopping or time.monotonic() - self.last > self.keep_alive_s


def _log(line: str) -> None:
    """One line of the process's log (the socket's name with .log)."""
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def _same_user(conn: socket.socket) -> bool:
    """The client runs as this user (Linux's SO_PEERCRED; elsewhere the 0700 directory)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux
        return True
    raw = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return bool(uid == os.getuid())


def serve(daemon: Daemon, listener: socket.socket) -> None:
    listener.settimeout(TICK_S)
    while not daemon.expired():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            daemon.idle()
            continue
        _handle(daemon, conn)


def _handle(daemon: Daemon, conn: socket.socket) -> None:
    with conn:
        conn.settimeout(30.0)  # for reading the request; the model call is not bounded
        try:
            if not _same_user(conn):
                return
            message = read_message(conn)
            if message is None:
                return
            reply = daemon.answer(message)
            reply["pid"] = os.getpid()
            send_message(conn, reply)
        except (OSError, ValueError) as exc:  # a client that went away, or sent garbage
            with contextlib.suppress(OSError):
                send_message(conn, {"error": f"the resident model process: {exc}"})


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    start = json.loads(sys.stdin.read())
    spec = Spec(**start["spec"])
    daemon = Daemon(spec, path, float(start["keep_alive_s"]))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The client that started this holds the lock: a socket file left here is stale.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener.bind(str(path))
    os.chmod(path, 0o600)
    inode = path.stat().st_ino
    listener.listen(16)
    # Listening: the client that started this sees it exit 0 and goes on; the rest runs in
    # a child that nobody waits for (it is not the client's child: no zombie, no warning).
    if os.fork():
        os._exit(0)
    print(f"review-bot: resident model {spec.model} at {path} (pid {os.getpid()})", flush=True)
    try:
        serve(daemon, listener)
    finally:
        # New clients start a fresh process from here on; the ones already queued are
        # answered (or told nothing and start one: resident.ResidentBackend._call).
        with contextlib.suppress(OSError):
            if path.stat().st_ino == inode:
                path.unlink()
        listener.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                conn.setblocking(True)
                if daemon.stopping:
                    conn.close()
                else:
                    _handle(daemon, conn)
        listener.close()
        print(f"review-bot: resident model stopped after {daemon.calls} calls", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyboardInterrupt:
        sys.exit(130)
