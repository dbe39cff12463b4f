"""Does a docstring agree with the code? The `mismatch` reason.

Structure comes from pydoclint (a maintained checker, run in process on the candidate
module: it reads our own text with `ast`, it executes nothing): the Args/Parameters section
names the signature's parameters in order, with `*args`/`**kwargs` starred, and no others;
Returns only when the function returns a value; Yields for generators; Raises lists exactly
the exceptions the body raises itself. pydoclint has no pep257 style, so for pep257 the same
rules are checked here on the sections review-bot renders. Last, names: a backticked or
identifier-looking name in the prose must be a parameter, the function, a name the
function's signature or body uses, a name the module defines or imports, or a builtin.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable

from pydoclint.visitor import Visitor

from review_bot.generate.docstrings.documents import (
    documented_params,
    documents_return,
    is_generator,
    raised_exceptions,
)
from review_bot.generate.docstrings.quality import prose_of
from review_bot.records import Target
from review_bot.source import FunctionNode

# pydoclint's codes that say the docstring and the code disagree. Its type-hint codes are
# left out (review-bot's google rendering has no types, numpy's writes "str, optional"),
# as are the class-attribute ones (a function's docstring is checked, not a class's).
STRUCTURE_CODES = frozenset(
    {
        "DOC101",  # fewer arguments than the signature
        "DOC102",  # more arguments than the signature
        "DOC103",  # different arguments
        "DOC104",  # same arguments, other order
        "DOC201",  # returns a value, no Returns section
        "DOC202",  # a Returns section, no value returned
        "DOC402",  # yields, no Yields section
        "DOC403",  # a Yields section, no yield
        "DOC501",  # raises, no Raises section
        "DOC502",  # a Raises section, nothing raised
        "DOC503",  # Raises lists other exceptions than the body raises
    }
)
PARAM_CODES = frozenset({"DOC101", "DOC102", "DOC103"})
PYDOCLINT_STYLES = {"google": "google", "numpy": "numpy"}


def mismatch_problem(
    target: Target,
    module: ast.Module,
    node: FunctionNode,
    docstring: str,
    convention: str,
    *,
    params_only: bool = False,
) -> str:
    """Why `docstring` (the function's, cleaned) disagrees with the code, or "".

    `params_only`: the parameters alone, review-bot's check before pydoclint (the bench's
    "before").
    """
    codes = PARAM_CODES if params_only else STRUCTURE_CODES
    if convention in PYDOCLINT_STYLES:
        problem = _pydoclint_problem(module, node, PYDOCLINT_STYLES[convention], codes)
        if not problem and not params_only and not documents_return(target):
            # pydoclint accepts a Returns section of a function annotated `-> None`.
            if any(where == "Returns" for where, _ in prose_of(docstring)):
                problem = "a Returns section, but the function returns no value"
    else:
        problem = _pep257_problem(target, docstring, params_only)
    if problem or params_only:
        return problem
    return unknown_names_problem(target, node, docstring)


def pydoclint_violations(module: ast.Module, style: str) -> list[tuple[int, str, str]]:
    """pydoclint's (line, code, message) for every function in `module`, in `style`."""
    visitor = Visitor(
        style=style,
        argTypeHintsInSignature=False,
        argTypeHintsInDocstring=False,
        # A summary-only docstring of a function with parameters is not complete.
        skipCheckingShortDocstrings=False,
        allowInitDocstring=True,
        checkReturnTypes=False,
        checkYieldTypes=False,
        checkClassAttributes=False,
        shouldDocumentStarArguments=True,
    )
    visitor.visit(module)
    return [(v.line, v.fullErrorCode, v.msg) for v in visitor.violations]


def _pydoclint_problem(
    module: ast.Module, node: FunctionNode, style: str, codes: frozenset[str]
) -> str:
    lines = {node.lineno, *(d.lineno for d in node.decorator_list)}
    problems: list[str] = []
    for line, code, message in pydoclint_violations(module, style):
        if line not in lines or code not in codes:
            continue
        # pydoclint cannot see a Yields section of a generator without a return annotation
        # as right (it asks for an Iterator annotation); the body's own `yield` decides.
        if code == "DOC403" and is_generator(node):
            continue
        message = re.sub(r" \(Or could be other formatting issues: [^)]*\)\.?", "", message)
        problems.append(f"{code} {message.split(': ', 1)[-1] if ': ' in message else message}")
    return "; ".join(problems)


