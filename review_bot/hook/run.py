"""run_hook: the hook process, from the staged diff to the lines it prints.

The cheap question first (is a Python file staged?); then the plan, from the memo or from
the worker, which runs the core on the index exported into a private temporary directory;
then the plan applied to the working tree and the index. Everything that touches the
repository happens here, in the hook process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from review_bot import diff, git
from review_bot.config import HOOK_KEEP_ALIVE_S, Settings, load_settings
from review_bot.errors import FatalError
from review_bot.hook.apply import apply_plan
from review_bot.hook.memo import Memo, plan_key
from review_bot.hook.plan import Plan, RunCore, empty_plan, settings_to_json
from review_bot.hook.select import (
    repo_relative,
    skipped_ids,
)
from review_bot.hook.summary import PREFIX, summary
from review_bot.hook.worker import WorkerFailure, run_worker
from review_bot.interrupts import deferred_interrupts
from review_bot.paths import is_generated_path, is_source


class HookOptions(NamedTuple):
    hook_id: str = "llm-tests"
    files: tuple[str, ...] = ()  # names pre-commit passes; empty: every staged file
    timeout_s: float | None = None  # for the worker; None: no limit
    memo: bool = True  # reuse the plan of an identical staged tree


class HookResult(NamedTuple):
    exit_code: int
    lines: list[str]  # what to print
    plan: Plan | None = None
    staged: tuple[str, ...] = ()
    written: tuple[str, ...] = ()  # written and not staged
    docstrings: tuple[str, ...] = ()  # files that got docstrings in the working tree
    memo_hit: bool = False


def run_hook(
    cwd: Path,
    flags: Mapping[str, Any],
    options: HookOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    run_core: RunCore | None = None,
) -> HookResult:
    """Run the hook in the repository around `cwd`.

    `flags` are command-line settings (see config.load_settings). `run_core`, the one test
    seam, runs the core in this process instead of a worker: core.run with a scripted
    backend, or a stand-in with its signature.
    """
    started = time.perf_counter()
    options = options or HookOptions()
    environ = os.environ if environ is None else environ
    skips = skipped_ids(environ)
    if options.hook_id in skips:
        return HookResult(0, [f"{PREFIX}skipped ({options.hook_id} is in SKIP)"])
    repo = git.find_repo(cwd)
    settings = load_settings(repo.root, flags, environ)
    if settings.budget_s is None:
        settings = dataclasses.replace(settings, budget_s=HOOK_BUDGET_S)
    if settings.improve_calls is None:
        settings = dataclasses.replace(settings, improve_calls=HOOK_IMPROVE_CALLS)
    if settings.docstring_retries is None:
        settings = dataclasses.replace(settings, docstring_retries=HOOK_DOCSTRING_RETRIES)
    if settings.keep_alive_s is None:
        settings = dataclasses.replace(settings, keep_alive_s=HOOK_KEEP_ALIVE_S)
    if options.hook_id == "llm-docstrings":
        settings = dataclasses.replace(settings, tests=False)
    if "llm-docstrings" in skips:
        settings = dataclasses.replace(settings, docstrings=False)
    if not settings.tests and not settings.docstrings:
        return HookResult(0, [])
    analysis_only = settings.mode == "check"

    # The cheap question first: a commit without a Python change ends here.
    changes = git.staged_changes(repo, pattern="*.py")
    wanted = repo_relative(repo, cwd, options.files) if options.files else None
    candidates = sorted(
        {
            c.path
            for c in changes
            if c.status != "D"
            and is_source(c.path, settings.tests_dir)
            and (wanted is None or c.path in wanted)
        }
    )
    if not candidates:
        return HookResult(0, [])

    tree = git.write_tree(repo)
    head = git.head(repo)
    merges = git.merge_heads(repo)
    memo = Memo(settings, options.memo)
    try:
        key = plan_key(tree, [head, *merges], settings, candidates, analysis_only)
        plan = memo.get(key)
        memo_hit = plan is not None
        if plan is None:
            try:
                plan = _make_plan(
                    repo,
                    settings,
                    options,
                    changes,
                    candidates,
                    head,
                    merges,
                    analysis_only,
                    run_core,
                )
            except WorkerFailure as failure:
                return _on_error(settings, str(failure))
            if not _budget_spent(plan):
                # A plan cut short by the time budget is not the answer for this tree: the
                # next commit attempt goes on where it stopped (the cache keeps what is done).
                memo.put(key, plan)
        # Writing and staging take milliseconds: a Ctrl-C meanwhile waits for them, so that
        # a plan is applied whole or not at all, and then stops the hook (issue 14).
        with deferred_interrupts():
            report = apply_plan(repo, settings, plan, environ)
            if (report.staged or report.docstrings) and key is not None:
                # The index now holds the tests; the plan for that tree is the same plan
                # with nothing left to write, so the next run (another hook failed, a
                # retried commit) starts no worker and calls no model.
                after = _after_staging(plan, report.staged)
                bases = [head, *merges]
                if report.staged:
                    tree_after = git.write_tree(repo)
                    memo.put(
                        plan_key(tree_after, bases, settings, candidates, analysis_only), after
                    )
                if report.docstrings:
                    # The user's next step is `git add` of the inserted docstrings, and the
                    # commit again: that tree's plan has nothing left to insert either
                    # (issue 23: the second attempt cost a worker and a sandbox).
                    # Only a shortcut: if that tree cannot be made (an unreadable file, a
                    # read-only .git), the next attempt runs the worker as before.
                    with contextlib.suppress(OSError, FatalError):
                        taken = {rel: (repo.root / rel).read_bytes() for rel in report.docstrings}
                        tree_taken = git.tree_with(repo, taken)
                        memo.put(
                            plan_key(tree_taken, bases, settings, candidates, analysis_only),
                            _after_taking(after, report.docstrings),
                        )
    finally:
        memo.close()
    lines = summary(plan, report, settings, time.perf_counter() - started, memo_hit)
    return HookResult(
        report.exit_code(plan),
        lines,
        plan,
        tuple(report.staged),
        tuple(report.written),
        tuple(report.docstrings),
        memo_hit,
    )


def _on_error(settings: Settings, message: str) -> HookResult:
    if settings.on_error == "fail":
        return HookResult(1, [f"{PREFIX}{message} (on_error = fail: the commit stops)"])
    return HookResult(
        0, [f"{PREFIX}{message}; the commit goes on without generated tests (on_error = warn)"]
    )


def _after_staging(plan: Plan, staged: Sequence[str]) -> Plan:
    after = typing.cast(Plan, json.loads(json.dumps(plan)))
    for entry in after["tests"]:
        if entry["path"] in staged:
            entry["base"] = entry["text"]
    return after


def _after_taking(plan: Plan, inserted: Sequence[str]) -> Plan:
    """The plan once the files whose docstrings the hook inserted are staged as it wrote
    them: nothing left to insert there."""
    return {**plan, "docstrings": [d for d in plan["docstrings"] if d["path"] not in inserted]}


def _make_plan(
    repo: git.Repo,
    settings: Settings,
    options: HookOptions,
    changes: Sequence[git.Change],
    candidates: Sequence[str],
    head: str | None,
    merges: Sequence[str],
    analysis_only: bool,
    run_core: RunCore | None,
) -> Plan:
    if merges:
        # A merge commit: only what the merge itself changes (resolutions, edits made while
        # merging), not everything the other branch brings, which was reviewed there.
        per_parent = [
            diff.parse_diff(git.staged_diff(repo, base=base)) for base in [head or "HEAD", *merges]
        ]
        diffs = diff.common_changes(per_parent)
    else:
        diffs = diff.parse_diff(git.staged_diff(repo))
    wanted = set(candidates)
    notes: list[str] = []
    files: list[dict[str, Any]] = []
    for file_diff in diffs:
        if file_diff.path not in wanted or file_diff.status == "deleted":
            continue
        if file_diff.binary:
            notes.append(f"{file_diff.path}: skipped (binary)")
        elif file_diff.ranges:
            files.append({"path": file_diff.path, "ranges": file_diff.ranges})
    if not files:
        return empty_plan(analysis_only, notes)

    with tempfile.TemporaryDirectory(prefix="review-bot-hook-") as tmp_name:
        # Resolved: the core compares paths under it with resolved import roots.
        tmp = Path(tmp_name).resolve()
        git.export_index(repo, tmp / "tree")
        # Version files written at install time are ignored by git but imported by the
        # package: without them nothing of a hatch-vcs/setuptools-scm project imports.
        git.copy_ignored_sources(repo, tmp / "tree")
        generated = []
        for change in changes:
            if change.status != "D" and is_generated_path(change.path, settings.tests_dir):
                generated.append(change.path)
                old = git.blob(repo, f"{head}:{change.path}") if head else None
                if old is not None:
                    target = tmp / "head" / change.path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(old)
        request = {
            "tmp": str(tmp),
            "settings": settings_to_json(settings),
            "files": files,
            "generated": generated,
            "analysis_only": analysis_only,
            "notes": notes,
            # The tree is an export: the project's environment stays in the checkout.
            "checkout": str(repo.root),
        }
        if run_core is not None:
            # In this process (tests): the core's imports load only here.
            from review_bot.hook.compute import compute_plan

            try:
                return compute_plan(request, run_core=run_core)
            except FatalError as exc:
                raise WorkerFailure(str(exc)) from None
        timeout_s = options.timeout_s if options.timeout_s is not None else settings.hook_timeout_s
        if timeout_s is None and settings.budget_s is not None:
            # The budget ends the run between functions; this kills one that overruns it.
            timeout_s = settings.budget_s + WORKER_GRACE_S
        return run_worker(tmp, request, timeout_s)


# A commit's default time budget, and how long past it a worker still in a function may
# take before it is stopped (issue 22: a slow server kept a commit waiting past 900 s).
HOOK_BUDGET_S = 300.0
# A commit keeps the first test that passes every check; the model calls that would look
# for one killing more mutants cost 3-4 s each (issue 23). `suggest` and the review spend them.
HOOK_IMPROVE_CALLS = 0
# A docstring rejected twice is seldom kept a third time, and less often mergeable: of 61
# functions read by hand, 27 reached a third try, 4 were kept there, 1 was mergeable.
HOOK_DOCSTRING_RETRIES = 1
WORKER_GRACE_S = 300.0


def _budget_spent(plan: Plan) -> bool:
    return any(
        (t["test"]["reason"] or "").startswith("time budget") for t in plan.get("targets", [])
    )
