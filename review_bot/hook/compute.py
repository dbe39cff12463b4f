"""The worker's job: the targets of the staged diff -> the core -> a plan (what to write).

It runs on the index exported to a temporary directory and never reads or writes the
working tree. Imports the core, and with it the model stack, at module level: only the
worker process (or a test running the core in-process) loads this module.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from review_bot import core
from review_bot.config import Settings
from review_bot.core import FileChange, select_targets
from review_bot.errors import FatalError
from review_bot.hook.check import analyse
from review_bot.hook.plan import (
    Plan,
    PlanDocItem,
    PlanDocs,
    PlanOutcome,
    PlanTarget,
    PlanTests,
    RunCore,
    empty_plan,
    settings_from_json,
)
from review_bot.paths import generated_test_relpath
from review_bot.progress import Progress
from review_bot.records import TargetResult
from review_bot.sandbox import Sandbox
from review_bot.style import finish
from review_bot.write.docstrings import with_docstrings
from review_bot.write.tests import is_generated, merge_kept_tests


def compute_plan(
    request: Mapping[str, Any],
    *,
    run_core: RunCore | None = None,
    progress: Progress | None = None,
) -> Plan:
    """The worker's job: targets of the staged diff -> the core -> what to write."""
    tmp = Path(request["tmp"])
    tree = tmp / "tree"
    settings = settings_from_json(request["settings"])
    analysis_only = bool(request["analysis_only"])
    notes = list(request.get("notes", []))
    # Check mode reports the staged state as it is; generating sets our own files aside.
    index_versions = (
        {} if analysis_only else _set_generated_aside(tmp, request["generated"], is_generated)
    )

    files = [
        FileChange(
            tree / item["path"], tuple((int(a), int(b)) for a, b in item["ranges"]), item["path"]
        )
        for item in request["files"]
    ]
    if analysis_only:
        targets, skipped = select_targets(files)
        plan = empty_plan(analysis_only, notes + skipped)
        if targets:
            plan["targets"] = analyse(tree, settings, targets, progress, plan["notes"])
        return plan
    checkout = Path(request["checkout"]) if request.get("checkout") else None
    output = (run_core or core.run)(tree, settings, files, progress=progress, checkout=checkout)
    plan = empty_plan(analysis_only, notes + output.notes)
    stats = output.stats
    plan["model_calls"] = stats.model_calls
    plan["model_s"] = round(stats.model_s, 3)
    plan["cache_hits"] = stats.cache_hits
    plan["cache_misses"] = stats.cache_misses
    plan["jail"] = stats.jail
    plan["targets"] = [
        PlanTarget(
            file=r.target.path.relative_to(tree).as_posix(),
            name=r.target.display,
            line=r.target.def_lineno,
            test=_outcome(r.test),
            docstring=_outcome(r.docstring),
        )
        for r in output.results
    ]
    tools = functools.partial(core.tool_sandbox, tree, settings, checkout)
    plan["tests"] = _plan_tests(tree, index_versions, settings, output.results, tools)
    plan["docstrings"] = _plan_docstrings(tree, output.results)
    return plan


def _outcome(outcome: Any) -> PlanOutcome:
    return PlanOutcome(
        status=outcome.status, reason=outcome.reason, attempts=list(outcome.attempts)
    )


def _set_generated_aside(
    tmp: Path, generated: Sequence[str], is_generated: Callable[[str], bool]
) -> dict[str, bytes]:
    """Analyse as if no generated tests had been staged since HEAD.

    A generated file staged by an earlier run (or a run in write mode that the user then
    staged) would otherwise change what the core sees: the same function would meet other
    existing tests, miss the cache and get a second round of generation. Its staged version
    is kept aside as the base the new tests are merged into. Returns relpath -> staged bytes.
    """
    tree = tmp / "tree"
    aside: dict[str, bytes] = {}
    for rel in generated:
        path = tree / rel
        try:
            staged = path.read_bytes()
        except OSError:
            continue
        if not is_generated(staged.decode("utf-8", "replace")):
            continue  # a hand-written file by that name: it is the user's, and it counts
        aside[rel] = staged
        old = tmp / "head" / rel
        if old.is_file() and is_generated(old.read_text("utf-8", "replace")):
            shutil.copyfile(old, path)
        else:
            path.unlink()
    return aside


def _plan_tests(
    tree: Path,
    index_versions: Mapping[str, bytes],
    settings: Settings,
    results: Sequence[TargetResult],
    tools: Callable[[], Sandbox] | None = None,
) -> list[PlanTests]:
    by_module: dict[str, list[TargetResult]] = {}
    for result in results:
        if result.test.status == "kept" and result.test.code:
            by_module.setdefault(result.target.module, []).append(result)
    out: list[PlanTests] = []
    for module, kept in by_module.items():
        rel = generated_test_relpath(settings.tests_dir, module)
        names = [r.target.display for r in kept]
        staged = index_versions.get(rel)
        if staged is None and (tree / rel).is_file():
            staged = (tree / rel).read_bytes()
        entry = PlanTests(path=rel, module=module, names=names, base=None, text=None, error=None)
        try:
            base = None if staged is None else staged.decode("utf-8")
        except UnicodeDecodeError:
            entry["error"] = "the staged file is not UTF-8; not touched"
            out.append(entry)
            continue
        entry["base"] = base
        if base is not None and not is_generated(base):
            entry["error"] = "exists and was not generated by review-bot; not touched"
            out.append(entry)
            continue
        try:
            text = merge_kept_tests(base, [r.test.code for r in kept if r.test.code])
        except (SyntaxError, FatalError) as exc:
            entry["error"] = f"cannot merge the new tests into it: {exc}"
        else:
            text, problem = finish(tree, rel, text, tools)
            if problem is not None:
                entry["error"] = f"{problem}; not staged"
            else:
                entry["text"] = text
        out.append(entry)
    return out


def _plan_docstrings(tree: Path, results: Sequence[TargetResult]) -> list[PlanDocs]:
    by_file: dict[Path, list[TargetResult]] = {}
    for result in results:
        if result.docstring.status == "kept" and result.docstring.code is not None:
            by_file.setdefault(result.target.path, []).append(result)
    out: list[PlanDocs] = []
    for path, kept in by_file.items():
        source = kept[0].target.module_source
        out.append(
            PlanDocs(
                path=path.relative_to(tree).as_posix(),
                base_sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
                text=with_docstrings(source, kept),
                items=[
                    PlanDocItem(
                        qualname=r.target.qualname,
                        source=r.target.source,
                        docstring=r.docstring.code or "",
                    )
                    for r in kept
                ],
            )
        )
    return out
