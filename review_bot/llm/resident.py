"""A resident model: loaded once, kept by a small process of its own, reused by every run.

Loading the model costs seconds per commit (about 2 s to load, 2 s more on the first call
while the weights page in; issue 23). With `keep_alive_s` above 0 (the hook's default, see
hook/run.py) the first run starts a resident process for its model and settings, and
every later run (commit) whose model and settings are the same sends its completions there
instead of loading the model again. The process exits `keep_alive_s` after its last call,
as Ollama's `keep_alive` does; `review-bot models unload` stops it at once.

- Where: one Unix socket per model and settings, in a directory of this user's only
  (`$XDG_RUNTIME_DIR/review-bot`, else `review-bot-UID` in the temporary directory; mode
  0700, refused when another user owns it). The process also checks that a client runs as
  the same user (SO_PEERCRED, on Linux). The jail hides both places from generated code
  (sandbox/jail.py: `/run` is hidden, `/tmp` is the run's own).
- What: one JSON line per connection, the arguments of `Backend.complete`; one JSON line
  back, the Completion or a one-line error. Nothing else travels: no code runs there, no
  file is read there but the model.
- Who starts it: the first client, under a lock file, so that two commits at once start
  one process; its environment carries no secret (`daemon_environment`).
- Threads: the process runs the in-process engine (llm/xllamacpp.py or llm/llamacpp.py)
  with the same `threads` setting, so the default follows the load call by call as it
  does in process; while idle it reloads with more threads when cores came free
  (llm/resident_daemon.py).

A resident model is a different process, not a different model: the bodies sent to
llama.cpp are the ones the in-process backend sends.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from review_bot import __version__
from review_bot.config import Settings
from review_bot.errors import ModelError
from review_bot.llm import Completion, ModelInfo
from review_bot.llm.models import describe

# A reply bigger than this is not a completion (max_tokens bounds a real one).
MAX_MESSAGE = 16 * 1024 * 1024
# How long a client waits for a process it started to listen (it listens before loading).
START_TIMEOUT_S = 30.0
# Variables a resident process keeps: what finds programs and libraries, picks a GPU or
# tunes llama.cpp. Tokens and keys (REVIEW_BOT_API_KEY, GITHUB_TOKEN, ...) never reach it.
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "LD_LIBRARY_PATH")
KEPT_PREFIXES = ("CUDA_", "GGML_", "LLAMA_", "HIP_", "ROCR_", "OMP_", "XDG_RUNTIME_DIR")


class Spec(NamedTuple):
    """What a resident process is started with; equal specs share one process."""

    model: str  # the GGUF file, absolute
    bundled: bool
    n_ctx: int
    gpu_layers: int  # the setting (-1: auto), resolved by the process as in process
    seed: int
    threads: int  # the setting (0: follow the load)
    runtime: str

    @classmethod
    def of(cls, path: Path, bundled: bool, settings: Settings) -> Spec:
        return cls(
            str(path.resolve()),
            bundled,
            settings.n_ctx,
            settings.gpu_layers,
            settings.seed,
            settings.threads,
            settings.runtime,
        )

    def key(self) -> str:
        """The socket's name: the spec, the file's identity and this installation."""
        try:
            info = os.stat(self.model)
            identity = [info.st_size, info.st_mtime_ns, info.st_ino]
        except OSError:
            identity = []
        text = json.dumps([list(self), identity, __version__, sys.executable])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def available() -> bool:
    """Unix sockets exist here (a resident model needs them; elsewhere: in process)."""
    return hasattr(socket, "AF_UNIX") and os.name == "posix"


def runtime_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where this user's resident processes listen (nothing is created here)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR", "")
    if base and Path(base).is_absolute() and Path(base).is_dir():
        return Path(base) / "review-bot"
    return Path(tempfile.gettempdir()) / f"review-bot-{os.getuid()}"


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """This user's directory of resident processes: created 0700, refused if not ours."""
    path = runtime_path(environ)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ModelError(f"{path}: not a directory of this user; the resident model needs one")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def daemon_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a resident process: no token, no key, no setting of a run."""
    kept = {
        name: value
        for name, value in environ.items()
        if name in KEPT_VARIABLES or name.startswith(KEPT_PREFIXES)
    }
    kept["HOME"] = "/"  # it reads nothing of the home; a home that is a file breaks nothing
    return kept


# -- one request, one reply ----------------------------------------------------------------


def send_message(conn: socket.socket, message: Mapping[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode("utf-8") + b"\n")


def read_message(conn: socket.socket) -> dict[str, Any] | None:
    """One JSON object up to a newline; None when the peer closed without one."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
        if size > MAX_MESSAGE:
            raise ValueError("message too long")
    data = json.loads(b"".join(chunks))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


class _Gone(Exception):
    """The process closed the connection without a reply (it was exiting, or it died)."""


