"""Check mode, in the worker: which staged functions lack a test or a docstring. No model
call and no write; coverage of the existing tests is measured where it can be."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from review_bot import verify
from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.core.run import named_in
from review_bot.errors import FatalError
from review_bot.hook.plan import PlanOutcome, PlanTarget
from review_bot.progress import Progress
from review_bot.records import Target


def analyse(
    root: Path,
    settings: Settings,
    targets: Sequence[Target],
    progress: Progress | None,
    notes: list[str],
) -> list[PlanTarget]:
    """Check mode: which targets lack a test or a docstring. No model call, no writes."""
    engine: Engine | None = None
    if settings.tests:
        try:
            engine = Engine(root, settings, progress=progress)
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
    engine: Engine | None, target: Target, files: Sequence[str], executable: frozenset[int]
) -> PlanOutcome:
    if not files:
        return PlanOutcome(status="missing", reason="no test imports the module", attempts=[])
    if engine is None:
        # No coverage without the core: the name-reference check is all there is.
        if named_in(target.root, files, target):
            return PlanOutcome(
                status="skipped", reason="named in existing tests (coverage not measured)",
                attempts=[],
            )  # fmt: skip
        return PlanOutcome(status="missing", reason="no existing test runs it", attempts=[])
    measured = engine.baseline(target, files)
    baseline = measured.lines
    if measured.problem is not None:
        return PlanOutcome(
            status="missing", reason=f"coverage unavailable ({measured.problem})", attempts=[]
        )
    if not baseline:
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
