# Runs inside the sandbox, never in review-bot's process: a pytest plugin and the recorder
# that an instrumented test calls in place of its literal assertions (generate/oracle.py).
# Each call appends one JSON line: which assertion, which parametrize row, whether the
# model's expectation held, and the observed value's literal (cases_driver's rule).
from __future__ import annotations

import importlib
import json
import os
from typing import Any

import pytest

# The one rule for a faithful literal: the cases strategy's, shipped next to this file.
_literal = importlib.import_module("_review_bot_cases")._literal

_OUT = os.path.join(os.getcwd(), ".rb_oracle.jsonl")
_current: Any = None  # the pytest item running now
_seen: set[tuple[Any, ...]] = set()  # what was written: a loop writes each outcome once
_MAX_LINES = 1000


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    global _current
    _current = item


def _held(value: object, kind: str, expected: Any) -> bool:
    try:
        if kind == "is":
            return value is expected
        if kind == "instance":
            return isinstance(value, expected)
        if kind == "in":
            return bool(value in expected)
        if kind == "notin":
            return bool(value not in expected)
        return bool(value == expected)
    except BaseException:
        return False


def _raised(exc: BaseException) -> str | None:
    """`!KeyError` for a builtin exception (a name a test can use without an import)."""
    cls = type(exc)
    return "!" + cls.__qualname__ if cls.__module__ == "builtins" else None


def raises(site: int, call: Any, expected: Any) -> None:
    """`with pytest.raises(expected): call()`: what the call did instead, if not that; when
    it did, the exception's name (a blind `pytest.raises(Exception)` is narrowed to it)."""
    try:
        value = call()
    except Exception as exc:  # BaseExceptions (pytest's skip, a timeout) go on up
        held = _held(exc, "instance", expected)
        _write({"site": site, "row": None, "held": held, "value": _raised(exc)})
        return
    _write({"site": site, "row": None, "held": False, "value": _literal(value)})


def ready(value: object) -> Any:
    """A thunk of a value already computed (an awaited call: no lambda can hold `await`)."""
    return lambda: value


def record(site: int, call: Any, kind: str, expected: object, param: str | None) -> None:
    """`assert call() <kind> expected`: whether it held and what `call()` returned, or the
    exception it raised."""
    row = None
    if param is not None:
        callspec = getattr(_current, "callspec", None)
        indices = getattr(callspec, "indices", None) or {}
        row = indices.get(param)
    try:
        value = call()
    except Exception as exc:
        _write({"site": site, "row": row, "held": False, "value": _raised(exc)})
        return
    entry = {"site": site, "row": row, "held": _held(value, kind, expected)}
    entry["value"] = _literal(value)  # None: no faithful repr, nothing to record
    _write(entry)


def _write(entry: dict[str, Any]) -> None:
    key = (entry["site"], entry["row"], entry["held"], entry["value"])
    if key in _seen or len(_seen) >= _MAX_LINES:
        return
    _seen.add(key)
    with open(_OUT, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
