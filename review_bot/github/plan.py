"""The plan of a pull request review: the core on the changed functions, kept results as
suggestions.

`build_plan` needs the checkout and the model, and no token. The heavy parts of the core
(libcst, the model stack) are imported inside it only, so that posting a plan
(`review_bot.github.publish`) works with nothing but click and httpx installed.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from review_bot.errors import FatalError
from review_bot.github.markdown import code as code_span
from review_bot.github.markdown import fence
from review_bot.github.markdown import text as text_escape
from review_bot.github.records import (
    MAX_BODY,
    Checked,
    Decision,
    PullRequest,
    ReviewPlan,
    Suggestion,
)
from review_bot.progress import Progress, SilentProgress
from review_bot.sandbox.screen import unsafe_construct

if TYPE_CHECKING:
    from review_bot.core import BackendFactory
    from review_bot.diff import FileDiff
    from review_bot.records import Target


def _hash(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:20]


def fingerprint(path: str, qualname: str, kind: str, content: str) -> str:
    return _hash(path, qualname, kind, content)


def code_hash(path: str, qualname: str, source: str) -> str:
    return _hash(path, qualname, source)


def marker(fp: str, code: str, kind: str) -> str:
    return f"<!-- review-bot:fp={fp} code={code} kind={kind} -->"


def first_changed_line(target: Target, diff: FileDiff) -> int | None:
    """The first line of the function that the diff changed and that lies in a hunk (where
    a comment can go), else None. A change far below a long function's `def` still gets
    its test comment, at the change."""
    for start, end in diff.ranges:
        for line in range(max(start, target.lineno), min(end, target.end_lineno) + 1):
            if diff.hunk_of(line, line) is not None:
                return line
    return None


def docstring_change(source: str, target: Target, text: str) -> tuple[int, int, list[str]]:
    """The lines [start, end] of `source` a suggestion replaces, and their replacement.

    The range runs from the `def` line to the end of the signature (the line before the
    docstring goes), so the suggestion shows the signature it documents.
    """
    from review_bot.write.docstrings import insert_docstring

    new = insert_docstring(source, target.qualname, text, lineno=target.lineno)
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


def docstring_body(fp: str, code: str, qualname: str, convention: str, content: str) -> str:
    """A docstring suggestion's comment: the one rendering `--post-from` checks against."""
    return (
        f"{marker(fp, code, 'docstring')}\n"
        f"**review-bot** suggests a docstring for {code_span(qualname)} "
        f"(checked: pydocstyle, {text_escape(convention)} convention, every parameter "
        f"named).\n\n{fence(content, 'suggestion')}\n"
    )


def test_body(
    fp: str,
    code: str,
    qualname: str,
    rel: str,
    dest: str,
    runs: int,
    mutation: tuple[int, int] | None,
    test_code: str,
) -> str:
    """A kept test's comment: the one rendering `--post-from` checks against."""
    lines = test_code.rstrip("\n").count("\n") + 1
    catches = ""
    if mutation is not None and mutation[1] > 0:
        catches = (
            f" It fails against {mutation[0]} of {mutation[1]} mutants of the function "
            "(small bugs made in its body), so it would catch such a bug."
        )
    return (
        f"{marker(fp, code, 'test')}\n"
        f"**review-bot** wrote a test for {code_span(qualname)} that passed "
        f"{runs} of {runs} runs in a sandbox and covers lines the existing tests miss.{catches} "
        f"It would go in {code_span(dest)}; "
        f"{code_span(f'review-bot suggest {rel} --function {qualname} --write')} "
        f"writes it there.\n\n"
        f"<details><summary>Test for <code>{html.escape(qualname)}</code> "
        f"({lines} lines)</summary>"
        f"\n\n{fence(test_code, 'python')}\n\n</details>\n"
    )


def body_problem(s: Suggestion) -> str | None:
    """Why a suggestion read from a plan file may not be posted, or None: its content is
    screened again (sandbox/screen.py; a docstring's doctest lines), and its body must be exactly
    what review-bot renders for that content (issue 22: an edited plan's body was posted
    verbatim by `--post-from`)."""
    if fingerprint(s.path, s.qualname, s.kind, s.content) != s.fingerprint:
        return "its fingerprint does not match its content"
    if s.kind == "test":
        unsafe = unsafe_construct(s.content)
        if unsafe is not None:
            return f"unsafe: {unsafe}"
        runs = re.search(r"passed (\d+) of \1 runs", s.body)
        score = re.search(r"fails against (\d+) of (\d+) mutants", s.body)
        mutation = (int(score[1]), int(score[2])) if score else None
        if runs is None or s.destination is None:
            return "its body is not review-bot's"
        expected = test_body(
            s.fingerprint, s.code, s.qualname, s.path, s.destination, int(runs[1]), mutation,
            s.content,
        )  # fmt: skip
    else:
        examples = "\n".join(
            line.strip()[4:] for line in s.content.splitlines() if line.strip().startswith(">>>")
        )
        unsafe = unsafe_construct(examples)
        if unsafe is not None:
            return f"unsafe example: {unsafe}"
        convention = re.search(r"pydocstyle, (\w+) convention", s.body)
        if convention is None:
            return "its body is not review-bot's"
        expected = docstring_body(s.fingerprint, s.code, s.qualname, convention[1], s.content)
    return None if expected == s.body else "its body differs from what review-bot renders"


