"""llm/threads: the `threads` setting and a default that does not oversubscribe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from review_bot.config import Settings, load_settings
from review_bot.core.backends import llamacpp_factory
from review_bot.llm.threads import physical_cores, resolve_threads, running_others

HYPERTHREADED = "".join(
    f"processor\t: {n}\nphysical id\t: 0\ncore id\t\t: {n // 2}\n\n" for n in range(4)
)


def test_physical_cores_not_hyperthreads(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(HYPERTHREADED)
    assert physical_cores(cpuinfo) == 2
    assert physical_cores(tmp_path / "missing") is None


def test_running_others_leaves_this_process_out(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 3\nprocs_blocked 0\n")
    tasks = tmp_path / "task"
    (tasks / "1").mkdir(parents=True)
    (tasks / "1" / "stat").write_text("1 (python3 (x)) R 1 2 3\n")
    assert running_others(stat, tasks) == 2
    # This process's own running threads (llama.cpp's, spinning after a call) are not
    # another process's load.
    for tid, state in ((2, "R"), (3, "S")):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python3 (x)) {state} 1 2 3\n")
    assert running_others(stat, tasks) == 1
    stat.write_text("cpu  1 2 3\nprocs_running 1\n")
    assert running_others(stat, tasks) == 0
    stat.write_text("cpu  1 2 3\n")
    assert running_others(stat) is None


def test_the_setting_wins_and_the_default_is_within_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_threads(3) == (3, "set")
    auto = resolve_threads(0)
    assert 1 <= auto.n <= (os.cpu_count() or 1) and auto.why.startswith("auto: ")
    monkeypatch.setenv("REVIEW_BOT_THREADS", "2")
    assert load_settings(tmp_path, {}).threads == 2


def test_xllamacpp_is_given_the_threads(smollm: Path, tmp_path: Path) -> None:
    from review_bot.llm.xllamacpp import server_params

    backend = llamacpp_factory(smollm, True, Settings(threads=1, home=tmp_path))
    assert backend.n_threads == 1  # type: ignore[attr-defined]
    params = server_params(smollm, n_ctx=512, gpu_layers=0, n_threads=1, seed=1)
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (1, 1)


@pytest.mark.model
@pytest.mark.llama_cpp_python
def test_llama_cpp_runs_with_the_threads_it_was_given(smollm: Path, tmp_path: Path) -> None:
    settings = Settings(threads=1, home=tmp_path, runtime="llama-cpp-python")
    backend = llamacpp_factory(smollm, True, settings)
    completion = backend.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    assert completion.completion_tokens >= 1
    llama = backend._model()  # type: ignore[attr-defined]
    assert (llama.n_threads, llama.n_threads_batch) == (1, 1)


@pytest.mark.model
def test_the_default_reloads_with_fewer_threads_when_the_machine_gets_busy(
    smollm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 23: the default was taken once per process; a build that started beside a
    # commit left llama.cpp with two threads on one free core (1-2 tokens/s instead of 25).
    from review_bot.llm import threads
    from review_bot.llm.xllamacpp import XllamacppBackend

    backend = XllamacppBackend(smollm, n_ctx=512, n_threads=2, follow_load=True)
    first = backend.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    assert (backend.n_threads, backend.reloads) == (2, 0)
    monkeypatch.setattr(threads, "resolve_threads", lambda setting: threads.Threads(1, "auto"))
    again = backend.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    assert (backend.n_threads, backend.reloads) == (1, 1)
    assert again.text == first.text  # the same model, greedy: the same answer
    # Free cores again: no reload (it would cost more than the call gains).
    monkeypatch.setattr(threads, "resolve_threads", lambda setting: threads.Threads(2, "auto"))
    backend.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    assert (backend.n_threads, backend.reloads) == (1, 1)
    # A set count is never changed.
    fixed = XllamacppBackend(smollm, n_ctx=512, n_threads=2)
    fixed.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    monkeypatch.setattr(threads, "resolve_threads", lambda setting: threads.Threads(1, "auto"))
    fixed.complete("def add(a, b):", max_tokens=4, temperature=0.0)
    assert (fixed.n_threads, fixed.reloads) == (2, 0)
    backend.close()
    fixed.close()
