"""The one wiring of the core that every front end calls.

    files (+ changed lines) -> targets -> Engine -> a test and a docstring outcome each

`suggest` passes one file and no line filter, the hook the staged files exported from the
index with the lines the staged diff changed, `review` the pull request's files at its head
with the lines it changed. The rules that used to differ between them live here, once:

- which backend runs the model: core/backends.py, from the settings, for every front end;
- the tests run with the project's interpreter (sandbox/interpreter.py: the `python` setting, the
  checkout's .venv, ...), and a module that this interpreter cannot import gets the
  `import` reason once, without a model call;
- a target whose module cannot be imported by name (`my module.py`) gets no test, only a
  docstring; when the existing tests' coverage cannot be measured (a failing or timed-out
  baseline run) a test is still written, and its report says why the gain over the
  existing tests could not be checked (issue 21: skipping then sent new branches out
  untested);
- no target, no model: nothing is loaded or even looked for.
"""

from __future__ import annotations

import contextlib
import keyword
import re
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import NamedTuple

from review_bot.config import Settings
from review_bot.core.backends import BackendFactory
from review_bot.core.engine import OWN_PYTHON_NOTICE, Engine
from review_bot.diff import Range, intersects
from review_bot.errors import FatalError, SourceError
from review_bot.progress import Progress
from review_bot.records import Outcome, RunStats, Target, TargetResult
from review_bot.source import parse_source, read_source
from review_bot.targets import import_root, select, targets_in_source
from review_bot.write.files import check_inside


class FileChange(NamedTuple):
    """A file to look at, and which of its lines changed (None: all of them)."""

    path: Path  # where to read it (a checkout, an exported index, a head tree)
    lines: tuple[Range, ...] | None = None
    label: str = ""  # how notes name it (repository-relative); default: the path


class CoreRun(NamedTuple):
    results: list[TargetResult]
    stats: RunStats
    notes: list[str]  # files that were skipped, and why


def select_targets(
    files: Sequence[FileChange], *, functions: Collection[str] = (), strict: bool = False
) -> tuple[list[Target], list[str]]:
    """The functions of `files` whose lines changed, in file and line order.

    A file that is not readable Python (missing, binary, not UTF-8, a syntax error) raises
    SourceError when `strict` (one file on the command line), else becomes a note and is
    skipped (a commit or a pull request with many files goes on without it).
    """
    targets: list[Target] = []
    notes: list[str] = []
    for change in files:
        try:
            source = read_source(change.path)
            tree = parse_source(change.path, source)
        except SourceError as exc:
            if strict:
                raise
            notes.append(f"{change.label or change.path}: skipped ({_why(exc, change.path)})")
            continue
        found = targets_in_source(import_root(change.path), change.path, source, tree)
        if change.lines is not None:
            lines = change.lines
            found = [t for t in found if intersects(lines, t.lineno, t.end_lineno)]
        targets.extend(found)
    return select(targets, functions), notes


def _why(exc: SourceError, path: Path) -> str:
    """SourceError's "PATH: why" or "PATH:LINE: why" as "why" or "line LINE: why" (the
    note names the file already)."""
    reason = str(exc)
    if reason.startswith(str(path)):
        reason = reason[len(str(path)) :]
        line = re.match(r":(\d+):", reason)
        reason = f"line {line[1]}: {reason[line.end() :].lstrip()}" if line else reason
        reason = reason.lstrip(": ")
    return reason


def run(
    root: Path,
    settings: Settings,
    files: Sequence[FileChange],
    *,
    functions: Collection[str] = (),
    strict: bool = False,
    backend_factory: BackendFactory | None = None,
    progress: Progress | None = None,
    checkout: Path | None = None,
) -> CoreRun:
    """Targets of `files` -> the core -> results, in target order, and what it cost.

    `root` is the project the sandbox copies (where pyproject.toml and the tests are);
    `checkout`, when `root` is an export of it, is the working tree whose environment
    (`.venv`) runs the tests (sandbox/interpreter.py). `backend_factory` replaces the backend the
    settings choose (tests: a scripted model).
    """
    started = time.perf_counter()
    targets, notes = select_targets(files, functions=functions, strict=strict)
    if not targets:
        return CoreRun([], RunStats(None, 0, 0.0, 0, 0, time.perf_counter() - started), notes)
    engine = Engine(
        root, settings, backend_factory=backend_factory, progress=progress, checkout=checkout
    )
    try:
        results = results_for(engine, targets)
        if engine.interpreter is not None and engine.interpreter.own:
            # Said once the run is done, so that an error stays the one line it is.
            engine.progress.notice(OWN_PYTHON_NOTICE)
        stats = RunStats(
            engine.model_ref(),
            engine.session.calls,
            engine.session.model_s,
            engine.cache.hits,
            engine.cache.misses,
            time.perf_counter() - started,
            engine.jail_used,
        )
        return CoreRun(results, stats, notes)
    finally:
        engine.close()


BUDGET_REASON = "time budget"


def results_for(engine: Engine, targets: Sequence[Target]) -> list[TargetResult]:
    """A test and a docstring outcome per target, with one engine (one model load).

    With a time budget (`budget_s`), the targets not reached when it is spent are skipped
    (`time budget`): the run ends cleanly and says what it left, instead of being killed.
    """
    budget = engine.settings.budget_s
    deadline = None if budget is None else time.monotonic() + budget
    results: list[TargetResult] = []
    for target in targets:
        if deadline is not None and time.monotonic() > deadline:
            why = f"{BUDGET_REASON}: the run's {budget:g} s were spent (budget_s)"
            left = Outcome("skipped", why, None)
            results.append(TargetResult(target, left, left))
            continue
        results.append(_result(engine, target, _no_test(engine, target)))
    return results


def _result(engine: Engine, target: Target, no_test: str | None) -> TargetResult:
    settings = engine.settings
    if not settings.tests:
        test = Outcome("skipped", "tests disabled", None)
    elif no_test is not None:
        test = Outcome("skipped", no_test, None)
    else:
        test = engine.test_outcome(target)
    if settings.docstrings:
        doc = engine.docstring_outcome(target)
    else:
        doc = Outcome("skipped", "docstrings disabled", None)
    return TargetResult(target, test, doc)


def _no_test(engine: Engine, target: Target) -> str | None:
    """Why no test is asked for this target, or None."""
    if not engine.settings.tests:
        return None
    if not is_importable(target.module):
        return f"module name {target.module!r} cannot be imported"
    try:
        # Where the test would go must be a place review-bot may write (issue 22: a
        # tests directory that is a link out of the repository): said before any run.
        check_inside(engine.root, engine.root / engine.test_relpath(target))
    except FatalError as exc:
        return str(exc)
    return None


def is_importable(module: str) -> bool:
    """Whether `import MODULE` can name it: a file called `my module.py` cannot be."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in module.split("."))


def named_in(root: Path, files: Sequence[str], target: Target) -> bool:
    word = re.compile(rf"\b{re.escape(target.name)}\b")
    for rel in files:
        with contextlib.suppress(OSError):
            if word.search((root / rel).read_text("utf-8", "replace")):
                return True
    return False
