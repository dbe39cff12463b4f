"""Workflow commands: the suggestions as annotations when the token cannot write."""

from __future__ import annotations

from review_bot.github.records import Suggestion

LEVELS = ("info", "warning", "error")
_ANNOTATION = {"info": "notice", "warning": "warning", "error": "error"}


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