_SECTION = re.compile(r"^(Arguments|Args|Returns|Yields|Raises|Examples):\s*$")


def _pep257_sections(docstring: str) -> dict[str, list[str]]:
    """Section name -> the entry lines of review-bot's pep257 rendering."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in docstring.splitlines():
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        elif current is not None and line.startswith("    ") and not line.startswith("     "):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return sections


def _pep257_problem(target: Target, docstring: str, params_only: bool) -> str:
    # PEP 257 has no section grammar: every parameter only has to be mentioned; Returns,
    # Yields and Raises, when present, follow review-bot's rendering.
    problems: list[str] = []
    missing = [
        name
        for name in documented_params(target)
        if not re.search(rf"(?<!\w){re.escape(name.lstrip('*'))}(?!\w)", docstring)
    ]
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if params_only:
        return "; ".join(problems)
    sections = _pep257_sections(docstring)
    node_returns = documents_return(target)
    if "Returns" in sections and not node_returns:
        problems.append("a Returns section, but the function returns no value")
    if node_returns and "Returns" not in sections and "Yields" not in sections:
        problems.append("the function returns a value, but there is no Returns section")
    raised = raised_exceptions(target)
    documented = [entry.split(" -- ", 1)[0] for entry in sections.get("Raises", [])]
    if sorted(documented) != sorted(raised):
        problems.append(
            f"Raises lists [{', '.join(documented)}], the body raises [{', '.join(raised)}]"
        )
    return "; ".join(problems)


# -- names ----------------------------------------------------------------------------------

_BACKTICKED = re.compile(r"`+([A-Za-z_][\w.]*)(?:\(\))?`+")
# snake_case with an underscore, camelCase, or a call: `name()`.
_IDENTIFIER = re.compile(
    r"(?<![\w.`])([A-Za-z_]\w*_\w+|[a-z]+[A-Z]\w*|[A-Za-z_]\w*(?=\(\)))(?![\w`])"
)


def code_names(target: Target, node: FunctionNode) -> set[str]:
    """Names a docstring may mention: parameters, the function, what its code uses."""
    names = {target.name, *target.qualname.split("."), "self", "cls"}
    names |= {p.name for p in target.params}
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.Attribute):
            names.add(child.attr)
        elif isinstance(child, ast.keyword) and child.arg:
            names.add(child.arg)
        elif isinstance(child, ast.alias):
            names.add((child.asname or child.name).split(".")[0])
            names.add(child.name.rsplit(".", 1)[-1])
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(child.name)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
    return names | set(dir(builtins))


def mentioned_names(prose: Iterable[str]) -> list[str]:
    """Backticked and identifier-looking names in prose, in order, without repeats."""
    found: list[str] = []
    for text in prose:
        for match in (*_BACKTICKED.finditer(text), *_IDENTIFIER.finditer(text)):
            name = match.group(1)
            if name not in found:
                found.append(name)
    return found


def module_names(source: str) -> set[str]:
    """What the module defines or imports at its top level."""
    names: set[str] = set()
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in statement.names}
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


# Names of ways to write identifiers: prose about a case conversion, not names of the code
# (the docstrings of camelize, under2camel and camel2under were rejected for them, issue 25).
CASE_STYLES = frozenset(
    {
        "camelCase",
        "CamelCase",
        "lowerCamelCase",
        "UpperCamelCase",
        "PascalCase",
        "snake_case",
        "SCREAMING_SNAKE_CASE",
        "kebab_case",
        "camel_case",
    }
)


def unknown_names_problem(target: Target, node: FunctionNode, docstring: str) -> str:
    # The module's own top-level names count as the code's too: a docstring may point the
    # reader at the class or constant it works with.
    known = code_names(target, node) | module_names(target.module_source) | CASE_STYLES
    unknown = []
    for name in mentioned_names(text for _, text in prose_of(docstring)):
        parts = name.split(".")
        if parts[0] in known or parts[-1] in known:
            continue
        unknown.append(name)
    return f"names not in the code: {', '.join(unknown)}" if unknown else ""
