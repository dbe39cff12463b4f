"""Reading code with `ast` only, never running it: shared by extraction and repairs."""

from __future__ import annotations

import ast
import warnings
from typing import Any

_TYPE_PARAM_NODES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple"})  # ast nodes of 3.12+


def parse(code: str) -> ast.Module | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            return None


def literal(source: str | None) -> tuple[bool, Any]:
    """(True, value) for the source of a Python literal (`'-'`, `[1, 2]`, `None`), else
    (False, None): a call, a name, or text that does not parse."""
    if source is None:
        return False, None
    try:
        return True, ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def first_line(node: ast.stmt) -> int:
    """The statement's first line, decorators included."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def end_line(node: ast.stmt) -> int:
    return node.end_lineno if node.end_lineno is not None else node.lineno


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere, in any scope.

    Deliberately scope-blind: a name bound anywhere is never imported. That can miss a fix
    (a local in one function, used unbound in another) but never shadows the code's own name.
    """
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif type(node).__name__ in _TYPE_PARAM_NODES:
            name = getattr(node, "name", None)
            if isinstance(name, str):
                bound.add(name)
    return bound


def loaded_names(tree: ast.AST) -> set[str]:
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def star_imports(tree: ast.AST) -> set[str]:
    return {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
    }
