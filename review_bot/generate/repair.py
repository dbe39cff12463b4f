"""Repairs of extracted test code without a model call: copies of the function under test
dropped, forgotten imports added. Text and `ast` only: nothing is executed."""

from __future__ import annotations

import ast
import builtins
import functools
import re
import sys
import sysconfig
from collections.abc import Collection
from pathlib import Path

from review_bot.generate.pyast import (
    bound_names,
    end_line,
    first_line,
    loaded_names,
    parse,
    star_imports,
)

__all__ = ["drop_redefinitions", "fix_imports"]


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _split_lines(code: str) -> list[str]:
    """Lines with their endings, split exactly where the tokenizer splits them."""
    return _LINE.findall(code)


def drop_redefinitions(code: str, names: Collection[str]) -> str:
    """Remove top-level `def`/`class` statements named in `names`.

    Models paste the function under test into the test file; the copy shadows the real
    import and the test then checks the copy. A dotted name ("Parser.parse") removes its
    class. Everything else is kept byte for byte; code that does not parse is returned as is.
    """
    wanted = {name.split(".")[0] for name in names}
    tree = parse(code) if wanted else None
    if tree is None:
        return code
    spans = [
        (first_line(node), end_line(node))
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.name in wanted
    ]
    if not spans:
        return code
    lines = _split_lines(code)
    drop: set[int] = set()  # 0-based line indexes
    for first, last in spans:
        drop.update(range(first - 1, last))
        # The blank lines after the statement go too, so the spacing around it stays as it
        # was instead of doubling.
        k = last
        while k < len(lines) and not lines[k].strip():
            drop.add(k)
            k += 1
    kept = [line for n, line in enumerate(lines) if n not in drop]
    while kept and not kept[-1].strip():
        kept.pop()  # the removed statement was the last one: no trailing blank lines
    return "".join(kept)


def _newline(code: str) -> str:
    match = re.search(r"\r\n|\r|\n", code)
    return "\n" if match is None else match.group()


@functools.cache
def _stdlib_dir() -> Path | None:
    path = sysconfig.get_paths().get("stdlib")
    return Path(path) if path else None


@functools.cache
def _is_stdlib_submodule(dotted: str) -> bool:
    """Whether `dotted` ("unittest.mock") is a stdlib submodule, judged from the files alone.

    `import unittest` does not make `unittest.mock` available; finding the submodule needs no
    import (which would run code), only a look at the standard library's directory.
    """
    root = _stdlib_dir()
    parts = dotted.split(".")
    if root is None or len(parts) < 2 or not all(part.isidentifier() for part in parts):
        return False
    path = root.joinpath(*parts)
    return (path.parent / "__init__.py").is_file() and (
        path.with_name(path.name + ".py").is_file() or (path / "__init__.py").is_file()
    )


def _dotted_uses(tree: ast.AST, name: str) -> set[str]:
    """Every dotted path rooted at `name`: "unittest.mock.patch", "unittest.TestCase"."""
    uses: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if parts and isinstance(current, ast.Name) and current.id == name:
            uses.add(".".join([name, *reversed(parts)]))
    return uses


def _stdlib_imports(tree: ast.AST, name: str) -> list[str]:
    modules: set[str] = set()
    for use in _dotted_uses(tree, name):
        parts = use.split(".")
        for size in range(len(parts), 1, -1):  # the longest prefix that is a submodule
            prefix = ".".join(parts[:size])
            if _is_stdlib_submodule(prefix):
                modules.add(prefix)
                break
    # `import xml.etree.ElementTree` already provides `xml.etree`.
    modules = {m for m in modules if not any(o.startswith(m + ".") for o in modules)}
    return [f"import {module}" for module in sorted(modules or {name})]


# `import this` prints, `import antigravity` opens a web browser.
_STDLIB = frozenset(sys.stdlib_module_names) - {"this", "antigravity"}
_BUILTINS = frozenset(dir(builtins))
_CODING = re.compile(r"#!|[ \t\f]*#.*?coding[:=]")


def fix_imports(code: str, module: str, module_names: Collection[str]) -> tuple[str, list[str]]:
    """Add the imports the code needs and lacks, without asking a model.

    A name that is loaded but never bound anywhere in the file is imported from `module` (the
    module under test) when `module_names` has it; `pytest`, the module under test itself
    (`example.slugify(...)` or, for "pkg.util", `util.f(...)`) and standard-library modules
    are imported too. Anything else is left alone: a guessed import is worse than a NameError
    the verifier reports. Returns the new code and the import lines added; with none added,
    or when the code does not parse, the code comes back unchanged.
    """
    tree = parse(code)
    if tree is None:
        return code, []
    star = star_imports(tree)
    bound = bound_names(tree)
    if module in star:
        bound.update(module_names)
    unbound = {
        name
        for name in loaded_names(tree) - bound - _BUILTINS
        if not (name.startswith("__") and name.endswith("__"))  # __file__, __name__, ...
    }
    top, _, _ = module.partition(".")
    parent, _, last = module.rpartition(".")
    from_module: list[str] = []
    plain: set[str] = set()  # stdlib
    third: set[str] = set()  # pytest
    first: set[str] = set()  # the module under test
    for name in sorted(unbound):
        if name in module_names:
            from_module.append(name)
        elif name == top:
            first.add(f"import {module}")
        elif parent and name == last:
            first.add(f"from {parent} import {last}")
        elif name == "pytest":
            third.add("import pytest")
        elif name in _STDLIB:
            plain.update(_stdlib_imports(tree, name))
    added = [*sorted(plain), *sorted(third), *sorted(first)]
    if from_module:
        added.append(f"from {module} import {', '.join(from_module)}")
    if not added:
        return code, []
    return _insert(code, tree, added), added


def _insert(code: str, tree: ast.Module, imports: list[str]) -> str:
    """Insert import lines after the docstring, `from __future__` and the leading imports."""
    lines = _split_lines(code)
    newline = _newline(code)
    body = tree.body
    index = 0
    after = 0  # 1-based line the imports go after; 0: the top of the file
    docstring_only = False
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            after, index, docstring_only = end_line(body[0]), 1, True
    while index < len(body) and isinstance(body[index], (ast.Import, ast.ImportFrom)):
        after, index, docstring_only = end_line(body[index]), index + 1, False
    if after == 0:
        # A shebang or an encoding cookie has to stay in the first two lines.
        while after < min(2, len(lines)) and _CODING.match(lines[after]):
            after += 1
    if after and not lines[after - 1].endswith(("\n", "\r")):
        lines[after - 1] += newline  # the file ended without a newline right there
    block = [line + newline for line in imports]
    if docstring_only:
        block.insert(0, newline)
    if after < len(lines) and lines[after].strip():
        block.append(newline)  # keep the imports apart from the code that follows
    return "".join([*lines[:after], *block, *lines[after:]])
