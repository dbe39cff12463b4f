"""Stand-ins for the hook tests: a scripted model on the real core, a stand-in core that
keeps something for every target, and the fenced replies a model would give."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from review_bot import core
from review_bot.config import Settings
from review_bot.core import CoreRun, FileChange, select_targets
from review_bot.core.run import is_importable
from review_bot.hook.plan import RunCore
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.records import Outcome, RunStats, TargetResult

DOC_REPLY = json.dumps(
    {
        "summary": "Add two numbers.",
        "description": "",
        "params": {"a": "The first number.", "b": "The second number."},
        "returns": "The sum.",
        "raises": [],
    }
)


def fence(code: str) -> str:
    return f"```python\n{code}```\n"


ADD_TEST = fence("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")


def scripted(*replies: str) -> tuple[ScriptedBackend, RunCore]:
    """A scripted model, and the hook's seam that runs the real core on it in process."""
    backend = ScriptedBackend(scripted_info(), replies)
    return backend, functools.partial(core.run, backend_factory=lambda *_: backend)


def fake_core(
    root: Path,
    settings: Settings,
    files: Sequence[FileChange],
    *,
    progress: Any = None,
    checkout: Path | None = None,
) -> CoreRun:
    """core.run's signature and target selection; keeps a trivial test and a docstring for
    every target: git mechanics only."""
    targets, notes = select_targets(files)
    results = []
    for target in targets:
        top = target.qualname.split(".")[0]
        importable = is_importable(target.module)
        code = (
            f"from {target.module} import {top}\n\n\n"
            f"def test_{target.qualname.replace('.', '_')}():\n    assert {top} is not None\n"
        )
        test = (
            Outcome("kept", None, code)
            if settings.tests and importable
            else Outcome("skipped", "stand-in", None)
        )
        doc = (
            Outcome("kept", None, f"Do what {target.name} does.")
            if settings.docstrings and target.docstring is None
            else Outcome("skipped", "stand-in", None)
        )
        results.append(TargetResult(target, test, doc))
    return CoreRun(results, RunStats(None, len(targets), 0.0, 0, len(targets), 0.0), notes)
