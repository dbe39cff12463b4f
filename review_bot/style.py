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

import ast
import configparser
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import libcst as cst

from review_bot.generate.mechanical import dotted
from review_bot.records import Target
from review_bot.sandbox import Sandbox
from review_bot.sandbox.screen import unsafe_construct
from review_bot.source import function_node

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Style",
    "add_raises_match",
    "conform",
    "finish",
    "project_style",
    "raise_messages",
    "ruff_conform",
]

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
    # `=`: a file name that starts with `-` is a value, never options (issue 22).
    command += [f"--stdin-filename={relpath}", "-"]
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


def raise_messages(target: Target) -> dict[str, str]:
    r"""Exception class name -> the message (or its literal start) of the one `raise` of
    it in the function, where that message is a literal: `raise ValueError("...")`, a
    `msg = "..."` raised (flake8-errmsg's style), an f-string's literal start.

    >>> from review_bot.targets import targets_in_source
    >>> code = "def f(x):\n    if x:\n        msg = 'no x'\n        raise ValueError(msg)\n"
    >>> [t] = targets_in_source(Path("."), Path("m.py"), code, ast.parse(code))
    >>> raise_messages(t)
    {'ValueError': 'no x'}
    """
    node = function_node(target)
    if node is None:
        return {}
    literals: dict[str, set[str]] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
            name, value = sub.targets[0], _literal(sub.value)
            if isinstance(name, ast.Name) and value:
                literals.setdefault(name.id, set()).add(value)
    found: dict[str, set[str]] = {}
    for sub in ast.walk(node):
        if not (isinstance(sub, ast.Raise) and isinstance(sub.exc, ast.Call) and sub.exc.args):
            continue
        func = sub.exc.func
        kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        arg = sub.exc.args[0]
        message = _literal(arg)
        if not message and isinstance(arg, ast.Name) and len(literals.get(arg.id, ())) == 1:
            [message] = literals[arg.id]
        found.setdefault(kind, set()).add(message)
    return {kind: next(iter(m)) for kind, m in found.items() if len(m) == 1 and all(m)}


def _literal(node: ast.expr) -> str:
    """A string literal's text, or an f-string's literal start (at least 3 characters)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        start = ""
        for part in node.values:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                break
            start += part.value
        return start if len(start) >= 3 else ""
    return ""


def add_raises_match(code: str, messages: Mapping[str, str]) -> str:
    """`pytest.raises(E)` without `match` gets `match=` the message the function raises E
    with (`messages`, from raise_messages), escaped: what flake8-pytest-style's PT011
    asks of a broad exception, and the run that follows verifies it."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return code

    class AddMatch(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
            if dotted(updated.func) not in ("pytest.raises", "raises") or not updated.args:
                return updated
            if any(a.keyword is not None and a.keyword.value == "match" for a in updated.args):
                return updated
            kind = dotted(updated.args[0].value).rsplit(".", 1)[-1]
            if kind not in messages or len(updated.args) > 1:
                return updated
            pattern = cst.SimpleString(pattern_literal(messages[kind]))
            first = updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            tight = cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""),
            )
            match = cst.Arg(keyword=cst.Name("match"), value=pattern, equal=tight)
            return updated.with_changes(args=[first, match])

    return module.visit(AddMatch()).code


_PRAGMA = re.compile(r"(?i)(?:noqa|type:|pragma|fmt:|pylint:|isort:|mypy:|pyright:|ruff:)")


def wrap_long_comments(code: str, limit: int) -> str:
    """The comments on lines longer than `limit` (pycodestyle's E501) wrapped at it, on
    lines of their own: a model's "# Test case 6: ..." line, and a trailing comment (oracle
    repair's "# recorded: ...") that goes above its statement. Comments only: the code is
    left as it is (a long string stays too long).

    >>> print(wrap_long_comments("x = 1  # the one value the model expected here\\n", 24))
    # the one value the
    # model expected here
    x = 1
    <BLANKLINE>
    """
    import io
    import textwrap
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return code
    lines = code.splitlines(keepends=True)
    edits: dict[int, tuple[str, list[str]]] = {}  # row -> (what stays, comment lines above)
    for token in tokens:
        row = token.start[0]
        if token.type != tokenize.COMMENT or row in edits:
            continue
        line = lines[row - 1]
        if len(line.rstrip("\r\n")) <= limit:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        body = token.string.lstrip("#").strip()
        width = limit - len(indent) - 2
        if not body or width < 20 or _PRAGMA.match(body):
            continue  # a pragma (noqa, type: ignore) applies to its own line only
        wrapped = textwrap.wrap(body, width, break_long_words=False, break_on_hyphens=False)
        above = [f"{indent}# {piece}\n" for piece in wrapped]
        rest = line[: token.start[1]].rstrip()
        edits[row] = (rest + "\n" if rest.strip() else "", above)
    if not edits:
        return code
    out: list[str] = []
    for row, line in enumerate(lines, start=1):
        if row in edits:
            rest, above = edits[row]
            out += [*above, rest]
        else:
            out.append(line)
    return "".join(out)


