"""What a docstring of a function must document, read from its code: the parameters, whether
it returns or yields, the exceptions it raises by name, and the guard clauses that say when
(a Raises condition written from the code, not by the model).

The schema the model fills (render.py) asks for exactly these; the checks (check.py) hold a
docstring to them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from review_bot.records import Target
from review_bot.source import FunctionNode, decorator_names, function_node


def documented_params(target: Target) -> list[str]:
    """The parameter names a docstring must describe, in signature order.

    The first parameter of a method (self, cls, whatever it is called) is left out unless the
    method is a staticmethod, which is what ruff's D417 does too.
    """
    params = list(target.params)
    if target.is_method and params and params[0].kind in ("positional_only", "positional"):
        node = function_node(target)
        if node is None or not _is_staticmethod(node):
            params = params[1:]
    names: list[str] = []
    for param in params:
        if param.kind == "vararg":
            names.append(f"*{param.name}")
        elif param.kind == "varkw":
            names.append(f"**{param.name}")
        else:
            names.append(param.name)
    return names


def documents_return(target: Target) -> bool:
    """Whether the docstring should describe a return value.

    Not for __init__, functions annotated `-> None`, or functions without a `return <value>`.
    """
    if target.name == "__init__" or target.returns in ("None", "NoReturn", "Never"):
        return False
    node = function_node(target)
    if node is None:
        return target.returns is not None
    return any(
        isinstance(child, ast.Return)
        and child.value is not None
        and not (isinstance(child.value, ast.Constant) and child.value.value is None)
        for child in _own_nodes(node)
    )


def is_generator(node: FunctionNode) -> bool:
    """Whether the function's own body yields (a generator: it documents Yields)."""
    return any(isinstance(child, ast.Yield | ast.YieldFrom) for child in _own_nodes(node))


def documents_yield(target: Target) -> bool:
    node = function_node(target)
    return node is not None and is_generator(node)


def raised_exceptions(target: Target) -> list[str]:
    """Exceptions the function raises by name in its own body (`raise ValueError(...)`).

    Only these may be documented: a small model readily invents a Raises section for a
    function that never raises.
    """
    node = function_node(target)
    if node is None:
        return []
    names: list[str] = []
    for child in _own_nodes(node):
        if isinstance(child, ast.Raise) and child.exc is not None:
            exc = _raised(child)
            if isinstance(exc, ast.Name | ast.Attribute):
                name = ast.unparse(exc)
                if name not in names:
                    names.append(name)
    return names


MAX_GUARD = 60  # characters of an `if` test quoted as a Raises condition


def raise_guards(target: Target) -> dict[str, str]:
    """The exceptions the function raises only from a guard clause, each with its test:
    the condition the code states, which the Raises section then says instead of the
    model's guess of it (a small model wrote "ValueError: If value is less than low or
    greater than high." for `if low > high: raise ValueError(...)`).

    A guard clause here is `if TEST: raise E(...)` as a statement of the function's own
    body, with no `else`, after statements that neither return, raise nor rebind a name
    of TEST, so that TEST alone decides whether E is raised. Anything else (an `elif`, a
    nested `if`, E raised in two places) keeps the model's wording.
    """
    node = function_node(target)
    if node is None:
        return {}
    counts: dict[str, int] = {}
    for child in _own_nodes(node):
        if isinstance(child, ast.Raise) and child.exc is not None:
            name = _raised_name(child)
            counts[name] = counts.get(name, 0) + 1
    guards: dict[str, str] = {}
    before: list[ast.stmt] = []
    for statement in node.body:
        if (
            isinstance(statement, ast.If)
            and not statement.orelse
            and len(statement.body) == 1
            and isinstance(statement.body[0], ast.Raise)
            and statement.body[0].exc is not None
        ):
            name = _raised_name(statement.body[0])
            test = ast.unparse(statement.test)
            names = {n.id for n in ast.walk(statement.test) if isinstance(n, ast.Name)}
            if counts.get(name) == 1 and len(test) <= MAX_GUARD and _plain(before, names):
                guards[name] = test
        before.append(statement)
    return guards


def _raised(node: ast.Raise) -> ast.expr:
    """What a `raise` names: `ValueError` for `raise ValueError(...)` and `raise ValueError`."""
    assert node.exc is not None
    return node.exc.func if isinstance(node.exc, ast.Call) else node.exc


def _raised_name(node: ast.Raise) -> str:
    return ast.unparse(_raised(node))


def _plain(statements: list[ast.stmt], names: set[str]) -> bool:
    """No statement returns, raises, or binds one of `names` (so a later test means what
    it says on the arguments)."""
    for statement in statements:
        for child in ast.walk(statement):
            if isinstance(child, ast.Return | ast.Raise | ast.Yield | ast.YieldFrom):
                return False
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store | ast.Del):
                if child.id in names:
                    return False
    return True


def _is_staticmethod(node: FunctionNode) -> bool:
    return "staticmethod" in decorator_names(node)


def _own_nodes(node: FunctionNode) -> Iterator[ast.AST]:
    """Every node in the function's body, skipping nested functions, classes and lambdas."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            stack.extend(ast.iter_child_nodes(child))
