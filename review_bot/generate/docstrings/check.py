"""Checking a rendered docstring before anything is kept: the module's code unchanged by the
insertion (AST compared), the prose (quality.py), agreement with the code
(truth.py: pydoclint and names), and pydocstyle (ruff) for the convention."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from typing import Any

import libcst

from review_bot.config import CONVENTIONS
from review_bot.errors import FatalError
from review_bot.generate.docstrings.documents import documented_params
from review_bot.generate.docstrings.quality import quality_problem
from review_bot.generate.docstrings.render import RUFF_TIMEOUT_S, SUMMARY_COLUMNS
from review_bot.generate.docstrings.truth import mismatch_problem
from review_bot.records import DocReason, DocVerdict, Target
from review_bot.sandbox.screen import unsafe_construct
from review_bot.source import FunctionNode, functions_named, locate
from review_bot.write.docstrings import insert_docstring

# Part of the docstring cache key: a verdict cached under older checks is not reused.
CHECKS_VERSION = (
    "8: quality, pydoclint, names, raise guards, doctest lines, recorded calls, bounds, values"
)


# Lines a docstring tool executes or interprets: doctest's prompts, reST directives.
_INTERPRETED = re.compile(r"^\s*(?:>>>|\.\.\.(?:\s|$)|\.\. [\w:-]+::)")


def interpreted_line(text: str) -> str | None:
    r"""The first line of a docstring body that doctest would run or Sphinx interpret
    (`>>> ...`, a `...` continuation, a `.. directive::`), or None.

    >>> interpreted_line("Add.\n\nIt wraps.\n>>> __import__('os').system('x')")
    ">>> __import__('os').system('x')"
    >>> interpreted_line("Wait... then add.") is None
    True
    """
    for line in text.splitlines():
        if _INTERPRETED.match(line):
            return line.strip()
    return None


def check_docstring(
    target: Target, text: str, convention: str, *, quality: bool = True, examples: bool = False
) -> DocVerdict:
    """Decide whether `text` (a body from render_docstring) may become `target`'s docstring.

    Checks, cheapest first: not empty; inserting it changes nothing but the docstring ("ast");
    the prose says something ("placeholder", "truncated", "restates-name", "filler"); it
    agrees with the code: parameters, Returns, Yields, Raises (pydoclint) and the names it
    mentions ("mismatch"); the summary line fits and ruff's pydocstyle rules for the
    convention report nothing on the function's header and docstring ("lint").

    `examples=True`: the text holds a verified Examples section, whose doctest lines are
    screened (sandbox/screen.py) instead of refused.

    `quality=False` makes only the checks review-bot made before issue 11 (the parameters,
    no prose, no Returns/Yields/Raises, no names, no summary width): bench/docstrings.py
    compares the two.
    """

    def verdict(reason: DocReason | None, detail: str = "") -> DocVerdict:
        return DocVerdict(target, text, reason is None, reason, detail)

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown docstring convention: {convention!r}")
    if not text.strip():
        return verdict("empty", "the docstring is empty")
    code_line = interpreted_line(text)
    if code_line is not None and examples:
        # Verified examples (examples.py) are calls review-bot wrote from
        # recorded values and ran; they are screened like a test's text.
        code = "\n".join(
            line.strip()[4:] for line in text.splitlines() if line.strip().startswith(">>>")
        )
        unsafe = unsafe_construct(code)
        if unsafe is not None:
            return verdict("ast", f"an example {unsafe}")
    elif code_line is not None:
        # pytest --doctest-modules would run it, Sphinx interpret it (issue 22): only
        # verified examples, added after these checks, may hold such lines.
        return verdict("ast", f"a line reads as code to doctest or Sphinx: {code_line[:80]}")
    try:
        new_source = insert_docstring(
            target.module_source, target.qualname, text, lineno=target.def_lineno
        )
    except KeyError:
        return verdict("ast", f"{target.qualname} not found in {target.relpath}")
    except libcst.ParserSyntaxError as exc:
        return verdict("ast", f"{target.relpath} does not parse: {exc.message}")
    module, node, problem = _compare_ast(target, new_source)
    if module is None or node is None:
        return verdict("ast", problem)
    docstring = ast.get_docstring(node, clean=True) or ""
    found = quality_problem(target.name, documented_params(target), docstring) if quality else None
    if found is not None:
        return verdict(*found)
    problem = mismatch_problem(target, module, node, docstring, convention, params_only=not quality)
    if problem:
        return verdict("mismatch", problem)
    problem = summary_width_problem(new_source, node) if quality else ""
    if not problem:
        problem = _lint_problem(target, new_source, node, convention)
    if problem:
        return verdict("lint", problem)
    return verdict(None)


def summary_width_problem(source: str, node: FunctionNode) -> str:
    """The docstring's first line, as it stands in the file, must fit SUMMARY_COLUMNS."""
    first = node.body[0]
    line = source.splitlines()[first.lineno - 1]
    if len(line) > SUMMARY_COLUMNS:
        return f"the summary line is {len(line)} columns, over {SUMMARY_COLUMNS}"
    return ""


