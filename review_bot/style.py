"""The project's own lint and formatting, applied to generated tests (issue 21).

A test that passes but fails the project's `ruff check` (a required `from __future__
import annotations`, flake8-pytest-style's tuple of parametrize names) breaks the user's
next lint run, so a kept test must obey the project's configuration as its hand-written
tests do. Where the project configures them:

- ruff (`[tool.ruff]` in pyproject.toml, `ruff.toml`, `.ruff.toml`): review-bot's own ruff
  fixes (`check --fix`) and formats (`format`, unless black formats the project) the text
  with the project's configuration, read through `--stdin-filename` at the path the test
  will have; ruff only parses, so this runs outside the sandbox, and its cache is off;
- isort and black (`[tool.isort]`, `.isort.cfg`, an `[isort]` section; `[tool.black]`):
  run by the project's interpreter, inside the sandbox, when that interpreter has them.

What still fails after the fixes is a rejection (`style`) that names the first rule.
A configuration that review-bot's ruff cannot read (a newer ruff's option) is said once in
the report's attempts and skipped: the test is not rejected for it.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from review_bot.sandbox import Sandbox
from review_bot.screen import unsafe_construct

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Style", "conform", "finish", "project_style", "ruff_conform"]

RUFF_TIMEOUT_S = 30.0
_RUFF_FILES = ("ruff.toml", ".ruff.toml")
_ISORT_FILES = (".isort.cfg",)
_INI_FILES = ("setup.cfg", "tox.ini")


class Style(NamedTuple):
    """Which of the tools the project configures."""

    ruff: bool = False
    black: bool = False
    isort: bool = False

    @property
    def any(self) -> bool:
        return self.ruff or self.black or self.isort


def project_style(root: Path) -> Style:
    """The lint and format tools `root` configures (read, never run)."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    tool = data.get("tool", {})
    tool = tool if isinstance(tool, dict) else {}
    ruff = "ruff" in tool or any((root / name).is_file() for name in _RUFF_FILES)
    isort = "isort" in tool or any((root / name).is_file() for name in _ISORT_FILES)
    for name in _INI_FILES:
        path = root / name
        if isort or not path.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        isort = parser.has_section("isort") or parser.has_section("tool:isort")
    return Style(ruff=ruff, black="black" in tool, isort=isort)


def _ruff(root: Path, args: list[str], relpath: str, text: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ruff", *args, "--no-cache", "--force-exclude"]
    # `--` before the file argument: a test file name never reads as an option.
    command += ["--stdin-filename", relpath, "--", "-"]
    return subprocess.run(
        command,
        cwd=root,
        input=text,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=RUFF_TIMEOUT_S,
        check=False,
    )


def ruff_conform(
    root: Path, relpath: str, text: str, *, format_code: bool
) -> tuple[str, str | None]:
    """`text` fixed (and formatted) by ruff with the project's configuration, and the
    first violation that remains (None when clean). Raises OSError or TimeoutExpired
    when ruff cannot run; returns the text unchanged with a note when it cannot read the
    configuration."""
    fixed = _ruff(
        root, ["check", "--fix", "--unsafe-fixes", "--exit-zero", "--quiet"], relpath, text
    )
    if fixed.returncode != 0:
        return text, f"note: ruff cannot apply the project's configuration: {_first(fixed.stderr)}"
    text = fixed.stdout or text
    if format_code:
        formatted = _ruff(root, ["format", "--quiet"], relpath, text)
        if formatted.returncode == 0 and formatted.stdout:
            text = formatted.stdout
    # --no-fix: a project's `fix = true` would print the fixed code instead of the report.
    report = ["check", "--no-fix", "--output-format", "json", "--exit-zero"]
    checked = _ruff(root, report, relpath, text)
    try:
        found = json.loads(checked.stdout) if checked.stdout.strip() else []
    except json.JSONDecodeError:
        return text, f"note: ruff's report could not be read: {_first(checked.stderr)}"
    if not isinstance(found, list) or not found:
        return text, None
    first = found[0] if isinstance(found[0], dict) else {}
    line = (first.get("location") or {}).get("row", "?")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return text, f"ruff {first.get('code')}: {first.get('message')} (line {line}){more}"


def _first(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "no output"


def conform(
    root: Path, relpath: str, text: str, style: Style, sandbox: Sandbox | None = None
) -> tuple[str, str | None]:
    """The test module `text`, to be written at `relpath`, in the project's style, and
    why it still is not (None: it is, or the project configures no tool). A problem that
    starts with "note:" is about review-bot's tools, not the test: it is not a rejection.

    isort, then black (in the sandbox), then ruff's fixes, format (when black does not
    format the project) and check: the project's ruff has the last word.
    """
    if (style.isort or style.black) and sandbox is not None:
        text, problem = _python_tools(sandbox, relpath, text, style)
        if problem is not None:
            return text, problem
    if style.ruff:
        return ruff_conform(root, relpath, text, format_code=not style.black)
    return text, None


def finish(root: Path, relpath: str, text: str) -> tuple[str, str | None]:
    """The whole generated file, as merged, screened once more (screen.py) and through the
    project's ruff (its fixes, its format unless black formats the project, its check):
    each kept test obeyed both alone, and merging them must not undo that. Returns the
    text and the problem that remains (None when clean or ruff is not configured)."""
    unsafe = unsafe_construct(text)
    if unsafe is not None:
        # The last guard before a file is written, staged or posted (issue 22).
        return text, f"unsafe: {unsafe}"
    style = project_style(root)
    if not style.ruff:
        return text, None
    try:
        text, problem = ruff_conform(root, relpath, text, format_code=not style.black)
    except (OSError, subprocess.TimeoutExpired):
        return text, None
    if problem is None or problem.startswith("note:"):
        return text, None
    return text, f"fails the project's lint ({problem})"


def _python_tools(
    sandbox: Sandbox, relpath: str, text: str, style: Style
) -> tuple[str, str | None]:
    """isort, then black, by the project's interpreter in the sandbox; each only when that
    interpreter has it (a project that configures black without installing it has no
    black to obey)."""
    tools = [name for name, wanted in (("isort", style.isort), ("black", style.black)) if wanted]
    with sandbox.workspace({relpath: text}) as ws:
        for tool in tools:
            args = ["-q", relpath] if tool == "black" else ["-q", "--", relpath]
            run = ws.run(["python", "-m", tool, *args])
            if run.returncode != 0 and f"No module named {tool}" in run.output:
                continue
            if run.returncode != 0:
                return text, f"{tool} failed: {_first(run.output)}"
        fixed = ws.read(relpath)
    return (fixed if fixed is not None else text), None
