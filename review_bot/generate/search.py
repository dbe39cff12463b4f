"""Model-seeded search for the `cases` strategy (issue 24): more inputs without a model call.

The model proposes inputs that mean something (real words, plausible numbers); a small
model rarely proposes the boundary that tells `<` from `<=`, or the empty string. Here each
proposed case is a seed: one argument at a time is replaced by a neighbour of its value
(0, 1, -1, the value plus or minus one, its negation; the empty and one-item string or
list, the doubled one), by the seed's other arguments and their neighbours (where `upper <
lower` turns), or by a constant of the function's own code and its neighbours (`if n >
100:` gives 99, 100, 101; `word.endswith('ies')` gives `'ies'` and the seed with it
appended), or of a module-level literal the function reads (the first keys and values of
a table of irregular words). A number also meets the lengths of the seed's strings and
lists (`max_len` around `len(text)`). The candidates run in the sandbox with the seeds, and
the cut (generate/cases_cut.py) keeps a candidate only where it kills a mutant or runs a line
that no kept case does; the seeds win ties. Candidates keep each argument's JSON type, so
they fit the signature as the seed did.

>>> code_constants("def f(n):\\n    if n > 100:\\n        return 'big'\\n    return n * 2.5")
[100, 'big', 2.5]
>>> neighbours(5, [100])
[99, 100, 101, 0, 1, -1, 4, 6, -5]
>>> neighbours("ab", ["x"])
['x', 'abx', '', 'a', 'abab', 'AB', ' ab', 'abé', 'xab']
>>> neighbours(160, ["hello world"])
[10, 11, 5, 0, 1, -1, 159, 161, -160]
>>> neighbours([3, 1], [])
[[], [3], [3, 1, 1], [1, 3], [3, 1, 2], [3, 1, 3]]
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from typing import Any

# Candidates per function: each costs microseconds in the sandbox runs on the original and
# on each mutant (the model's cases run in the same ones), but a function that loops on a
# value (or a mutant that never ends) costs up to the per-case limit.
MAX_CANDIDATES = 96
MAX_CONSTANTS = 12
MAX_TABLE_ITEMS = 2  # of a module-level dict, list or set the function reads
MAX_SEEDS = 4
MAX_STRING = 40


def code_constants(source: str) -> list[Any]:
    """Numbers and short strings written in the function's code (not its docstring), in
    order, each once; booleans and None are left out."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    negated = {
        id(node.operand): node
        for node in ast.walk(tree)
        if isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    }
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings]
    found: list[Any] = []
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
        value = node.value
        if isinstance(value, bool) or value is None:
            continue
        if id(node) in negated and isinstance(value, (int, float)):
            value = -value  # `-3` is `-` applied to 3 in the tree
        if isinstance(value, str) and len(value) > MAX_STRING:
            continue
        if isinstance(value, (int, float, str)) and not _has(found, value):
            found.append(value)
    return found[:MAX_CONSTANTS]


