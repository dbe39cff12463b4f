"""Source files: read and parse them with one clear line on anything that is not Python,
and find a function in a module by its qualified name and line (the one way every part of
review-bot locates a target: docstring checks, coverage, insertion)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

from review_bot.errors import SourceError
from review_bot.records import Target

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

MAX_SOURCE_BYTES = 2_000_000  # a generated or vendored blob, not something to review


def read_source(path: Path) -> str:
    """Read a Python file, failing with one clear line on anything that is not one."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir() or path.suffix not in (".py", ".pyi"):
        raise SourceError(f"{path}: not a Python file")
    data = path.read_bytes()
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(f"{path}: file too large ({len(data)} bytes)")
    if b"\0" in data:
        raise SourceError(f"{path}: binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 (byte {exc.start})") from None


@functools.lru_cache(maxsize=64)
def code_fingerprint(source: str) -> str:
    r"""What the module's code is, blind to docstrings, comments and formatting: the key
    under which results are cached. Inserting a docstring is not new work (issue 23: the
    hook generated again after its own docstring insert and staged a second batch).

    >>> with_doc = "def f():\n    'Doc.'\n    return 1\n"
    >>> code_fingerprint(with_doc) == code_fingerprint("def f():  # why\n    return (1)\n")
    True
    >>> code_fingerprint("def f():\n    return 1\n") == code_fingerprint("def f(): return 2")
    False
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                # A body of only a docstring still needs a statement: `pass` stands in.
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def parse_source(path: Path, source: str) -> ast.Module:
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise SourceError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None


def qualname_parts(qualname: str) -> tuple[str, ...]:
    """ "Outer.<locals>.inner" and "Outer.inner" both name the same function."""
    return tuple(part for part in qualname.split(".") if part and part != "<locals>")


def functions_named(tree: ast.AST, qualname: str) -> Iterator[FunctionNode]:
    wanted = qualname_parts(qualname)

    def walk(node: ast.AST, path: tuple[str, ...]) -> Iterator[FunctionNode]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if (*path, child.name) == wanted:
                    yield child
                yield from walk(child, (*path, child.name))
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, (*path, child.name))
            else:
                yield from walk(child, path)

    yield from walk(tree, ())


def locate(tree: ast.AST, qualname: str, lineno: int | None) -> tuple[FunctionNode | None, int]:
    """The function and its index among same-named definitions (overloads, properties)."""
    matches = list(functions_named(tree, qualname))
    for index, node in enumerate(matches):
        if lineno is None:
            # Without a line, the implementation rather than a typing.overload stub.
            if not is_overload(node):
                return node, index
        elif lineno in {node.lineno, *(d.lineno for d in node.decorator_list)}:
            return node, index
    if lineno is None and matches:
        return matches[0], 0
    return None, -1


@functools.lru_cache(maxsize=8)
def parsed(source: str) -> ast.Module | None:
    # Rendering asks about one target several times; the tree is only read, never changed.
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def function_node(target: Target) -> FunctionNode | None:
    tree = parsed(target.module_source)
    return None if tree is None else locate(tree, target.qualname, target.def_lineno)[0]


def decorator_names(node: FunctionNode) -> list[str]:
    names = []
    for decorator in node.decorator_list:
        inner = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.append(ast.unparse(inner).rsplit(".", 1)[-1])
    return names


def is_overload(node: FunctionNode) -> bool:
    return "overload" in decorator_names(node)
