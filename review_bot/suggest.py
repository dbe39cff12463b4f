"""`review-bot suggest`, below the command line: the core on one file, then --write.

The front end chooses the source (one file, every function or those named) and the outcome
(a report, or files written); everything between is `core.run`, as for the hook and the
pull-request review.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from review_bot import core
from review_bot.config import Settings, find_project_root
from review_bot.core import BackendFactory, FileChange, tool_sandbox
from review_bot.errors import FatalError
from review_bot.progress import Progress, SilentProgress
from review_bot.records import RunStats, TargetResult
from review_bot.source import read_source
from review_bot.write.docstrings import with_docstrings
from review_bot.write.files import atomic_write
from review_bot.write.tests import write_tests


class SuggestReport(NamedTuple):
    path: Path
    results: list[TargetResult]
    stats: RunStats
    written: list[Path]
    original_source: str
    new_source: str  # the source with every kept docstring inserted


def suggest(
    path: Path,
    settings: Settings,
    *,
    functions: Sequence[str] = (),
    write: bool = False,
    backend_factory: BackendFactory | None = None,
    progress: Progress | None = None,
) -> SuggestReport:
    """Run the core on one file; with `write`, write what was kept."""
    progress = progress or SilentProgress()
    path = path.resolve() if path.exists() else path
    source = read_source(path)
    root = find_project_root(path)
    run = core.run(
        root,
        settings,
        [FileChange(path)],
        functions=functions,
        strict=True,
        backend_factory=backend_factory,
        progress=progress,
    )
    new_source = with_docstrings(source, run.results)
    written = write_outcomes(root, settings, path, source, new_source, run.results) if write else []
    return SuggestReport(path, run.results, run.stats, written, source, new_source)


def write_outcomes(
    root: Path,
    settings: Settings,
    path: Path,
    source: str,
    new_source: str,
    results: Sequence[TargetResult],
) -> list[Path]:
    """Kept tests into the generated test file, kept docstrings into the file."""
    written: list[Path] = []
    kept = [r.test.code for r in results if r.test.status == "kept" and r.test.code]
    if kept:
        # The one rule for clashing names (write.tests.merge_kept_tests): rename, never drop.
        module = results[0].target.module
        tools = functools.partial(tool_sandbox, root, settings)
        written.append(write_tests(root, settings.tests_dir, module, kept, tools))
    if new_source != source:
        # The file may have changed while the model ran: never overwrite an edit.
        if path.read_text(encoding="utf-8") != source:
            raise FatalError(f"{path}: changed while review-bot ran; docstrings not written")
        atomic_write(path, new_source, root=root)
        written.append(path)
    return written
