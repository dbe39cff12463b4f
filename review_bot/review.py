"""Pull request reviews: the core on a PR's changed functions, posted through GitHub's REST API.

Two halves, joined by a plain JSON document (the *plan*):

- `build_plan` runs the core on the functions a pull request changed and turns what was
  kept into suggestions: a ```` ```suggestion ```` block for a docstring, a comment with the
  test for a test. It needs the checkout and the model, and no token.
- `publish` posts a plan: one review with the new inline comments, one summary comment
  edited in place, stale comments of ours removed. It needs the token, and neither the
  checkout nor the model, so the fork-safe workflow can post a plan made by an unprivileged
  job without running any of the pull request's code.

GitHub is spoken to with httpx rather than PyGithub or githubkit: seven endpoints do not
justify a large client library, httpx is already a dependency, and the tests talk to a local
stand-in over real HTTP through GITHUB_API_URL.

The heavy parts of the core (libcst, the model stack) are imported inside `build_plan`
only, so posting works with nothing but click and httpx installed.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TextIO

import httpx

from review_bot import __version__
from review_bot.errors import FatalError

if TYPE_CHECKING:
    from review_bot.pipeline import BackendFactory, Progress
    from review_bot.prdiff import FileDiff
    from review_bot.records import Target

DEFAULT_API_URL = "https://api.github.com"
PLAN_VERSION = 1
SUMMARY_MARKER = "<!-- review-bot:summary -->"
REVIEW_MARKER = "<!-- review-bot:review -->"
# Every inline comment carries its fingerprint (what it suggests) and the hash of the code it
# is about, so a re-run recognises its own comments and those whose code has gone.
MARKER_RE = re.compile(r"<!-- review-bot:fp=([0-9a-f]{8,64})(?: code=([0-9a-f]{8,64}))? -->")
MAX_BODY = 65_000  # GitHub refuses comment bodies over 65,536 characters
LEVELS = ("info", "warning", "error")
FAIL_LEVELS = ("none", "any")
_ANNOTATION = {"info": "notice", "warning": "warning", "error": "error"}
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/(?!\.\.?$)[A-Za-z0-9_.-]+$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

Kind = Literal["docstring", "test"]

REASONS = {
    "syntax": "no code in the reply, or code that does not compile",
    "collect": "pytest collected no test, or collection failed",
    "fail": "a test failed",
    "flaky": "passed once, failed a later run",
    "no-gain": "passed, but covers no line the existing tests miss",
    "timeout": "ran past the time limit",
    "empty": "no usable reply",
    "lint": "pydocstyle rejected it",
    "params": "its parameters do not match the signature",
    "ast": "it would change the code",
}


# -- records ----------------------------------------------------------------------------------


class Suggestion(NamedTuple):
    """One thing to post: a docstring suggestion or a kept test, on head-side lines."""

    kind: Kind
    path: str  # repository-relative, POSIX
    qualname: str
    line: int  # the comment's (last) line on the RIGHT side
    start_line: int | None  # first line of a multi-line comment
    body: str  # the comment's Markdown, markers included
    content: str  # the suggested lines (docstring) or the test module (test)
    fingerprint: str
    code: str  # hash of the function's source at head
    inline: bool  # its lines lie inside one hunk of the diff
    destination: str | None  # where a test would go


class Outcome(NamedTuple):
    status: str  # kept | rejected | skipped
    reason: str | None
    attempts: tuple[str, ...]


class Checked(NamedTuple):
    """One changed function and what became of it."""

    name: str  # module.qualname
    path: str
    line: int
    code: str
    test: Outcome
    docstring: Outcome


class ReviewPlan(NamedTuple):
    repo: str | None
    pr: int | None
    base: str
    head: str
    files: tuple[str, ...]  # the changed Python files
    checked: tuple[Checked, ...]
    suggestions: tuple[Suggestion, ...]
    notes: tuple[str, ...]  # files that could not be read, and the like
    model: str | None  # the model file's name
    arch: str | None
    model_calls: int
    model_s: float
    total_s: float
    cache_hits: int
    cache_misses: int


class PullRequest(NamedTuple):
    repo: str | None
    number: int | None
    base: str | None
    head: str | None
    api_url: str


# -- the pull request from the Actions environment --------------------------------------------


def pull_request_from_env(
    environ: Mapping[str, str],
    *,
    repo: str | None = None,
    number: int | None = None,
    base: str | None = None,
    head: str | None = None,
    api_url: str | None = None,
) -> PullRequest:
    """Flags first, then the event payload (GITHUB_EVENT_PATH) and GITHUB_* variables."""
    event: Any = {}
    event_path = environ.get("GITHUB_EVENT_PATH")
    if event_path:
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FatalError(f"GITHUB_EVENT_PATH {event_path}: cannot read: {exc}") from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    pull = pull if isinstance(pull, dict) else {}

    def sha(side: str) -> str | None:
        value = pull.get(side)
        found = value.get("sha") if isinstance(value, dict) else None
        return found if isinstance(found, str) else None

    if number is None:
        found = pull.get("number", event.get("number") if pull else None)
        number = found if isinstance(found, int) and not isinstance(found, bool) else None
    repo = repo or environ.get("GITHUB_REPOSITORY") or None
    if repo is not None and not _REPO_RE.match(repo):
        raise FatalError(f"repository must be OWNER/NAME, not {repo!r}")
    if number is not None and number < 1:
        raise FatalError(f"pull request number must be positive, not {number}")
    url = (api_url or environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise FatalError(f"GitHub API URL must start with https:// or http://, not {url!r}")
    return PullRequest(repo, number, base or sha("base"), head or sha("head"), url)


# -- suggestions ------------------------------------------------------------------------------


def _hash(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:20]


def fingerprint(path: str, qualname: str, kind: str, content: str) -> str:
    return _hash(path, qualname, kind, content)


def code_hash(path: str, qualname: str, source: str) -> str:
    return _hash(path, qualname, source)


def marker(fp: str, code: str) -> str:
    return f"<!-- review-bot:fp={fp} code={code} -->"


def fence(content: str, info: str) -> str:
    """A fenced block that no backtick run inside `content` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{content.rstrip(chr(10))}\n{ticks}"


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
                        Outcome(result.test.status, result.test.reason, result.test.attempts),
                        Outcome(
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


# -- the plan as JSON (the --dry-run output and the --post-from input) -------------------------


def review_payload(plan: ReviewPlan, suggestions: Iterable[Suggestion]) -> dict[str, Any]:
    """The body of POST /repos/{owner}/{repo}/pulls/{n}/reviews."""
    comments = [comment_payload(s) for s in suggestions]
    count = len(comments)
    body = (
        f"{REVIEW_MARKER}\n**review-bot**: {count} verified suggestion"
        f"{'s' if count != 1 else ''} on the changed functions; the summary comment lists "
        "everything that was checked."
    )
    return {"commit_id": plan.head, "event": "COMMENT", "body": body, "comments": comments}


def comment_payload(s: Suggestion) -> dict[str, Any]:
    comment: dict[str, Any] = {"path": s.path, "body": s.body, "line": s.line, "side": "RIGHT"}
    if s.start_line is not None:
        comment["start_line"] = s.start_line
        comment["start_side"] = "RIGHT"
    return comment


def plan_to_json(plan: ReviewPlan) -> dict[str, Any]:
    inline = [s for s in plan.suggestions if s.inline]
    return {
        "review_bot": PLAN_VERSION,
        "repo": plan.repo,
        "pr": plan.pr,
        "base": plan.base,
        "head": plan.head,
        "review": review_payload(plan, inline),
        "summary": render_summary(plan, {s.fingerprint for s in inline}),
        "files": list(plan.files),
        "checked": [
            {
                "name": c.name,
                "path": c.path,
                "line": c.line,
                "code": c.code,
                "test": c.test._asdict() | {"attempts": list(c.test.attempts)},
                "docstring": c.docstring._asdict() | {"attempts": list(c.docstring.attempts)},
            }
            for c in plan.checked
        ],
        "suggestions": [s._asdict() for s in plan.suggestions],
        "notes": list(plan.notes),
        "model": {"name": plan.model, "arch": plan.arch},
        "model_calls": plan.model_calls,
        "timings": {"model_s": round(plan.model_s, 3), "total_s": round(plan.total_s, 3)},
        "cache": {"hits": plan.cache_hits, "misses": plan.cache_misses},
    }


class _Reader:
    """Strict reads from an untrusted JSON document: the plan may come from a fork's job."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, what: str) -> FatalError:
        return FatalError(f"{self.origin}: not a review-bot plan: {what}")

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], *, null: bool = False) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(f"expected an object holding {key!r}")
        value = obj.get(key)
        if value is None and null:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.fail(f"{key!r} has the wrong type")
        return value

    def text(self, obj: Any, key: str, *, null: bool = False, limit: int = MAX_BODY) -> Any:
        value = self.get(obj, key, str, null=null)
        if value is not None and len(value) > limit:
            raise self.fail(f"{key!r} is too long")
        return value

    def number(self, obj: Any, key: str, *, null: bool = False) -> Any:
        value = self.get(obj, key, int, null=null)
        if value is not None and value < 0:
            raise self.fail(f"{key!r} is negative")
        return value

    def seconds(self, obj: Any, key: str) -> float:
        return float(self.get(obj, key, (int, float)))

    def outcome(self, obj: Any) -> Outcome:
        attempts = self.get(obj, "attempts", list)
        if not all(isinstance(a, str) and len(a) <= MAX_BODY for a in attempts):
            raise self.fail("'attempts' must be strings")
        status = self.text(obj, "status", limit=20)
        if status not in ("kept", "rejected", "skipped"):
            raise self.fail(f"unknown status {status!r}")
        return Outcome(status, self.text(obj, "reason", null=True, limit=200), tuple(attempts))


def plan_from_json(data: Any, origin: str = "plan") -> ReviewPlan:
    """Read a plan written by `plan_to_json`, checking every field's type and size."""
    r = _Reader(origin)
    if r.get(data, "review_bot", int) != PLAN_VERSION:
        raise r.fail(f"version {data.get('review_bot')!r}; this review-bot reads {PLAN_VERSION}")
    repo = r.text(data, "repo", null=True, limit=200)
    if repo is not None and not _REPO_RE.match(repo):
        raise r.fail("'repo' must be OWNER/NAME")
    base, head = r.text(data, "base", limit=64), r.text(data, "head", limit=64)
    if not (_SHA_RE.match(base) and _SHA_RE.match(head)):
        raise r.fail("'base' and 'head' must be full commit SHAs")
    files = r.get(data, "files", list)
    if not all(isinstance(f, str) and len(f) <= 4096 for f in files):
        raise r.fail("'files' must be paths")
    checked = tuple(
        Checked(
            r.text(c, "name", limit=1000),
            r.text(c, "path", limit=4096),
            r.number(c, "line"),
            r.text(c, "code", limit=64),
            r.outcome(r.get(c, "test", dict)),
            r.outcome(r.get(c, "docstring", dict)),
        )
        for c in r.get(data, "checked", list)
    )
    suggestions: list[Suggestion] = []
    for s in r.get(data, "suggestions", list):
        kind = r.text(s, "kind", limit=20)
        if kind not in ("docstring", "test"):
            raise r.fail(f"unknown suggestion kind {kind!r}")
        line = r.number(s, "line")
        start_line = r.number(s, "start_line", null=True)
        if line < 1 or (start_line is not None and not 1 <= start_line < line):
            raise r.fail("bad line numbers")
        suggestions.append(
            Suggestion(
                kind=kind,
                path=r.text(s, "path", limit=4096),
                qualname=r.text(s, "qualname", limit=1000),
                line=line,
                start_line=start_line,
                body=r.text(s, "body"),
                content=r.text(s, "content"),
                fingerprint=r.text(s, "fingerprint", limit=64),
                code=r.text(s, "code", limit=64),
                inline=r.get(s, "inline", bool),
                destination=r.text(s, "destination", null=True, limit=4096),
            )
        )
    model = r.get(data, "model", dict)
    timings = r.get(data, "timings", dict)
    cache = r.get(data, "cache", dict)
    notes = r.get(data, "notes", list)
    if not all(isinstance(n, str) and len(n) <= 4096 for n in notes):
        raise r.fail("'notes' must be strings")
    return ReviewPlan(
        repo=repo,
        pr=r.number(data, "pr", null=True),
        base=base,
        head=head,
        files=tuple(files),
        checked=checked,
        suggestions=tuple(suggestions),
        notes=tuple(notes),
        model=r.text(model, "name", null=True, limit=1000),
        arch=r.text(model, "arch", null=True, limit=100),
        model_calls=r.number(data, "model_calls"),
        model_s=r.seconds(timings, "model_s"),
        total_s=r.seconds(timings, "total_s"),
        cache_hits=r.number(cache, "hits"),
        cache_misses=r.number(cache, "misses"),
    )


def read_plan(path: Path) -> ReviewPlan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FatalError(f"{path}: cannot read the review plan: {exc}") from None
    return plan_from_json(data, str(path))


# -- the summary (Markdown) -------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _outcome_cell(outcome: Outcome, placed: str | None) -> str:
    if outcome.status == "kept":
        return f"kept ({placed})" if placed else "kept"
    if outcome.reason:
        return _cell(f"{outcome.status}: {outcome.reason}")
    return outcome.status


def render_summary(plan: ReviewPlan, inline: set[str], *, heading_note: str | None = None) -> str:
    """The summary comment: what was checked, kept, rejected and why; model and timings.

    `inline` holds the fingerprints of suggestions that are (or will be) inline comments;
    every other suggestion is written out in full here.
    """
    short = f"`{plan.base[:7]}...{plan.head[:7]}`"
    out = [SUMMARY_MARKER, "### review-bot", ""]
    if heading_note:
        out += [heading_note, ""]
    functions = len(plan.checked)
    suggestions = len(plan.suggestions)
    below = [s for s in plan.suggestions if s.fingerprint not in inline]
    if not plan.checked:
        out.append(
            f"No changed Python function to check in {short} "
            f"({len(plan.files)} changed Python file{'s' if len(plan.files) != 1 else ''})."
        )
    else:
        out.append(
            f"Checked **{functions}** changed function{'s' if functions != 1 else ''} in "
            f"{len(plan.files)} file{'s' if len(plan.files) != 1 else ''} ({short}): "
            f"**{suggestions}** verified suggestion{'s' if suggestions != 1 else ''}, "
            f"{suggestions - len(below)} inline, {len(below)} below."
        )
        out += ["", "| function | test | docstring |", "|---|---|---|"]
        places: dict[str, dict[str, str]] = {}
        for s in plan.suggestions:
            places.setdefault(s.code, {})[s.kind] = "inline" if s.fingerprint in inline else "below"
        for c in plan.checked:
            place = places.get(c.code, {})
            out.append(
                f"| `{_cell(c.name)}` `{_cell(c.path)}:{c.line}` "
                f"| {_outcome_cell(c.test, place.get('test'))} "
                f"| {_outcome_cell(c.docstring, place.get('docstring'))} |"
            )
        found = {o.reason for c in plan.checked for o in (c.test, c.docstring) if o.reason}
        reasons = sorted(found & set(REASONS))
        if reasons:
            out += ["", "Reasons: " + "; ".join(f"*{r}*: {REASONS[r]}" for r in reasons) + "."]
    if below:
        out += ["", "#### Not placed inline", ""]
        out += ["These suggestions fall outside the diff's hunks, so they are listed here.", ""]
        for s in below:
            out.append(_suggestion_markdown(s))
    if plan.notes:
        out += ["", *[f"- {note}" for note in plan.notes]]
    attempts = [
        f"{c.name} {kind}: {line}"
        for c in plan.checked
        for kind, outcome in (("test", c.test), ("docstring", c.docstring))
        for line in outcome.attempts
    ]
    footer = ["", _model_line(plan)]
    if attempts:
        block = fence("\n".join(attempts), "")
        details = ["", "<details><summary>Attempts</summary>", "", block, "", "</details>"]
        text = "\n".join(out + details + footer) + "\n"
        if len(text) <= MAX_BODY:
            return text
        out += ["", "(The attempts are too long for a comment; the review step's log has them.)"]
    text = "\n".join(out + footer) + "\n"
    if len(text) > MAX_BODY:
        cut = "\n\n(Truncated: the review step's log has every result.)\n"
        text = text[: MAX_BODY - len(cut) - len(footer[1]) - 2] + cut + footer[1] + "\n"
    return text


def _suggestion_markdown(s: Suggestion) -> str:
    if s.kind == "docstring":
        lines = f"lines {s.start_line}-{s.line}" if s.start_line else f"line {s.line}"
        return (
            f"- docstring for `{s.qualname}`: replace {lines} of `{s.path}` with\n\n"
            f"{_indent(fence(s.content, 'python'))}\n"
        )
    return (
        f"- test for `{s.qualname}` (`{s.path}:{s.line}`), for `{s.destination}`\n\n"
        f"  <details><summary>Test for <code>{s.qualname}</code></summary>\n\n"
        f"{_indent(fence(s.content, 'python'))}\n\n  </details>\n"
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.split("\n"))


def _model_line(plan: ReviewPlan) -> str:
    model = f"model `{plan.model}` ({plan.arch})" if plan.model else "no model needed"
    return (
        f"<sub>review-bot {__version__} · {model} · {plan.model_calls} model calls · "
        f"model {plan.model_s:.1f} s · total {plan.total_s:.1f} s · "
        f"cache {plan.cache_hits} hits, {plan.cache_misses} misses</sub>"
    )


def log_lines(plan: ReviewPlan) -> list[str]:
    """What was checked, for the job log: one line per function, then each attempt."""
    lines: list[str] = []
    for c in plan.checked:
        parts = []
        for kind, outcome in (("test", c.test), ("docstring", c.docstring)):
            reason = f" ({outcome.reason})" if outcome.reason else ""
            parts.append(f"{kind} {outcome.status}{reason}")
        lines.append(f"{c.path}:{c.line}: {c.name}: " + ", ".join(parts))
        lines += [f"    {line}" for o in (c.test, c.docstring) for line in o.attempts]
    lines += [f"note: {note}" for note in plan.notes]
    lines.append(
        f"{len(plan.checked)} functions checked, {len(plan.suggestions)} verified suggestions; "
        f"{plan.model_calls} model calls, model {plan.model_s:.1f} s, total {plan.total_s:.1f} s"
    )
    return lines


# -- workflow commands (read-only degradation) --------------------------------------------------


def escape_data(text: str) -> str:
    """GitHub's escaping for a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """GitHub's escaping for a workflow command's property values."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(s: Suggestion, level: str) -> str:
    """One `::notice file=...,line=...::message` line (or ::warning / ::error by level)."""
    start = s.start_line or s.line
    if s.kind == "docstring":
        title = f"review-bot: docstring for {s.qualname}"
        message = f"Suggested replacement for lines {start}-{s.line}:\n{s.content}"
    else:
        title = f"review-bot: test for {s.qualname}"
        message = f"A verified test, for {s.destination}:\n{s.content}"
    props = (("file", s.path), ("line", str(start)), ("endLine", str(s.line)), ("title", title))
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{_ANNOTATION[level]} {joined}::{escape_data(message)}"


# -- GitHub REST ------------------------------------------------------------------------------


class GitHubError(FatalError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReadOnlyError(GitHubError):
    """403 without rate-limit headers: the token cannot write here (a fork's pull request)."""


class UnprocessableError(GitHubError):
    """422: GitHub understood the request and refused it (a line outside the diff)."""


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message", ""))
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        message += " (" + "; ".join(str(e) for e in errors)[:300] + ")"
    return message


class GitHub:
    """A small REST client: auth headers, bounded retries with backoff, pagination."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._origin = httpx.URL(self.api_url + "/")
        self.client = httpx.Client(
            base_url=self.api_url + "/",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"review-bot/{__version__}",
            },
            timeout=timeout_s,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the answer is final."""
        status = response.status_code
        headers = response.headers
        limited = status == 429 or (
            status == 403
            and (
                "retry-after" in headers
                or headers.get("x-ratelimit-remaining") == "0"
                or "rate limit" in _message(response).lower()
            )
        )
        if not (limited or status >= 500):
            return None
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                when = email.utils.parsedate_to_datetime(retry_after)
                if when is not None:
                    return max(0.0, when.timestamp() - time.time())
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
            except ValueError:
                pass
        return float(self.backoff_s * 2**attempt)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        what = f"GitHub API: {method} {httpx.URL(url).path or url}"
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, url, json=body, params=params)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise GitHubError(
                        f"{what} failed after {attempt + 1} attempts: {exc}"
                    ) from None
                self._sleep(min(self.backoff_s * 2**attempt, self.max_wait_s))
                continue
            wait = self._wait(response, attempt)
            if wait is None:
                break
            status = response.status_code
            if attempt == self.retries:
                raise GitHubError(
                    f"{what} answered {status} after {attempt + 1} attempts: {_message(response)}",
                    status,
                )
            if wait > self.max_wait_s:
                raise GitHubError(
                    f"{what} answered {status}: rate limited for {wait:.0f} s more, longer "
                    f"than review-bot waits ({self.max_wait_s:.0f} s): {_message(response)}",
                    status,
                )
            self._sleep(wait)
        status = response.status_code
        if status < 300:
            return response
        message = f"{what} answered {status}: {_message(response)}"
        if status == 401:
            raise GitHubError(message + " (is the token valid?)", status)
        if status == 403:
            raise ReadOnlyError(message, status)
        if status == 404:
            raise GitHubError(message + " (wrong repository or number, or no access)", status)
        if status == 422:
            raise UnprocessableError(message, status)
        raise GitHubError(message, status)

    def json(self, method: str, url: str, body: Any = None) -> Any:
        response = self.request(method, url, body=body)
        return response.json() if response.content else None

    def paginate(self, url: str, *, max_pages: int = 100) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following the Link header's rel="next"."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        params: Mapping[str, str | int] | None = {"per_page": 100}
        for _ in range(max_pages):
            if next_url is None:
                break
            response = self.request("GET", next_url, params=params)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub API: GET {url}: expected a list")
            items += [item for item in page if isinstance(item, dict)]
            link = response.links.get("next", {}).get("url")
            next_url, params = (link, None) if link and self._same_origin(link) else (None, None)
        return items

    def _same_origin(self, url: str) -> bool:
        # The token goes with every request: never follow a link to another host.
        target = httpx.URL(url)
        return (target.scheme, target.host, target.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        )


# -- publishing -------------------------------------------------------------------------------


class Published(NamedTuple):
    review_id: int | None
    posted: tuple[str, ...]  # fingerprints posted inline by this run
    present: tuple[str, ...]  # fingerprints already inline from an earlier run
    unplaced: tuple[str, ...]  # fingerprints written into the summary instead
    deleted: tuple[int, ...]  # ids of stale comments removed
    summary_id: int | None
    degraded: bool


def _ours(comment: Mapping[str, Any]) -> tuple[str, str | None] | None:
    body = comment.get("body")
    match = MARKER_RE.search(body) if isinstance(body, str) else None
    return (match.group(1), match.group(2)) if match else None


def publish(
    github: GitHub,
    plan: ReviewPlan,
    repo: str,
    number: int,
    *,
    level: str = "info",
    notice: Callable[[str], None] = lambda message: None,
    stdout: TextIO | None = None,
    step_summary: Path | None = None,
) -> Published:
    """Post the plan: one review with the new comments, the summary edited in place, stale
    comments of ours deleted. A token that cannot write degrades to annotations."""
    pulls = f"repos/{repo}/pulls"
    issues = f"repos/{repo}/issues"
    current_code = {c.code for c in plan.checked}
    want = {s.fingerprint: s for s in plan.suggestions}
    try:
        existing = github.paginate(f"{pulls}/{number}/comments")
        replied = {c.get("in_reply_to_id") for c in existing if c.get("in_reply_to_id")}
        present: set[str] = set()
        stale: list[int] = []
        for comment in existing:
            found = _ours(comment)
            if found is None or comment.get("in_reply_to_id"):
                continue
            fp, code = found
            outdated = comment.get("line") is None  # GitHub's mark of a line that has gone
            if fp in want and not outdated and fp not in present:
                present.add(fp)
                continue
            gone = outdated or (code not in current_code if code else fp not in want)
            duplicate = fp in present
            if (gone or duplicate) and comment.get("id") not in replied:
                stale.append(int(comment["id"]))
        new = [s for s in plan.suggestions if s.inline and s.fingerprint not in present]
        posted: list[str] = []
        # An inline comment from an earlier run still stands even if the hunks moved.
        unplaced = [
            s.fingerprint for s in plan.suggestions if not (s.inline or s.fingerprint in present)
        ]
        review_id: int | None = None
        if new:
            try:
                review = github.json("POST", f"{pulls}/{number}/reviews", review_payload(plan, new))
                review_id = review.get("id") if isinstance(review, dict) else None
                posted = [s.fingerprint for s in new]
                notice(f"review-bot: posted a review with {len(new)} comments")
            except UnprocessableError as exc:
                # GitHub names no culprit: post one comment at a time, keep the valid ones,
                # move the rest into the summary.
                notice(f"review-bot: {exc}; posting the comments one at a time")
                for s in new:
                    comment = comment_payload(s) | {"commit_id": plan.head}
                    try:
                        github.json("POST", f"{pulls}/{number}/comments", comment)
                        posted.append(s.fingerprint)
                    except UnprocessableError:
                        unplaced.append(s.fingerprint)
                notice(
                    f"review-bot: posted {len(posted)} comments; "
                    f"{len(new) - len(posted)} moved to the summary"
                )
        for comment_id in stale:
            try:
                github.request("DELETE", f"{pulls}/comments/{comment_id}")
            except GitHubError as exc:
                if exc.status != 404:  # already gone: somebody was quicker
                    raise
        if stale:
            notice(f"review-bot: deleted {len(stale)} comments on code that has changed")
        inline = (set(posted) | present) - set(unplaced)
        summary = render_summary(plan, inline)
        summary_id = _upsert_summary(github, issues, number, summary, bool(plan.checked))
    except ReadOnlyError as exc:
        notice(
            f"review-bot: {exc}: the token cannot write to this pull request (a fork?); "
            "writing annotations and the job summary instead"
        )
        out = stdout if stdout is not None else sys.stdout
        for s in plan.suggestions:
            out.write(annotation(s, level) + "\n")
        out.flush()
        note = (
            "The token could not write to the pull request (a pull request from a fork has a "
            "read-only token), so the suggestions are here and as annotations."
        )
        _append_step_summary(step_summary, render_summary(plan, set(), heading_note=note))
        return Published(None, (), (), tuple(want), (), None, True)
    _append_step_summary(step_summary, summary)
    return Published(
        review_id,
        tuple(posted),
        tuple(sorted(present)),
        tuple(unplaced),
        tuple(stale),
        summary_id,
        False,
    )


def _upsert_summary(
    github: GitHub, issues: str, number: int, body: str, has_content: bool
) -> int | None:
    comments = github.paginate(f"{issues}/{number}/comments")
    mine = [c for c in comments if SUMMARY_MARKER in str(c.get("body", ""))]
    if mine:
        comment_id = int(mine[0]["id"])
        if mine[0].get("body") != body:
            github.json("PATCH", f"{issues}/comments/{comment_id}", {"body": body})
        return comment_id
    if not has_content:
        return None  # a pull request without a changed function gets no comment at all
    created = github.json("POST", f"{issues}/{number}/comments", {"body": body})
    return int(created["id"]) if isinstance(created, dict) and "id" in created else None


def _append_step_summary(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(text + "\n")
    except OSError as exc:
        raise FatalError(f"GITHUB_STEP_SUMMARY {path}: cannot write: {exc}") from None


def step_summary_path(environ: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None


def should_fail(plan: ReviewPlan, fail_level: str) -> bool:
    """--fail-level any: a non-zero exit when there is any verified suggestion."""
    return fail_level == "any" and bool(plan.suggestions)


def current_head(github: GitHub, repo: str, number: int) -> str:
    """The pull request's current head SHA, from the API."""
    pull = github.json("GET", f"repos/{repo}/pulls/{number}")
    head = pull.get("head", {}).get("sha") if isinstance(pull, dict) else None
    if not isinstance(head, str):
        raise GitHubError(f"GitHub API: pull request {repo}#{number} has no head SHA")
    return head


def token_from(environ: Mapping[str, str]) -> str:
    token = environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise FatalError(
            "no GitHub token: set GITHUB_TOKEN (the action passes ${{ github.token }}), "
            "or use --dry-run"
        )
    return token