def pattern_literal(message: str) -> str:
    r"""A string literal of a regular expression that finds `message` (pytest's `match`
    searches): its special characters escaped, a raw string where that reads better.

    >>> print(pattern_literal("whole must not be zero"))
    "whole must not be zero"
    >>> print(pattern_literal("a.b (c) "))
    r"a\.b \(c\)"
    """
    return regex_literal(escaped(message.strip()))


def escaped(text: str) -> str:
    """`text` with the characters a regular expression treats as special escaped (fewer
    than `re.escape`, which escapes spaces and punctuation a reader then has to skip)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def regex_literal(pattern: str) -> str:
    """A string literal of `pattern`: raw where it holds a backslash and can be raw."""
    if "\\" in pattern and '"' not in pattern and not pattern.endswith("\\"):
        return f'r"{pattern}"'
    return json.dumps(pattern)


def ruff_conform(
    root: Path,
    relpath: str,
    text: str,
    *,
    format_code: bool,
    messages: Mapping[str, str] | None = None,
) -> tuple[str, str | None]:
    """`text` fixed (and formatted) by ruff with the project's configuration, and the
    first violation that remains (None when clean). Raises OSError or TimeoutExpired
    when ruff cannot run; returns the text unchanged with a note when it cannot read the
    configuration."""
    given = text
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
    codes = {r.get("code") for r in found if isinstance(r, dict)}
    if messages and "PT011" in codes:
        matched = add_raises_match(text, messages)
        if matched != text:
            return ruff_conform(root, relpath, matched, format_code=format_code)
    limits = [
        re.search(r"> (\d+)\)", str(r.get("message", "")))
        for r in found
        if isinstance(r, dict) and r.get("code") == "E501"
    ]
    if limits and limits[0] is not None:
        # Wrapped in the text as given: ruff's format would split a statement around a
        # trailing comment it cannot fit.
        wrapped = wrap_long_comments(given, int(limits[0].group(1)))
        if wrapped != given:
            return ruff_conform(root, relpath, wrapped, format_code=format_code, messages=messages)
    first = found[0] if isinstance(found[0], dict) else {}
    line = (first.get("location") or {}).get("row", "?")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return text, f"ruff {first.get('code')}: {first.get('message')} (line {line}){more}"


def _first(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "no output"


def conform(
    root: Path,
    relpath: str,
    text: str,
    style: Style,
    sandbox: Sandbox | None = None,
    messages: Mapping[str, str] | None = None,
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
        try:
            return ruff_conform(root, relpath, text, format_code=not style.black, messages=messages)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return text, f"note: cannot run ruff on the generated tests: {exc}"
    return text, None


def finish(
    root: Path, relpath: str, text: str, sandbox: Callable[[], Sandbox] | None = None
) -> tuple[str, str | None]:
    """The whole generated file, as merged, screened once more (sandbox/screen.py) and in the
    project's style: isort and black by the project's interpreter in a sandbox that
    `sandbox` makes (when they are configured and it is given), then ruff (its fixes, its
    format unless black formats the project, its check). Each kept test obeyed them alone;
    merging them must not undo that (the corpus: isort wanted a blank line between the
    merged `import pytest` and the project's import). Returns the text and the problem
    that remains (None when clean or no tool is configured)."""
    unsafe = unsafe_construct(text)
    if unsafe is not None:
        # The last guard before a file is written, staged or posted (issue 22).
        return text, f"unsafe: {unsafe}"
    style = project_style(root)
    if (style.isort or style.black) and sandbox is not None:
        with sandbox() as box:
            text, problem = _python_tools(box, relpath, text, style)
        if problem is not None:
            return text, f"fails the project's formatting ({problem})"
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
