"""Broken candidates on the real model: repaired or rejected, never kept as they are.

The first test-writing reply is replaced by a deliberately broken candidate; every other
call goes to the real bundled GGUF, so the repair loop runs on the real model.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from review_bot.config import Settings
from review_bot.llm import Completion, ModelInfo
from review_bot.llm.xllamacpp import XllamacppBackend
from review_bot.suggest import suggest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo"


class Saboteur:
    """The real backend, except that the first reply is the given text."""

    def __init__(self, real: XllamacppBackend, first: str) -> None:
        self.real = real
        self.first: str | None = first
        self.prompts: list[str] = []

    def info(self) -> ModelInfo:
        return self.real.info()

    def load_seconds(self) -> float:
        return self.real.load_seconds()

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
        self.prompts.append(prompt)
        if self.first is not None:
            text, self.first = self.first, None
            return Completion(text, 0, 0, 0.0, "stop")
        return self.real.complete(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )


@pytest.fixture(scope="module")
def real(smollm: Path) -> XllamacppBackend:
    return XllamacppBackend(smollm, n_ctx=4096)


@pytest.mark.model
@pytest.mark.parametrize(
    ("broken", "first_attempt"),
    [
        # Forgets to import the function under test: fixed without a model call.
        ("def test_clamp():\n    assert clamp(5, 0, 3) == 3\n", "chat#0: kept"),
        # Never ends: killed at the wall-clock limit.
        ("def test_clamp():\n    while True:\n        pass\n", "chat#0: timeout"),
        # Reads a token the sandbox never passes on.
        (
            "import os\nfrom textutils import clamp\n\n\ndef test_clamp():\n"
            "    assert os.environ['GITHUB_TOKEN'] == 'sekrit'\n    assert clamp(1, 0, 2) == 1\n",
            "chat#0: fail",
        ),
    ],
)
def test_broken_candidate_is_repaired_or_rejected(
    tmp_path: Path,
    smollm: Path,
    real: XllamacppBackend,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
    first_attempt: str,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "sekrit")
    project = tmp_path / "demo"
    shutil.copytree(DEMO, project)
    backend = Saboteur(real, f"```python\n{broken}```")
    settings = Settings(
        model=smollm,
        home=tmp_path / "home",
        strategy="chat",
        runs=3,
        timeout_s=15,
        docstrings=False,
        max_tokens=256,
    )
    report = suggest(
        project / "textutils.py",
        settings,
        functions=["clamp"],
        write=True,
        backend_factory=lambda path, bundled, s: backend,
    )
    [result] = report.results
    assert result.test.attempts[0].startswith(first_attempt), result.test.attempts
    generated = project / "tests" / "test_textutils_generated.py"
    if result.test.status == "kept":
        assert result.test.code is not None
        assert "while True" not in result.test.code and "GITHUB_TOKEN" not in result.test.code
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(generated)],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    else:
        assert result.test.status == "rejected" and not generated.exists()
        # The real model was asked to repair, with pytest's verdict in the prompt.
        assert len(backend.prompts) == 3
        assert "Running this test module with pytest failed" in backend.prompts[1]
