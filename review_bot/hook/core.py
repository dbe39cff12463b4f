"""The core on the exported index, in the worker: generation (pipeline.run_targets with a
name-reference fallback) or check mode's analysis (what lacks a test or a docstring)."""

from __future__ import annotations

import contextlib
import keyword
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from review_bot import pipeline, verify
from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.hook.plan import CoreOutput, PlanOutcome, PlanTarget
from review_bot.pipeline import BackendFactory, Progress
from review_bot.records import Outcome, Target, TargetResult


def default_core(
    root: Path,
    settings: Settings,
    targets: Sequence[Target],
    backend_factory: BackendFactory | None,
    progress: Progress | None,
) -> CoreOutput:
    """pipeline.run_targets on the exported index, with the name-reference fallback."""
    engine = pipeline.Engine(
        root,
        settings,
        backend_factory=backend_factory or pipeline.llamacpp_factory,
        progress=progress,
    )
    try:
        # Targets no test can be written for, and why: the core then writes only docstrings.
        no_test: dict[Target, str] = {}
        if settings.tests:
            for target in targets:
                if not is_importable(target.module):
                    no_test[target] = f"module name {target.module!r} cannot be imported"
            for target in _covered_by_name(engine, [t for t in targets if t not in no_test]):
                no_test[target] = "named in existing tests (coverage unavailable)"
        computed = iter(pipeline.run_targets(engine, [t for t in targets if t not in no_test]))
        ordered: list[TargetResult] = []
        for target in targets:
            if target in no_test:
                doc = (
                    engine.docstring_outcome(target)
                    if settings.docstrings
                    else Outcome("skipped", "docstrings disabled", None)
                )
                ordered.append(TargetResult(target, Outcome("skipped", no_test[target], None), doc))
            else:
                ordered.append(next(computed))
        return CoreOutput(
            ordered,
            engine.session.calls,
            engine.session.model_s,
            engine.cache.hits,
            engine.cache.misses,
        )
    finally:
        engine.close()


def is_importable(module: str) -> bool:
    """Whether `import MODULE` can name it: a file called `my module.py` cannot be."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in module.split("."))


def _covered_by_name(engine: Any, targets: Sequence[Target]) -> set[Target]:
    """Targets the existing tests name although coverage could not be measured.

    The core measures which lines the existing tests execute; when that run fails or times
    out (an empty baseline although test files exist), a function counts as covered when
    its name appears as a word in one of those test files: a cheap stand-in that errs on
    the side of not generating.
    """
    covered: set[Target] = set()
    for target in targets:
        files = verify.existing_test_files(engine.root, target.module, engine.settings.tests_dir)
        if files and not engine.baseline(target, files) and _named_in(engine.root, files, target):
            covered.add(target)
    return covered


def _named_in(root: Path, files: Sequence[str], target: Target) -> bool:
    word = re.compile(rf"\b{re.escape(target.name)}\b")
    for rel in files:
        with contextlib.suppress(OSError):
            if word.search((root / rel).read_text("utf-8", "replace")):
                return True
    return False


def analyse(
    root: Path,
    settings: Settings,
    targets: Sequence[Target],
    backend_factory: BackendFactory | None,
    progress: Progress | None,
    notes: list[str],
) -> list[PlanTarget]:
    """Check mode: which targets lack a test or a docstring. No model call, no writes."""
    engine: Any = None
    if settings.tests:
        try:
            engine = pipeline.Engine(
                root,
                settings,
                backend_factory=backend_factory or pipeline.llamacpp_factory,
                progress=progress,
            )
        except FatalError as exc:
            # Measuring coverage needs no model, but the core wants one to exist; without
            # it the name-reference check still answers.
            notes.append(f"coverage not measured ({exc}); used the name-reference check")
    out: list[PlanTarget] = []
    try:
        for target in targets:
            test = PlanOutcome(status="skipped", reason="tests disabled", attempts=[])
            if settings.tests:
                files = verify.existing_test_files(root, target.module, settings.tests_dir)
                test = _test_gap(engine, target, files, verify.executable_lines(target))
            doc = PlanOutcome(status="skipped", reason="docstrings disabled", attempts=[])
            if settings.docstrings:
                doc = (
                    PlanOutcome(status="skipped", reason="has a docstring", attempts=[])
                    if target.docstring is not None
                    else PlanOutcome(status="missing", reason="no docstring", attempts=[])
                )
            out.append(
                PlanTarget(
                    file=target.path.relative_to(root).as_posix(),
                    name=target.display,
                    line=target.def_lineno,
                    test=test,
                    docstring=doc,
                )
            )
    finally:
        if engine is not None:
            engine.close()
    return out


def _test_gap(
    engine: Any, target: Target, files: Sequence[str], executable: frozenset[int]
) -> PlanOutcome:
    if not files:
        return PlanOutcome(status="missing", reason="no test imports the module", attempts=[])
    baseline: frozenset[int] = engine.baseline(target, files) if engine is not None else frozenset()
    if not baseline:
        if _named_in(target.root if engine is None else engine.root, files, target):
            return PlanOutcome(
                status="skipped",
                reason="named in existing tests (coverage unavailable)",
                attempts=[],
            )
        return PlanOutcome(status="missing", reason="no existing test runs it", attempts=[])
    missed = executable - baseline
    if not missed:
        return PlanOutcome(status="skipped", reason="covered by existing tests", attempts=[])
    lines = ", ".join(str(n) for n in sorted(missed)[:5]) + (", ..." if len(missed) > 5 else "")
    return PlanOutcome(
        status="missing",
        reason=f"{len(missed)} of {len(executable)} lines not covered (line {lines})",
        attempts=[],
    )
