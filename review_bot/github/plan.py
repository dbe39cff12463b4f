"""The plan of a pull request review: the core on the changed functions, kept results as
suggestions.

`build_plan` needs the checkout and the model, and no token. The heavy parts of the core
(libcst, the model stack) are imported inside it only, so that posting a plan
(`review_bot.github.publish`) works with nothing but click and httpx installed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from review_bot.errors import FatalError
from review_bot.github.markdown import fence
from review_bot.github.records import (
    MAX_BODY,
    Checked,
    Decision,
    PullRequest,
    ReviewPlan,
    Suggestion,
)

if TYPE_CHECKING:
    from review_bot.pipeline import BackendFactory, Progress
    from review_bot.prdiff import FileDiff
    from review_bot.records import Target


def _hash(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:20]


def fingerprint(path: str, qualname: str, kind: str, content: str) -> str:
    return _hash(path, qualname, kind, content)


def code_hash(path: str, qualname: str, source: str) -> str:
    return _hash(path, qualname, source)


def marker(fp: str, code: str) -> str:
    return f"<!-- review-bot:fp={fp} code={code} -->"


def docstring_change(source: str, target: Target, text: str) -> tuple[int, int, list[str]]:
    """The lines [start, end] of `source` a suggestion replaces, and their replacement.

    The range runs from the `def` line to the end of the signature (the line before the
    docstring goes), so the suggestion shows the signature it documents.
    """
    from review_bot import apply

    new = apply.insert_docstring(source, target.qualname, text, lineno=target.lineno)
    old_lines = source.splitlines()
    new_lines = new.splitlines()
    limit = min(len(old_lines), len(new_lines))
    prefix = 0
    while prefix < limit and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_lines[-1 - suffix] == new_lines[-1 - suffix]:
        suffix += 1
    old_end = len(old_lines) - suffix  # the changed region is old[prefix:old_end]
    new_end = len(new_lines) - suffix
    start = min(target.def_lineno, prefix + 1)
    # A pure insertion after line `prefix` replaces the header lines down to that line.
    end = max(old_end if old_end > prefix else prefix, start)
    return start, end, new_lines[start - 1 : new_end + (end - old_end)]


def _docstring_suggestion(
    target: Target, rel: str, code: str, text: str, diff: FileDiff, convention: str
) -> Suggestion:
    start, end, lines = docstring_change(target.module_source, target, text)
    content = "\n".join(lines)
    fp = fingerprint(rel, target.qualname, "docstring", content)
    body = (
        f"{marker(fp, code)}\n**review-bot** suggests a docstring for `{target.qualname}` "
        f"(checked: pydocstyle, {convention} convention, every parameter named).\n\n"
        f"{fence(content, 'suggestion')}\n"
    )
    inline = diff.hunk_of(start, end) is not None and len(body) <= MAX_BODY
    return Suggestion(
        kind="docstring",
        path=rel,
        qualname=target.qualname,
        line=end,
        start_line=start if start < end else None,
        body=body,
        content=content,
        fingerprint=fp,
        code=code,
        inline=inline,
        destination=None,
    )


def _test_suggestion(
    target: Target, rel: str, code: str, test_code: str, diff: FileDiff, runs: int, dest: str
) -> Suggestion:
    fp = fingerprint(rel, target.qualname, "test", test_code)
    lines = test_code.rstrip("\n").count("\n") + 1
    body = (
        f"{marker(fp, code)}\n**review-bot** wrote a test for `{target.qualname}` that passed "
        f"{runs} of {runs} runs in a sandbox and covers lines the existing tests miss. "
        f"It would go in `{dest}`; `review-bot suggest {rel} --function {target.qualname} "
        f"--write` writes it there.\n\n"
        f"<details><summary>Test for <code>{target.qualname}</code> ({lines} lines)</summary>"
        f"\n\n{fence(test_code, 'python')}\n\n</details>\n"
    )
    inline = diff.hunk_of(target.def_lineno, target.def_lineno) is not None
    return Suggestion(
        kind="test",
        path=rel,
        qualname=target.qualname,
        line=target.def_lineno,
        start_line=None,
        body=body,
        content=test_code,
        fingerprint=fp,
        code=code,
        inline=inline and len(body) <= MAX_BODY,
        destination=dest,
    )


def is_reviewed(path: str) -> bool:
    """Python modules; test files and conftest.py are not given tests of their own."""
    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".py") or name == "conftest.py":
        return False
    return not (name.startswith("test_") or name.endswith("_test.py"))


def build_plan(
    checkout: Path,
    pr: PullRequest,
    flags: Mapping[str, Any],
    *,
    backend_factory: BackendFactory | None = None,
    progress: Progress | None = None,
) -> ReviewPlan:
    """Run the core on the functions that `base...head` changed; no network, no token."""
    from review_bot import pipeline, prdiff
    from review_bot.config import load_settings
    from review_bot.errors import SourceError
    from review_bot.targets import import_root, parse_source, read_source, targets_in_source

    started = time.perf_counter()
    progress = progress or pipeline.SilentProgress()
    if pr.base is None or pr.head is None:
        raise FatalError(
            "no pull request to review: run on a pull_request event or pass --base and --head"
        )
    repo = prdiff.open_repo(checkout)
    base = prdiff.resolve(repo, pr.base, "base")
    head = prdiff.resolve(repo, pr.head, "head")
    if prdiff.persisted_credentials(repo):
        progress.notice(
            "review-bot: warning: this checkout keeps a token in .git/config, which generated "
            "tests could read; check out with persist-credentials: false"
        )
    diffs = [d for d in prdiff.pr_diff(repo, base, head) if is_reviewed(d.path)]
    notes: list[str] = []
    with prdiff.head_tree(repo, head) as tree:
        settings = load_settings(tree, flags)
        chosen: list[tuple[Target, FileDiff]] = []
        for diff in diffs:
            path = tree / diff.path
            if path.is_symlink() or not path.is_file():
                continue
            try:
                source = read_source(path)
                syntax = parse_source(path, source)
            except SourceError as exc:
                notes.append(f"`{diff.path}` not checked: {str(exc).replace(str(tree), '.')}")
                continue
            for target in targets_in_source(import_root(path), path, source, syntax):
                if diff.changes(target.lineno, target.end_lineno):
                    chosen.append((target, diff))
        if not chosen:
            # Nothing to ask the model: no model is loaded, not even looked for.
            return ReviewPlan(
                repo=pr.repo,
                pr=pr.number,
                base=base,
                head=head,
                files=tuple(d.path for d in diffs),
                checked=(),
                suggestions=(),
                notes=tuple(notes),
                model=None,
                arch=None,
                model_calls=0,
                model_s=0.0,
                total_s=time.perf_counter() - started,
                cache_hits=0,
                cache_misses=0,
            )
        # Without a factory the Engine picks one from the settings (a server or llama.cpp).
        extra = {} if backend_factory is None else {"backend_factory": backend_factory}
        engine = pipeline.Engine(tree, settings, progress=progress, **extra)
        try:
            results = pipeline.run_targets(engine, [target for target, _ in chosen])
            checked: list[Checked] = []
            suggestions: list[Suggestion] = []
            for (target, diff), result in zip(chosen, results, strict=True):
                code = code_hash(diff.path, target.qualname, target.source)
                checked.append(
                    Checked(
                        target.display,
                        diff.path,
                        target.def_lineno,
                        code,
                        Decision(result.test.status, result.test.reason, result.test.attempts),
                        Decision(
                            result.docstring.status,
                            result.docstring.reason,
                            result.docstring.attempts,
                        ),
                    )
                )
                if result.docstring.status == "kept" and result.docstring.code is not None:
                    suggestions.append(
                        _docstring_suggestion(
                            target,
                            diff.path,
                            code,
                            result.docstring.code,
                            diff,
                            settings.convention,
                        )
                    )
                if result.test.status == "kept" and result.test.code is not None:
                    suggestions.append(
                        _test_suggestion(
                            target,
                            diff.path,
                            code,
                            result.test.code,
                            diff,
                            settings.runs,
                            engine.test_relpath(target),
                        )
                    )
            model = engine.model_ref()
            return ReviewPlan(
                repo=pr.repo,
                pr=pr.number,
                base=base,
                head=head,
                files=tuple(d.path for d in diffs),
                checked=tuple(checked),
                suggestions=tuple(suggestions),
                notes=tuple(notes),
                model=Path(model.path).name,
                arch=model.arch,
                model_calls=engine.session.calls,
                model_s=engine.session.model_s,
                total_s=time.perf_counter() - started,
                cache_hits=engine.cache.hits,
                cache_misses=engine.cache.misses,
            )
        finally:
            engine.close()
