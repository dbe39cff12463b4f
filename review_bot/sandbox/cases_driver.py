# Runs inside the sandbox, never in review-bot's process: calls the function under test
# on each proposed case and records what happened. Standard library only.
from __future__ import annotations

import ast
import asyncio
import copy
import importlib
import inspect
import itertools
import json
import linecache
import os
import re
import signal
import sys
import tempfile
import warnings
from types import FrameType
from typing import Any

MAX_MESSAGE = 160  # characters of an exception message a test states


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout()


def _literal(value: object) -> str | None:
    """repr(value) if it reads back as an equal literal, else None."""
    try:
        text = repr(value)
        back = ast.literal_eval(text)
        if type(back) is not type(value) or not bool(back == value):
            return None
    except BaseException:
        return None
    return text


def _call(fn: Any, case: dict[str, Any]) -> tuple[str, object]:
    args = copy.deepcopy(case["args"])
    kwargs = copy.deepcopy(case["kwargs"])
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    if inspect.isgenerator(result):
        return "yields", list(itertools.islice(result, 1000))
    return "returns", result


def _traced(fn: Any, lines: set[int]) -> Any:
    """A tracer that adds to `lines` the lines run in the function's own code (its
    coroutine or generator frames too): which lines each case covers."""
    code = getattr(inspect.unwrap(fn), "__code__", None)

    def line(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            lines.add(frame.f_lineno)
        return line

    def call(frame: FrameType, event: str, arg: object) -> Any:
        return line if frame.f_code is code else None

    return call


def _outcome(fn: Any, case: dict[str, Any], lines: set[int] | None = None) -> dict[str, Any]:
    """What one call did, and the first warning it emitted (a row that warns fails a
    project whose warnings are errors, and is not kept)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = _unwarned(fn, case, lines)
    if caught:
        record["warns"] = caught[0].category.__name__
    return record


def _unwarned(fn: Any, case: dict[str, Any], lines: set[int] | None) -> dict[str, Any]:
    if lines is not None:
        sys.settrace(_traced(fn, lines))
    try:
        kind, value = _call(fn, case)
    except _Timeout:
        return {"kind": "timeout"}
    except BaseException as exc:  # the function's own exceptions are what we record
        cls = type(exc)
        record = {
            "kind": "raises",
            "module": cls.__module__,
            "qualname": cls.__qualname__,
            "own": _raised_by_code(exc),
        }
        message = _message(exc)
        if record["own"] and message is not None:
            record["message"] = message
        return record
    finally:
        if lines is not None:
            sys.settrace(None)
    return {"kind": kind, "value": _literal(value)}


def _message(exc: BaseException) -> str | None:
    """The exception's message where a test can state it: one short line, and nothing
    that belongs to this run (an object's address, this directory or the temp directory)."""
    try:
        text = str(exc)
    except BaseException:
        return None
    if not text or text != text.strip() or "\n" in text or len(text) > MAX_MESSAGE:
        return None
    if re.search(r"0x[0-9a-fA-F]{6,}", text):
        return None
    here = {os.getcwd(), tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}
    if any(place in text for place in here if len(place) > 1):
        return None
    return text


def _raised_by_code(exc: BaseException) -> bool:
    """The innermost Python line of the traceback is a `raise` statement: the code raised
    it on purpose, where `len(5)` or `None.strip()` is Python refusing an argument."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno)
    return line.strip().startswith("raise")


def main() -> None:
    module, qualname, cases_path, out_path, per_case_s = sys.argv[1:6]
    with open(cases_path, encoding="utf-8") as handle:
        cases = json.load(handle)
    fn: Any = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    signal.signal(signal.SIGALRM, _alarm)
    results = []
    for case in cases:
        signal.setitimer(signal.ITIMER_REAL, float(per_case_s))
        lines: set[int] = set()
        try:
            first = _outcome(fn, case, lines)
            # A second call tells a deterministic result from one that varies.
            second = _outcome(fn, case) if first["kind"] != "timeout" else first
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if first.get("message") != second.get("message"):
            first.pop("message", None)  # a message that varies is not stated
            second.pop("message", None)
        first["stable"] = first == second
        first["lines"] = sorted(lines)
        results.append(first)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