def module_constants(source: str, module_source: str) -> list[Any]:
    """The first items of the module-level literals the function's code reads by name
    (`_IRREGULAR = {'alga': 'algae', ...}`, `SUFFIXES = ('kB', 'MB')`): a dict's keys and
    values, a sequence's items, a plain constant itself; numbers and short strings only.

    >>> module_constants("def f(w):\\n    return T.get(w)", "T = {'a': 'b', 'c': 'd'}\\nN = 3")
    ['a', 'b', 'c', 'd']
    """
    try:
        names = {
            n.id
            for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        module = ast.parse(module_source)
    except SyntaxError:
        return []
    found: list[Any] = []
    for node in module.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Name) and t.id in names for t in targets):
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            items = [v for pair in list(value.items())[:MAX_TABLE_ITEMS] for v in pair]
        elif isinstance(value, (set, frozenset)):
            items = sorted(value, key=repr)[:MAX_TABLE_ITEMS]  # a set's order varies
        elif isinstance(value, (list, tuple)):
            items = list(value)[:MAX_TABLE_ITEMS]
        else:
            items = [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                continue
            if isinstance(item, str) and len(item) > MAX_STRING:
                continue
            if not _has(found, item):
                found.append(item)
    return found[:MAX_CONSTANTS]


def function_constants(source: str, module_source: str) -> list[Any]:
    """The code's own constants, then those of the module-level literals it reads that
    it does not write itself."""
    found = code_constants(source)
    return found + [c for c in module_constants(source, module_source) if not _has(found, c)]


def _has(values: Sequence[Any], value: Any) -> bool:
    return any(type(v) is type(value) and v == value for v in values)


def neighbours(value: Any, constants: Sequence[Any]) -> list[Any]:
    """The given constants of `value`'s JSON type (the seed's other arguments, then the
    code's) and their neighbours, then values near `value` itself. A number also takes
    the lengths of the given strings and lists (one less, and half); a string takes each
    string constant alone and appended to it, and prepended last, and an accented letter
    appended (the first non-ASCII input); a list of integers grows by the next one and by
    one past it (a run of consecutive numbers goes on, or breaks)."""
    out: list[Any] = []
    if isinstance(value, bool):
        out = [not value]
    elif isinstance(value, int):
        for c in constants:
            if isinstance(c, int) and not isinstance(c, bool):
                out += [c - 1, c, c + 1]
        for c in constants:
            if isinstance(c, (str, list)) and c:
                out += [len(c) - 1, len(c), len(c) // 2]
        out += [0, 1, -1, value - 1, value + 1, -value]
    elif isinstance(value, float):
        for c in constants:
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                out += [float(c) - 0.5, float(c), float(c) + 0.5]
        out += [0.0, -value, value / 2, value + 0.5]
    elif isinstance(value, str):
        strings = [c for c in constants if isinstance(c, str) and c]
        for c in strings:
            out += [c, value + c] if value else [c]
        out += ["", value[:1], value * 2, value.upper(), " " + value, value + "\u00e9"]
        out += [c + value for c in strings] if value else []
    elif isinstance(value, list):
        out = [[], value[:1], value + value[-1:], list(reversed(value))]
        last = value[-1] if value else None
        if isinstance(last, int) and not isinstance(last, bool):
            out += [[*value, last + 1], [*value, last + 2]]  # a run goes on, or breaks
    elif isinstance(value, dict):
        out = [{}]
    kept: list[Any] = []
    for item in out:
        if _same(item, value) or any(_same(item, k) for k in kept):
            continue
        if isinstance(item, str) and len(item) > MAX_STRING:
            continue
        kept.append(item)
    return kept


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def candidates(
    seeds: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
    constants: Sequence[Any],
    limit: int = MAX_CANDIDATES,
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(args, kwargs) pairs that differ from one seed in one argument, none a seed, at most
    `limit`: taken round-robin over the seeds and their arguments, so a small limit still
    varies every argument of several seeds."""
    known = {_key(args, kwargs) for args, kwargs in seeds}
    seeds = seeds[:MAX_SEEDS]  # a few seeds searched deep beat many searched shallow
    streams = [_variants(args, kwargs, constants) for args, kwargs in seeds]
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    while streams and len(out) < limit:
        alive = []
        for stream in streams:
            for args, kwargs in stream:
                key = _key(args, kwargs)
                if key not in known:
                    known.add(key)
                    out.append((args, kwargs))
                    alive.append(stream)
                    break
            if len(out) >= limit:
                break
        streams = alive
    return out


def _variants(
    args: tuple[Any, ...], kwargs: dict[str, Any], constants: Sequence[Any]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """One seed's variants, one argument at a time, the arguments taken in turn."""
    slots: list[list[tuple[tuple[Any, ...], dict[str, Any]]]] = []
    values = [*args, *kwargs.values()]
    for index, value in enumerate(args):
        nears = neighbours(value, [*_siblings(values, index), *constants])
        slots.append([((*args[:index], near, *args[index + 1 :]), kwargs) for near in nears])
    for index, (name, value) in enumerate(kwargs.items(), start=len(args)):
        nears = neighbours(value, [*_siblings(values, index), *constants])
        slots.append([(args, {**kwargs, name: near}) for near in nears])
    depth = 0
    while any(depth < len(slot) for slot in slots):
        for slot in slots:
            if depth < len(slot):
                yield slot[depth]
        depth += 1


def _siblings(values: Sequence[Any], index: int) -> list[Any]:
    """The seed's other arguments: `upper < lower` is found where one argument meets
    another (clamp(10, 5, 5), clamp(10, 6, 5)), which no constant of the code gives."""
    return [v for i, v in enumerate(values) if i != index and isinstance(v, (int, float, str))]


def _key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return json.dumps([list(args), kwargs], sort_keys=True)
