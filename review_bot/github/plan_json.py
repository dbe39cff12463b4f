"""The plan as JSON: the --dry-run output and the --post-from input.

A plan read back may come from a fork's unprivileged job, so `plan_from_json` checks
every field's type and size before anything is posted from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from review_bot.errors import FatalError
from review_bot.github.markdown import render_summary
from review_bot.github.records import (
    MAX_BODY,
    REPO_RE,
    REVIEW_MARKER,
    Checked,
    Decision,
    ReviewPlan,
    Suggestion,
)
from review_bot.records import Disagreement, ModelRef, RunStats

PLAN_VERSION = 1
MAX_DISAGREEMENTS = 200
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


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
    stats = plan.stats
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
                "test": _decision_json(c.test),
                "docstring": _decision_json(c.docstring),
            }
            for c in plan.checked
        ],
        "suggestions": [s._asdict() for s in plan.suggestions],
        "notes": list(plan.notes),
        "model": {
            "name": stats.model.path if stats.model else None,
            "arch": stats.model.arch if stats.model else None,
        },
        "model_calls": stats.model_calls,
        "timings": {"model_s": round(stats.model_s, 3), "total_s": round(stats.total_s, 3)},
        "cache": {"hits": stats.cache_hits, "misses": stats.cache_misses},
        "jail": stats.jail,
    }


def _decision_json(decision: Decision) -> dict[str, Any]:
    return decision._asdict() | {
        "attempts": list(decision.attempts),
        "disagreements": [d._asdict() for d in decision.disagreements],
        "mutation": _mutation_json(decision.mutation),
    }


def _mutation_json(score: tuple[int, int] | None) -> dict[str, int] | None:
    return None if score is None else {"killed": score[0], "total": score[1]}


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

    def decision(self, obj: Any) -> Decision:
        attempts = self.get(obj, "attempts", list)
        if not all(isinstance(a, str) and len(a) <= MAX_BODY for a in attempts):
            raise self.fail("'attempts' must be strings")
        status = self.text(obj, "status", limit=20)
        if status not in ("kept", "rejected", "skipped"):
            raise self.fail(f"unknown status {status!r}")
        found = obj.get("disagreements", [])  # absent from plans of earlier versions
        if not isinstance(found, list) or len(found) > MAX_DISAGREEMENTS:
            raise self.fail("'disagreements' must be a list")
        disagreements = tuple(
            Disagreement(*(self.text(d, key, limit=1000) for key in Disagreement._fields))
            for d in found
        )
        reason = self.text(obj, "reason", null=True, limit=200)
        score = self.get(obj, "mutation", dict, null=True)
        mutation = None
        if score is not None:
            killed, total = self.number(score, "killed"), self.number(score, "total")
            if killed > total:
                raise self.fail("'mutation' kills more mutants than there are")
            mutation = (killed, total)
        return Decision(status, reason, tuple(attempts), disagreements, mutation)


def plan_from_json(data: Any, origin: str = "plan") -> ReviewPlan:
    """Read a plan written by `plan_to_json`, checking every field's type and size."""
    r = _Reader(origin)
    if r.get(data, "review_bot", int) != PLAN_VERSION:
        raise r.fail(f"version {data.get('review_bot')!r}; this review-bot reads {PLAN_VERSION}")
    repo = r.text(data, "repo", null=True, limit=200)
    if repo is not None and not REPO_RE.match(repo):
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
            r.decision(r.get(c, "test", dict)),
            r.decision(r.get(c, "docstring", dict)),
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
    name = r.text(model, "name", null=True, limit=1000)
    arch = r.text(model, "arch", null=True, limit=100)
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
        stats=RunStats(
            model=None if name is None else ModelRef(name, arch or "", False),
            model_calls=r.number(data, "model_calls"),
            model_s=r.seconds(timings, "model_s"),
            cache_hits=r.number(cache, "hits"),
            cache_misses=r.number(cache, "misses"),
            total_s=r.seconds(timings, "total_s"),
            jail=r.text(data, "jail", null=True, limit=20) if "jail" in data else None,
        ),
    )


def read_plan(path: Path) -> ReviewPlan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FatalError(f"{path}: cannot read the review plan: {exc}") from None
    return plan_from_json(data, str(path))
