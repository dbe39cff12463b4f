"""Can the module under test be imported where its tests will run? Asked once per module,
in the sandbox, before any model call: a module that cannot be imported (a dependency
missing from the interpreter in force) would reject every candidate for the same cause,
each time under another name ("collect: no usable case").

The probe is a tiny test module that pytest collects from the tests directory, with the
project's interpreter and configuration (rootdir, `pythonpath`, conftest.py files): the
module is imported exactly as a generated test would import it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from review_bot.paths import tests_dir_posix
from review_bot.sandbox import Sandbox

__all__ = ["PROBE_NAME", "import_problem"]

PROBE_NAME = "test_rb_import_probe.py"
_RESULT = ".rb_import.json"
_PROBE = """\
# review-bot: can the module under test be imported as its tests will import it?
import importlib
import json

try:
    importlib.import_module({module!r})
except BaseException as exc:
    with open({result!r}, "w", encoding="utf-8") as handle:
        json.dump({{"type": type(exc).__name__, "message": str(exc)}}, handle)
    raise
with open({result!r}, "w", encoding="utf-8") as handle:
    handle.write('{{"ok": true}}')


def test_rb_imported():
    pass
"""
# A conftest.py that fails to import stops pytest before the probe runs.
_IMPORT_ERROR = re.compile(r"^E?\s*((?:ModuleNotFound|Import)Error): (.+)$", re.MULTILINE)


def import_problem(
    sandbox: Sandbox,
    module: str,
    tests_dir: str,
    pythonpath: Sequence[str],
    timeout_s: float,
) -> str | None:
    """Why `module` cannot be imported in the sandbox ("No module named 'toolz'",
    "RuntimeError: ..."), or None when it imports (or the probe could not tell)."""
    top = tests_dir_posix(tests_dir)
    relpath = PROBE_NAME if top == "." else f"{top}/{PROBE_NAME}"
    with sandbox.workspace() as ws:
        result_path = str(ws.path / _RESULT)
        ws.write(relpath, _PROBE.format(module=module, result=result_path))
        argv = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
        run = ws.run([*argv, "--collect-only", relpath], timeout_s=timeout_s, pythonpath=pythonpath)
        text = ws.read(_RESULT)
    if text is not None:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("ok"):
            return None
        kind, message = str(data.get("type", "")), str(data.get("message", ""))
        if kind in ("ModuleNotFoundError", "ImportError"):
            return message
        return f"{kind}: {message}" if message else kind
    if run.timed_out or run.returncode == 0:
        return None
    found = _IMPORT_ERROR.search(run.output)
    if found is not None and "'pytest'" not in found.group(2):
        return found.group(2).strip()
    if "'pytest'" in run.output:
        return None  # no pytest there: verify.py says so in one line, for every front end
    # pytest stopped before the probe ran (a plugin, the configuration, a conftest.py):
    # every candidate would fail the same way, so that is the cause, said once (issue 21).
    return f"pytest stops before running any test here: {_first_line(run.output)}"


def _first_line(output: str) -> str:
    """The line of a failed pytest start that says most: the first `E ...` line, else the
    last line naming an exception or error, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("E "):
            return line[2:].strip()[:300]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Warning)\b|^ERROR", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"