def _compare_ast(
    target: Target, new_source: str
) -> tuple[ast.Module | None, FunctionNode | None, str]:
    """The new module and the function node in it, or None and why the insertion is not
    safe."""
    try:
        new_tree = ast.parse(new_source)
    except SyntaxError as exc:
        return None, None, f"the module does not compile with it: {exc.msg} (line {exc.lineno})"
    old_tree = ast.parse(target.module_source)
    old_node, index = locate(old_tree, target.qualname, target.def_lineno)
    matches = list(functions_named(new_tree, target.qualname))
    if old_node is None or index >= len(matches):
        return None, None, f"{target.qualname} not found after the insertion"
    new_node = matches[index]
    if ast.get_docstring(new_node, clean=False) is None:
        return None, None, "the text did not become the function's docstring"
    _drop_docstring(old_node)
    _drop_docstring(new_node)
    if ast.dump(old_tree) != ast.dump(new_tree):
        return None, None, "the text changes the code, not only the docstring"
    # _drop_docstring changed the tree in place: give the caller a node that still has it.
    fresh_tree = ast.parse(new_source)
    return fresh_tree, list(functions_named(fresh_tree, target.qualname))[index], ""


def _lint_problem(target: Target, source: str, node: FunctionNode, convention: str) -> str:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    last = node.body[0].end_lineno or node.body[0].lineno
    problems = []
    for diagnostic in run_ruff_pydocstyle(source, _stdin_name(target), convention):
        code = diagnostic.get("code") or "syntax"
        row = diagnostic.get("location", {}).get("row", 0)
        # D1xx are "missing docstring": for this function it is now present, and other
        # functions' missing docstrings are not this docstring's fault.
        if code.startswith("D1") or not first <= row <= last:
            continue
        problems.append(f"{code} {diagnostic.get('message', '')}".strip())
    return "; ".join(problems)


def _stdin_name(target: Target) -> str:
    # Only the base name: a directory such as build/ or .venv/ would be excluded by ruff.
    return target.path.name if target.path.suffix in (".py", ".pyi") else "module.py"


def ruff_command(filename: str, convention: str) -> list[str]:
    """The ruff invocation that lints a module read from stdin with pydocstyle rules."""
    return [
        sys.executable,
        "-m",
        "ruff",
        "check",
        # Isolated: the user's own ruff configuration could exclude the file or deselect
        # rules, and the verdict must not depend on it.
        "--isolated",
        "--no-cache",
        "--select",
        "D",
        "--config",
        f"lint.pydocstyle.convention = '{convention}'",
        "--output-format",
        "json",
        "--exit-zero",
        # `=`: a file named `-rf.py` is a value, not options (issue 22).
        f"--stdin-filename={filename}",
        "-",
    ]


def run_ruff_pydocstyle(source: str, filename: str, convention: str) -> list[dict[str, Any]]:
    """ruff's pydocstyle diagnostics for `source`, as ruff's JSON records."""
    cmd = ruff_command(filename, convention)
    try:
        proc = subprocess.run(
            cmd,
            input=source,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=RUFF_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FatalError(f"cannot run ruff ({' '.join(cmd)}): {exc}") from None
    try:
        records = json.loads(proc.stdout) if proc.returncode == 0 else None
    except json.JSONDecodeError:
        records = None
    if not isinstance(records, list):
        raise FatalError(
            f"ruff failed: {' '.join(cmd)}\nreturn code: {proc.returncode}\n"
            f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}"
        )
    return [r for r in records if isinstance(r, dict)]


def _drop_docstring(node: FunctionNode) -> None:
    if ast.get_docstring(node, clean=False) is not None:
        node.body = node.body[1:]
