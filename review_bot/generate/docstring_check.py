"""Checking a rendered docstring before anything is kept: pydocstyle (ruff) for the
convention, parameters against the signature, and the module's code unchanged by the
insertion (AST compared)."""

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
from review_bot.generate.docstrings import RUFF_TIMEOUT_S, documented_params
from review_bot.records import DocReason, DocVerdict, Target
from review_bot.source import FunctionNode, functions_named, locate
from review_bot.write.docstrings import insert_docstring


def check_docstring(target: Target, text: str, convention: str) -> DocVerdict:
    """Decide whether `text` (a body from render_docstring) may become `target`'s docstring.

    Checks, cheapest first: not empty; inserting it changes nothing but the docstring ("ast");
    it names every parameter and no others ("params"); ruff's pydocstyle rules for the
    convention report nothing on the function's header and docstring ("lint").
    """

    def verdict(reason: DocReason | None, detail: str = "") -> DocVerdict:
        return DocVerdict(target, text, reason is None, reason, detail)

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown docstring convention: {convention!r}")
    if not text.strip():
        return verdict("empty", "the docstring is empty")
    try:
        new_source = insert_docstring(
            target.module_source, target.qualname, text, lineno=target.def_lineno
        )
    except KeyError:
        return verdict("ast", f"{target.qualname} not found in {target.relpath}")
    except libcst.ParserSyntaxError as exc:
        return verdict("ast", f"{target.relpath} does not parse: {exc.message}")
    node, problem = _compare_ast(target, new_source)
    if node is None:
        return verdict("ast", problem)
    docstring = ast.get_docstring(node, clean=True) or ""
    problem = _params_problem(target, docstring, convention)
    if problem:
        return verdict("params", problem)
    problem = _lint_problem(target, new_source, node, convention)
    if problem:
        return verdict("lint", problem)
    return verdict(None)


def _compare_ast(target: Target, new_source: str) -> tuple[FunctionNode | None, str]:
    """The function node in the new module, or None and why the insertion is not safe."""
    try:
        new_tree = ast.parse(new_source)
    except SyntaxError as exc:
        return None, f"the module does not compile with it: {exc.msg} (line {exc.lineno})"
    old_tree = ast.parse(target.module_source)
    old_node, index = locate(old_tree, target.qualname, target.def_lineno)
    matches = list(functions_named(new_tree, target.qualname))
    if old_node is None or index >= len(matches):
        return None, f"{target.qualname} not found after the insertion"
    new_node = matches[index]
    if ast.get_docstring(new_node, clean=False) is None:
        return None, "the text did not become the function's docstring"
    _drop_docstring(old_node)
    _drop_docstring(new_node)
    if ast.dump(old_tree) != ast.dump(new_tree):
        return None, "the text changes the code, not only the docstring"
    # _drop_docstring changed the tree in place: give the caller a node that still has it.
    fresh = list(functions_named(ast.parse(new_source), target.qualname))[index]
    return fresh, ""


def _params_problem(target: Target, docstring: str, convention: str) -> str:
    expected = documented_params(target)
    if convention == "pep257":
        # PEP 257 has no section grammar: every parameter only has to be mentioned.
        missing = [
            name
            for name in expected
            if not re.search(rf"(?<!\w){re.escape(name.lstrip('*'))}(?!\w)", docstring)
        ]
        return f"missing: {', '.join(missing)}" if missing else ""
    documented = (
        _google_param_names(docstring) if convention == "google" else _numpy_param_names(docstring)
    )
    # "*args" and "args" are both accepted spellings, as in ruff's D417.
    bare_expected = {name.lstrip("*") for name in expected}
    bare_documented = {name.lstrip("*") for name in documented}
    missing = [name for name in expected if name.lstrip("*") not in bare_documented]
    extra = [name for name in documented if name.lstrip("*") not in bare_expected]
    problems = []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if extra:
        problems.append(f"unknown: {', '.join(extra)}")
    return "; ".join(problems)


_GOOGLE_PARAM_SECTIONS = ("args", "arguments", "parameters", "params")
_NAME = r"\*{0,2}[A-Za-z_]\w*"


def _google_param_names(docstring: str) -> list[str]:
    names: list[str] = []
    lines = docstring.splitlines()
    for i, line in enumerate(lines):
        if line.strip().rstrip(":").lower() not in _GOOGLE_PARAM_SECTIONS:
            continue
        if not line.strip().endswith(":"):
            continue
        header_indent = _indent(line)
        section: list[str] = []
        for body_line in lines[i + 1 :]:
            if body_line.strip() and _indent(body_line) <= header_indent:
                break
            section.append(body_line)
        entry_indent = min((_indent(s) for s in section if s.strip()), default=0)
        for entry in section:
            if entry.strip() and _indent(entry) == entry_indent:
                match = re.match(rf"\s*({_NAME})\s*(?:\([^)]*\))?\s*:", entry)
                names.append(match.group(1) if match else entry.strip())
    return names


def _numpy_param_names(docstring: str) -> list[str]:
    names: list[str] = []
    lines = docstring.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() != "Parameters" or not re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]):
            continue
        header_indent = _indent(line)
        body = lines[i + 2 :]
        for j, entry in enumerate(body):
            if not entry.strip() or _indent(entry) != header_indent:
                continue
            if j + 1 < len(body) and re.fullmatch(r"\s*-{3,}\s*", body[j + 1]):
                break  # the next section's header
            head = entry.split(":", 1)[0]
            names += [part.strip() for part in head.split(",") if part.strip()]
    return names


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


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
        "--stdin-filename",
        filename,
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
