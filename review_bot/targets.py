"""Which functions in a source file are targets: parsing with ast, no execution."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Collection, Iterator
from pathlib import Path

from review_bot.errors import SourceError
from review_bot.records import Param, ParamKind, Target
from review_bot.source import parse_source


def module_name(root: Path, path: Path) -> str:
    """The dotted import name of `path` when `root` is on sys.path."""
    rel = path.resolve().relative_to(root.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_root(path: Path) -> Path:
    """The directory to put on sys.path: climb while the parent is a package.

    A `src/` layout is handled because `src/` itself has no __init__.py.
    """
    directory = path.resolve().parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        directory = directory.parent
    return directory


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[Param, ...]:
    args = node.args
    out: list[Param] = []

    def text(expr: ast.expr | None) -> str | None:
        return None if expr is None else ast.unparse(expr)

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind: ParamKind = "positional_only" if index < len(args.posonlyargs) else "positional"
        out.append(Param(arg.arg, text(arg.annotation), text(default), kind))
    if args.vararg:
        out.append(Param(args.vararg.arg, text(args.vararg.annotation), None, "vararg"))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(Param(arg.arg, text(arg.annotation), text(kw_default), "keyword_only"))
    if args.kwarg:
        out.append(Param(args.kwarg.arg, text(args.kwarg.annotation), None, "varkw"))
    return tuple(out)


def _walk(
    body: list[ast.stmt], prefix: str, in_class: bool
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node, in_class
        elif isinstance(node, ast.ClassDef):
            yield from _walk(node.body, f"{prefix}{node.name}.", True)


def targets_in_source(
    root: Path, path: Path, source: str, tree: ast.Module | None = None
) -> list[Target]:
    """Every module-level function and every method of module-level classes.

    Nested functions are not targets: no test can call them directly.
    """
    tree = tree or parse_source(path, source)
    lines = source.splitlines(keepends=True)
    module = module_name(root, path)
    found: list[Target] = []
    for qualname, node, in_class in _walk(tree.body, "", False):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        found.append(
            Target(
                root=root,
                path=path,
                module=module,
                qualname=qualname,
                lineno=first,
                def_lineno=node.lineno,
                end_lineno=end,
                source=textwrap.dedent("".join(lines[first - 1 : end])),
                module_source=source,
                params=_params(node),
                returns=None if node.returns is None else ast.unparse(node.returns),
                docstring=ast.get_docstring(node),
                is_method=in_class,
                is_async=isinstance(node, ast.AsyncFunctionDef),
            )
        )
    return found


def top_level_names(tree: ast.Module) -> list[str]:
    """Names a test may import from the module: functions, classes, assigned constants."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.extend(t.id for t in targets if isinstance(t, ast.Name))
    return names


def select(targets: list[Target], names: Collection[str]) -> list[Target]:
    """Keep the targets named by `--function` (a plain or a qualified name)."""
    if not names:
        return targets
    chosen = [t for t in targets if t.qualname in names or t.name in names]
    missing = sorted(n for n in names if not any(n in (t.qualname, t.name) for t in targets))
    if missing:
        raise SourceError(
            f"no function named {', '.join(missing)} in {targets[0].path}"
            if targets
            else f"no function named {', '.join(missing)}"
        )
    return chosen
