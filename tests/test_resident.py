"""The resident model (llm/resident.py, llm/resident_daemon.py): started on first use by a
real process running the real engine, reused by the next client, gone after keep_alive_s.

The tests' resident processes live in a directory of the test session (conftest.py).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from review_bot.commands import cli
from review_bot.config import Settings, load_settings
from review_bot.core.backends import backend_factory, llamacpp_factory, resident_factory
from review_bot.errors import FatalError, ModelError
from review_bot.llm import resident
from review_bot.llm.resident import ResidentBackend
from review_bot.llm.resident_daemon import Daemon

PROMPT = "def add(a, b):\n"


def _call(backend: Any, prompt: str = PROMPT) -> str:
    text: str = backend.complete(prompt, max_tokens=12, temperature=0.0, seed=7).text
    return text


def _mine(model: Path) -> list[resident.Resident]:
    return [r for r in resident.running() if r.status["model"] == str(model.resolve())]


def _settings(keep_alive_s: float, **more: Any) -> Settings:
    # n_ctx makes the spec (and so the process) this test's own.
    return Settings(keep_alive_s=keep_alive_s, **more)


@pytest.mark.model
def test_first_use_starts_it_the_next_client_reuses_it_and_the_text_is_the_same(
    smollm: Path,
) -> None:
    settings = _settings(60, n_ctx=640)
    in_process = llamacpp_factory(smollm, False, settings)
    first = resident_factory(smollm, False, settings)
    assert isinstance(first, ResidentBackend)
    expected = _call(in_process)
    assert _call(first) == expected  # the same engine, the same request body
    assert first.started and first.load_seconds() > 0
    second = resident_factory(smollm, False, settings)
    assert isinstance(second, ResidentBackend)
    assert _call(second) == expected
    assert not second.started and second.load_seconds() == 0.0
    assert second.pid == first.pid and second.pid != os.getpid()
    # Owner-only: the directory and the socket.
    assert stat.S_IMODE(second.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(second.socket.stat().st_mode) == 0o600
    # What the process says it does not know, or cannot read, it answers in one line.
    assert (
        "does not know 'nope'"
        in resident.request(second.socket, {"op": "nope"}, timeout_s=5)["error"]
    )
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(second.socket))
        conn.sendall(b"{not json\n")
        assert b"error" in conn.recv(4096)
    bad = {"op": "complete", "args": {"prompt": "x"}}
    assert "bad request" in resident.request(second.socket, bad, timeout_s=5)["error"]
    # ... and goes on answering.
    assert _call(second) == expected


@pytest.mark.model
def test_it_exits_after_keep_alive_and_the_next_call_starts_another(smollm: Path) -> None:
    settings = _settings(1.5, n_ctx=704)
    backend = resident_factory(smollm, False, settings)
    assert isinstance(backend, ResidentBackend)
    _call(backend)
    pid = backend.pid
    deadline = time.monotonic() + 20
    while backend.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not backend.socket.exists()
    assert "stopped after 1 calls" in backend.log.read_text()
    _call(backend)
    assert backend.started and backend.pid != pid
    resident.unload()


@pytest.mark.model
def test_the_process_keeps_no_secret_and_no_directory_of_the_run(
    smollm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_BOT_API_KEY", "sk-resident-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-resident-secret")
    backend = resident_factory(smollm, False, _settings(60, n_ctx=768))
    assert isinstance(backend, ResidentBackend)
    _call(backend)
    environ = Path(f"/proc/{backend.pid}/environ").read_bytes()
    assert b"resident-secret" not in environ and b"REVIEW_BOT" not in environ
    assert os.readlink(f"/proc/{backend.pid}/cwd") == "/"
    # Its own session: a hook's worker killed with its process group leaves it alone.
    assert os.getsid(backend.pid) != os.getsid(0)


@pytest.mark.model
def test_two_runs_at_once_start_one_process(smollm: Path) -> None:
    settings = _settings(60, n_ctx=832)
    backends = [resident_factory(smollm, False, settings) for _ in range(3)]
    texts: list[str] = []
    threads = [threading.Thread(target=lambda b=b: texts.append(_call(b))) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(texts) == 3 and len(set(texts)) == 1
    started = [b for b in backends if isinstance(b, ResidentBackend) and b.started]
    assert len(started) == 1
    assert len({b.pid for b in backends if isinstance(b, ResidentBackend)}) == 1


@pytest.mark.model
def test_models_unload_stops_them_and_doctor_lists_them(smollm: Path, tmp_path: Path) -> None:
    backend = resident_factory(smollm, False, _settings(60, n_ctx=896))
    _call(backend)
    assert _mine(smollm)
    doctor = CliRunner().invoke(cli, ["doctor", "--model", str(smollm)])
    assert f"resident model: {smollm.name} (pid " in doctor.output, doctor.output
    result = CliRunner().invoke(cli, ["models", "unload"])
    assert result.exit_code == 0 and f"stopped {smollm.resolve()}" in result.output
    assert resident.running() == []
    again = CliRunner().invoke(cli, ["models", "unload"])
    assert again.exit_code == 0 and "no resident model was loaded" in again.output


def test_a_process_that_closes_without_answering_or_answers_garbage_is_one_line(
    smollm: Path, tmp_path: Path
) -> None:
    backend = ResidentBackend.of(smollm, False, _settings(60))
    backend.directory = tmp_path
    backend.socket = tmp_path / "gone.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(backend.socket))
    listener.listen(4)

    def close_twice() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=close_twice)
    thread.start()
    with pytest.raises(ModelError, match="ended during a call"):
        _call(backend)
    thread.join()

    def garbage() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"not json\n")
        conn.close()

    thread = threading.Thread(target=garbage)
    thread.start()
    with pytest.raises(ModelError, match="answered nonsense"):
        _call(backend)
    thread.join()
    listener.close()


def test_a_runtime_directory_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    (tmp_path / "review-bot").write_text("a file")
    with pytest.raises(ModelError, match="not a directory of this user"):
        resident.runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    loose = tmp_path / "other"
    (loose / "review-bot").mkdir(parents=True, mode=0o755)
    path = resident.runtime_dir({"XDG_RUNTIME_DIR": str(loose)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_the_environment_of_the_process_keeps_only_what_finds_its_libraries() -> None:
    kept = resident.daemon_environment(
        {
            "PATH": "/usr/bin",
            "CUDA_VISIBLE_DEVICES": "0",
            "GITHUB_TOKEN": "x",
            "REVIEW_BOT_API_KEY": "y",
            "AWS_SECRET_ACCESS_KEY": "z",
            "HOME": "/home/someone",
        }
    )
    assert kept == {"PATH": "/usr/bin", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/"}


def test_which_backend_keep_alive_chooses(tmp_path: Path) -> None:
    assert backend_factory(Settings()) is llamacpp_factory
    assert backend_factory(Settings(keep_alive_s=0)) is llamacpp_factory
    assert backend_factory(Settings(keep_alive_s=30)) is resident_factory
    server = Settings(keep_alive_s=30, base_url="http://127.0.0.1:1/v1")
    assert backend_factory(server) is not resident_factory
    with pytest.raises(FatalError, match="keep_alive_s must be from 0"):
        load_settings(tmp_path, {}, {"REVIEW_BOT_KEEP_ALIVE_S": "-1"})
    assert load_settings(tmp_path, {}, {"REVIEW_BOT_KEEP_ALIVE_S": "90"}).keep_alive_s == 90


class _Engine:
    """A stand-in engine for the idle rule: loaded with `n_threads`, following the load."""

    def __init__(self, n_threads: int, follow_load: bool) -> None:
        self.n_threads = n_threads
        self.follow_load = follow_load
        self.reloaded: list[int] = []

    def reload(self, n_threads: int) -> None:
        self.reloaded.append(n_threads)
        self.n_threads = n_threads


@pytest.mark.parametrize(
    ("loaded", "follow", "free", "idle_s", "reloaded"),
    [
        (1, True, 2, 10.0, [2]),  # cores came free while idle: more threads
        (2, True, 2, 10.0, []),  # as many as free
        (2, True, 1, 10.0, []),  # fewer free: the next call reloads down, not idle time
        (1, False, 2, 10.0, []),  # a thread count the user set is kept
        (1, True, 2, 0.5, []),  # not settled yet: a commit's next call may be coming
    ],
)
def test_an_idle_process_reloads_with_more_threads_only_when_cores_came_free(
    smollm: Path,
    monkeypatch: pytest.MonkeyPatch,
    loaded: int,
    follow: bool,
    free: int,
    idle_s: float,
    reloaded: list[int],
) -> None:
    from review_bot.llm import threads

    monkeypatch.setattr(threads, "resolve_threads", lambda _: threads.Threads(free, "test"))
    spec = resident.Spec.of(smollm, False, Settings())
    daemon = Daemon(spec, Path("unused.sock"), 60)
    engine = _Engine(loaded, follow)
    daemon.backend = engine  # type: ignore[assignment]
    daemon.calls, daemon.last = 1, time.monotonic() - idle_s
    daemon.idle()
    assert engine.reloaded == reloaded
