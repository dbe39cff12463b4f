"""The shape of the package: front ends -> core -> leaves, never back, never sideways.

Front ends choose a source and an outcome (suggest, the hook, the PR review) and their click
commands; the core wires the middle; the leaves (git, diff, sandbox, verify, generate, llm,
write, ...) do one job each. Imports are read from the source, function-local ones too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "review_bot"

# room -> the front end it belongs to; everything else is the core or a leaf.
FRONT_ENDS = {
    "review_bot.suggest": "suggest",
    "review_bot.report": "suggest",
    "review_bot.hook": "hook",
    "review_bot.github": "review",
    "review_bot.commands": "commands",
    "review_bot.__main__": "commands",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path, name: str, *, top_level_only: bool = False) -> set[str]:
    """The review_bot modules `path` imports: anywhere in the file, or only at import time
    (module level, outside `if` blocks such as `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if top_level_only:
        tree.body = [node for node in tree.body if not isinstance(node, ast.If)]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "review_bot" or m.startswith("review_bot.")}


def room(module: str) -> str | None:
    for prefix, front_end in FRONT_ENDS.items():
        if module == prefix or module.startswith(prefix + "."):
            return front_end
    return None


def test_front_ends_are_imported_by_nobody_below_them_nor_by_each_other() -> None:
    known = modules()
    wrong = []
    for name, path in known.items():
        mine = room(name)
        for imported in imports(path, name):
            theirs = room(imported)
            if imported not in known or theirs is None or theirs == mine:
                continue
            if mine == "commands":
                continue  # the click layer of every front end
            wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_the_core_is_the_one_wiring() -> None:
    # suggest, the hook's worker and the review each call core.run; nobody else builds
    # an Engine (check mode builds one to measure coverage without a model call).
    users = {
        name
        for name, path in modules().items()
        if "Engine(" in path.read_text(encoding="utf-8") and not name.startswith("review_bot.core")
    }
    assert users <= {"review_bot.hook.check"}
    callers = {
        name
        for name, path in modules().items()
        if "core.run(" in path.read_text(encoding="utf-8")
        or "(run_core or core.run)" in path.read_text(encoding="utf-8")
    }
    assert {"review_bot.suggest", "review_bot.hook.compute", "review_bot.github.plan"} <= callers


def test_no_import_cycles_between_modules_at_import_time() -> None:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        top = imports(path, name, top_level_only=True)
        graph[name] = {m for m in top if m in known and m != name}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                # A package's __init__ importing its own modules is not a cycle of rooms.
                if not all(c.startswith(nxt) for c in cycle):
                    raise AssertionError(" -> ".join(cycle))
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name)
