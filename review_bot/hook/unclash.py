"""New generated tests renamed where an earlier generated test already has their name."""

from __future__ import annotations

import ast
from collections.abc import Mapping

import libcst as cst

from review_bot.errors import FatalError


def unclash(existing: str, code: str) -> str:
    """Rename what `code` defines at top level where `existing` defines the same name
    differently: `test_add` becomes `test_add_2` (the first free or identical suffix), so
    an earlier generated test is never replaced and no test name is duplicated.

    A definition identical to one in `existing` keeps its name (the merge drops the copy),
    which makes running the hook twice a no-op.
    """
    old = _top_level(existing)
    new = _top_level(code)
    clashing = sorted(name for name in new if name in old and old[name] != new[name])
    if not clashing:
        return code
    for suffix in range(2, 1000):
        mapping = {name: f"{name}_{suffix}" for name in clashing}
        renamed = _rename(code, mapping)
        units = _top_level(renamed)
        if all(old.get(name, dump) == dump for name, dump in units.items()):
            return renamed
    raise FatalError(f"too many generated versions of {', '.join(clashing)}")  # pragma: no cover


def _top_level(code: str) -> dict[str, str]:
    """Top-level names a module defines (functions, classes, simple assignments) and a
    formatting-blind dump of each definition."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    out: dict[str, str] = {}
    for node in tree.body:
        name: str | None = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        if name is not None:
            out[name] = ast.dump(node)
    return out


def _rename(code: str, mapping: Mapping[str, str]) -> str:
    class Renamer(cst.CSTTransformer):
        def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
            new = mapping.get(updated_node.value)
            return updated_node.with_changes(value=new) if new else updated_node

        def leave_Attribute(
            self, original_node: cst.Attribute, updated_node: cst.Attribute
        ) -> cst.Attribute:
            # `obj.test_add` is some other object's attribute, not our definition.
            return updated_node.with_changes(attr=original_node.attr)

    return cst.parse_module(code).visit(Renamer()).code
