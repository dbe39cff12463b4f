"""The warm runner's client: one long-lived interpreter per sandbox that forks per run.

A sandboxed `python -m pytest` spends most of a second starting the interpreter and
importing pytest before the first test runs; a candidate is run five times and its
coverage once. `WarmRunner` starts `warm_server.py` once, in the same jail and with the
same interpreter as any sandboxed command, and asks it for each `python -m MODULE ...`
run; the server forks a child for it (see warm_server.py for what a fork can and cannot
give a run).

The client never trusts the server more than a run: a server that dies, hangs past the
run's deadline or answers garbage ends that run as failed (`RunOutcome(-9, ...)`), is
killed with everything in its session, and a fresh one starts for the next run. When the
server cannot start at all (`WarmRunner.run` returns None) the caller runs the command in
a fresh interpreter as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

SERVER_SOURCE = Path(__file__).with_name("warm_server.py")
START_TIMEOUT_S = 60.0  # importing pytest on a busy laptop, inside a jail
GRACE_S = 10.0  # past a run's own deadline before the server itself is given up on


class RunOutcome(NamedTuple):
    returncode: int  # negative: the signal that ended the run
    timed_out: bool
    note: str  # why the runner failed the run itself ("" when the run ended on its own)


class WarmRunner:
    """A lazily started fork server; `run` is not thread-safe (one run at a time)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        own_pid_namespace: bool = False,
    ) -> None:
        # `command`: the jail prefix, the interpreter and the server script's path.
        # `own_pid_namespace`: the jail gives the server a PID namespace, so its pids mean
        # nothing here (and ending the server ends everything in it).
        self.command = list(command)
        self.own_pid_namespace = own_pid_namespace
        self.env = dict(env)
        self.cwd = cwd
        self.broken = False  # the server could not start: callers run cold from now on
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._process is not None:
            return self._process
        if self.broken:
            return None
        self.starts += 1
        try:
            process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            self.broken = True
            return None
        self._process = process
        self._buffer = b""
        ready = self._reply(time.monotonic() + START_TIMEOUT_S)
        if not (isinstance(ready, dict) and ready.get("ready")):
            self._stop()
            self.broken = True
            return None
        return process

    def _reply(self, deadline: float) -> Any:
        """The next JSON line from the server, or None on EOF, garbage or the deadline."""
        process = self._process
        assert process is not None and process.stdout is not None
        fd = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            return None

    def run(
        self,
        *,
        cwd: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        path: Sequence[str],
        log: Path,
        rlimits: Sequence[tuple[int, tuple[int, int]]],
        timeout_s: float,
    ) -> RunOutcome | None:
        """Run `python ARGV` (`-m MODULE ...`) in `cwd`; None if no server can start."""
        process = self._start()
        if process is None:
            return None
        request = {
            "cwd": str(cwd),
            "argv": list(argv),
            "env": dict(env),
            "path": list(path),
            "log": str(log),
            "rlimits": [[which, soft, hard] for which, (soft, hard) in rlimits],
            "timeout_s": timeout_s,
        }
        stdin: IO[bytes] | None = process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            stdin.flush()
        except OSError:
            self._stop()
            return RunOutcome(-signal.SIGKILL, False, "the warm runner had stopped")
        deadline = time.monotonic() + timeout_s + GRACE_S
        started = self._reply(deadline)
        child = started.get("started") if isinstance(started, dict) else None
        reply = self._reply(deadline) if isinstance(child, int) else None
        if not isinstance(reply, dict) or not isinstance(reply.get("returncode"), int):
            # Killed by the run, hung, or garbage on its stdout: this run fails, the
            # next one gets a fresh server.
            timed_out = process.poll() is None
            if isinstance(child, int) and child > 1 and not self.own_pid_namespace:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)  # the run's own session
            self._stop()
            note = "the run did not end in time" if timed_out else "the run killed its runner"
            return RunOutcome(-signal.SIGKILL, timed_out, note)
        return RunOutcome(int(reply["returncode"]), bool(reply.get("timed_out")), "")

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        process.wait()

    def close(self) -> None:
        """Stop the server and everything in its session (idempotent)."""
        self._stop()
