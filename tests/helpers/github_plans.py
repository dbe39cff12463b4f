"""Plans and suggestions for the GitHub tests: one checked function, suggestions to order."""

from __future__ import annotations

from typing import Any

from review_bot.github.records import Checked, Decision, ReviewPlan, Suggestion
from review_bot.records import ModelRef, RunStats

SHA1, SHA2 = "a" * 40, "b" * 40


def suggestion(**changes: Any) -> Suggestion:
    values: dict[str, Any] = {
        "kind": "docstring",
        "path": "a.py",
        "qualname": "f",
        "line": 3,
        "start_line": None,
        "body": "<!-- review-bot:fp=0123456789abcdef0123 code=abcdef0123456789abcd -->\nhi",
        "content": "def f():\n    '''Doc.'''",
        "fingerprint": "0123456789abcdef0123",
        "code": "abcdef0123456789abcd",
        "inline": True,
        "destination": None,
    }
    return Suggestion(**(values | changes))


def plan(*suggestions: Suggestion) -> ReviewPlan:
    checked = Checked(
        "a.f",
        "a.py",
        3,
        "abcdef0123456789abcd",
        Decision("rejected", "fail", ("chat#0: fail: assert 1 == 2",)),
        Decision("kept", None, ("docstring#0: kept",)),
    )
    return ReviewPlan(
        repo="octo/demo",
        pr=7,
        base=SHA1,
        head=SHA2,
        files=("a.py",),
        checked=(checked,),
        suggestions=suggestions,
        notes=(),
        stats=RunStats(ModelRef("m.gguf", "llama", False), 2, 1.5, 0, 2, 3.25),
    )


def rendered_suggestion(**changes: Any) -> Suggestion:
    """A docstring suggestion whose fingerprint and body are what review-bot renders for
    its content: what `--post-from` accepts."""
    from review_bot.github.plan import docstring_body, fingerprint

    s = suggestion(**changes)
    fp = fingerprint(s.path, s.qualname, s.kind, s.content)
    return s._replace(
        fingerprint=fp, body=docstring_body(fp, s.code, s.qualname, "google", s.content)
    )