def _docstring_suggestion(
    target: Target, rel: str, code: str, text: str, diff: FileDiff, convention: str
) -> Suggestion:
    start, end, lines = docstring_change(target.module_source, target, text)
    content = "\n".join(lines)
    fp = fingerprint(rel, target.qualname, "docstring", content)
    body = docstring_body(fp, code, target.qualname, convention, content)
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
    target: Target,
    rel: str,
    code: str,
    test_code: str,
    diff: FileDiff,
    runs: int,
    dest: str,
    mutation: tuple[int, int] | None = None,
) -> Suggestion:
    fp = fingerprint(rel, target.qualname, "test", test_code)
    body = test_body(fp, code, target.qualname, rel, dest, runs, mutation, test_code)
    # The `def` line when it is in a hunk, else the first changed line of the function.
    line = target.def_lineno
    inline = diff.hunk_of(line, line) is not None
    if not inline:
        changed = first_changed_line(target, diff)
        line, inline = (changed, True) if changed is not None else (line, False)
    return Suggestion(
        kind="test",
        path=rel,
        qualname=target.qualname,
        line=line,
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
    from review_bot import core, git
    from review_bot.config import load_settings
    from review_bot.core import FileChange
    from review_bot.diff import parse_diff
    from review_bot.paths import generated_test_path

    started = time.perf_counter()
    progress = progress or SilentProgress()
    if pr.base is None or pr.head is None:
        raise FatalError(
            "no pull request to review: run on a pull_request event or pass --base and --head"
        )
    repo = git.find_repo(checkout)
    base = git.resolve_commit(repo, pr.base, "base")
    head = git.resolve_commit(repo, pr.head, "head")
    if git.persisted_credentials(repo):
        progress.notice(
            "review-bot: warning: this checkout keeps a token in .git/config, which generated "
            "tests could read; check out with persist-credentials: false"
        )
    # A deleted file has no head side to review, a binary one no lines to read.
    diffs = [
        d
        for d in parse_diff(git.three_dot_diff(repo, base, head))
        if d.status != "deleted" and not d.binary and is_reviewed(d.path)
    ]
    by_path = {d.path: d for d in diffs}
    with git.head_tree(repo, head) as tree:
        settings = load_settings(tree, flags)
        files = [
            FileChange(tree / d.path, d.ranges, d.path)
            for d in diffs
            if (tree / d.path).is_file() and not (tree / d.path).is_symlink()
        ]
        # No changed function, no model: the core loads nothing, not even looks for one.
        run = core.run(
            tree,
            settings,
            files,
            backend_factory=backend_factory,
            progress=progress,
            checkout=repo.root,
        )
        checked: list[Checked] = []
        suggestions: list[Suggestion] = []
        for result in run.results:
            target = result.target
            diff = by_path[target.path.relative_to(tree).as_posix()]
            code = code_hash(diff.path, target.qualname, target.source)
            checked.append(
                Checked(
                    target.display,
                    diff.path,
                    target.def_lineno,
                    code,
                    Decision(
                        result.test.status,
                        result.test.reason,
                        result.test.attempts,
                        disagreements=result.test.disagreements,
                        mutation=result.test.mutation,
                    ),
                    Decision(
                        result.docstring.status, result.docstring.reason, result.docstring.attempts
                    ),
                )
            )
            if result.docstring.status == "kept" and result.docstring.code is not None:
                suggestions.append(
                    _docstring_suggestion(
                        target, diff.path, code, result.docstring.code, diff, settings.convention
                    )
                )
            if result.test.status == "kept" and result.test.code is not None:
                destination = generated_test_path(tree, settings.tests_dir, target.module)
                suggestions.append(
                    _test_suggestion(
                        target,
                        diff.path,
                        code,
                        result.test.code,
                        diff,
                        settings.runs,
                        destination.relative_to(tree).as_posix(),
                        result.test.mutation,
                    )
                )
        model = run.stats.model
        return ReviewPlan(
            repo=pr.repo,
            pr=pr.number,
            base=base,
            head=head,
            files=tuple(d.path for d in diffs),
            checked=tuple(checked),
            suggestions=tuple(suggestions),
            notes=tuple(run.notes),
            # The plan names the model file, not where it lies on this machine.
            stats=run.stats._replace(
                model=None if model is None else model._replace(path=Path(model.path).name),
                total_s=time.perf_counter() - started,
            ),
        )