def request(path: Path, message: Mapping[str, Any], *, timeout_s: float) -> dict[str, Any]:
    """Send one message to the process at `path` and return its reply.

    Raises FileNotFoundError/ConnectionRefusedError when none listens there, _Gone when it
    closed without answering, ValueError when the reply is not one JSON object, TimeoutError
    past `timeout_s`.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        conn.connect(str(path))
        try:
            send_message(conn, message)
            reply = read_message(conn)
        except (ConnectionResetError, BrokenPipeError):
            reply = None  # it was exiting, or died
    if reply is None:
        raise _Gone()
    return reply


# -- the client: a Backend -----------------------------------------------------------------


class ResidentBackend:
    """Backend.complete sent to the resident process of its spec, started on first use."""

    def __init__(
        self,
        spec: Spec,
        info: ModelInfo,
        *,
        keep_alive_s: float,
        timeout_s: float,
        directory: Path | None = None,
    ) -> None:
        self.spec = spec
        self._info = info
        self.keep_alive_s = keep_alive_s
        self.timeout_s = timeout_s
        self.directory = directory or runtime_dir()
        self.socket = self.directory / f"{spec.key()}.sock"
        self.started = False  # this client started the process
        self.pid: int | None = None  # the process that answered last
        self._load_s = 0.0

    @classmethod
    def of(cls, path: Path, bundled: bool, settings: Settings) -> ResidentBackend:
        assert settings.keep_alive_s is not None
        return cls(
            Spec.of(path, bundled, settings),
            describe(path, bundled),  # a bad file: one line here, before any process
            keep_alive_s=settings.keep_alive_s,
            timeout_s=settings.request_timeout_s,
        )

    def info(self) -> ModelInfo:
        return self._info

    def load_seconds(self) -> float:
        """What the resident process spent loading for this client's calls (0 when it was
        loaded already: the point of it)."""
        return self._load_s

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        message = {
            "op": "complete",
            "keep_alive_s": self.keep_alive_s,
            "args": {
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stop": list(stop),
                "json_schema": json_schema,
                "seed": seed,
            },
        }
        reply = self._call(message)
        if "error" in reply:
            raise ModelError(str(reply["error"]))
        try:
            done = reply["ok"]
            self._load_s += float(reply.get("load_s", 0.0))
            return Completion(
                text=str(done["text"]),
                prompt_tokens=int(done["prompt_tokens"]),
                completion_tokens=int(done["completion_tokens"]),
                seconds=float(done["seconds"]),
                finish_reason=str(done["finish_reason"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"the resident model process answered nonsense ({self.log})") from None

    @property
    def log(self) -> Path:
        return self.socket.with_suffix(".log")

    def _call(self, message: Mapping[str, Any]) -> dict[str, Any]:
        # Twice at most: a process that was exiting (its keep-alive ran out as this
        # connected) closes without a reply; the second try starts a fresh one.
        for attempt in (1, 2):
            try:
                reply = request(self.socket, message, timeout_s=self.timeout_s)
            except (FileNotFoundError, ConnectionRefusedError):
                self._start()
                continue
            except _Gone:
                if attempt == 2:
                    raise ModelError(
                        f"the resident model process ended during a call (its log: {self.log})"
                    ) from None
                continue
            except ValueError:
                raise ModelError(
                    f"the resident model process answered nonsense (its log: {self.log})"
                ) from None
            except TimeoutError:
                raise ModelError(
                    f"the resident model did not answer in {self.timeout_s:g} s (request_timeout_s)"
                ) from None
            self.pid = reply.get("pid") if isinstance(reply.get("pid"), int) else None
            return reply
        raise ModelError(f"the resident model process could not be reached ({self.log})")

    def _start(self) -> None:
        """Start the process unless another client did meanwhile; wait until it listens."""
        with _locked(self.socket.with_suffix(".lock")):
            if _listening(self.socket):
                return
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "review_bot.llm.resident_daemon", str(self.socket)],
                    stdin=subprocess.PIPE,
                    stdout=fd,
                    stderr=fd,
                    env=daemon_environment(os.environ),
                    cwd="/",
                    start_new_session=True,  # a hook's timeout kills its group, not this
                )
            finally:
                os.close(fd)
            assert process.stdin is not None
            start = {"spec": self.spec._asdict(), "keep_alive_s": self.keep_alive_s}
            process.stdin.write(json.dumps(start).encode())
            process.stdin.close()
            try:
                code = process.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            if code != 0 or not _listening(self.socket):
                raise ModelError(
                    f"the resident model process did not start: {_last_line(self.log)}"
                )
            self.started = True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"no output (its log: {log})"


# -- what is running -----------------------------------------------------------------------


class Resident(NamedTuple):
    socket: Path
    status: dict[str, Any]  # what the process says of itself (model, pid, threads, ...)


def running(directory: Path | None = None) -> list[Resident]:
    """The resident processes of this user that answer."""
    directory = directory or runtime_dir()
    found = []
    for path in sorted(directory.glob("*.sock")):
        with contextlib.suppress(OSError, ValueError, _Gone):
            reply = request(path, {"op": "status"}, timeout_s=5.0)
            if isinstance(reply.get("ok"), dict):
                found.append(Resident(path, reply["ok"]))
    return found


def unload(directory: Path | None = None) -> list[Resident]:
    """Stop every resident process of this user; the ones that were asked."""
    stopped = []
    for resident in running(directory):
        with contextlib.suppress(OSError, ValueError, _Gone):
            request(resident.socket, {"op": "stop"}, timeout_s=5.0)
            stopped.append(resident)
    return stopped
