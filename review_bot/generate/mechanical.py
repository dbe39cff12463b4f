"""Mechanical fixes of a model's test module before it is verified, without a model call.

- `pytest.raises` used as a value becomes a `with pytest.raises(E):` block:
  `assert pytest.raises(E, f, x)`, `pytest.raises(E, f(x))` (the call made too early),
  `info = pytest.raises(E, f, x)` (`with ... as info`), `assert f(x) == pytest.raises(E)`,
  and `@pytest.raises(E)` on a test function (its body goes into the block);
- a test function that calls the function under test with arguments its signature cannot
  take (too many or too few positional arguments, an unknown keyword) is dropped rather
  than guessed at; calls inside a `pytest.raises` block are left alone (a TypeError may be
  the point);
- a top-level test function that never names the function under test is dropped when
  another one does: small models write tests for the module's other functions too, which
  add nothing to this target's coverage and fail it for their own reasons.

A missing `import pytest` is added by `repair.fix_imports`. libcst only: nothing runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from review_bot.records import Param

__all__ = ["dotted", "mechanical_fixes"]


def dotted(node: cst.BaseExpression) -> str:
    """The dotted name a Name or Attribute chain spells (`pytest.raises`); "" otherwise."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


def _is_raises(node: cst.BaseExpression | None) -> bool:
    return isinstance(node, cst.Call) and dotted(node.func) in ("pytest.raises", "raises")


def _positional(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and a.star == ""]


def _block(
    raises: cst.Call,
    body: cst.BaseExpression,
    name: cst.Name | None,
    options: bool = True,
) -> cst.With:
    """`with raises [as name]: body`, the raises call reduced to its exception and, when
    `options`, its keyword arguments (`match=`)."""
    positional = _positional(raises)
    keep = [positional[0], *(a for a in raises.args if a.keyword is not None and options)]
    keep = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in keep]
    item = cst.WithItem(
        raises.with_changes(args=keep),
        asname=cst.AsName(name) if name is not None else None,
    )
    statement = cst.SimpleStatementLine([cst.Expr(body)])
    return cst.With([item], cst.IndentedBlock([statement]))


def _as_block(raises: cst.Call, name: cst.Name | None) -> cst.With | None:
    """The `with` block `pytest.raises(E, ...)` used as a value meant; None: not such a use."""
    positional = _positional(raises)
    if len(positional) < 2 or any(a.star for a in raises.args):
        return None
    func = positional[1].value
    if isinstance(func, cst.Call) and len(positional) == 2:
        # pytest.raises(E, f(x), match=...): f(x) ran before raises could catch anything.
        return _block(raises, func, name)
    # The legacy form pytest.raises(E, f, *args, **kwargs): the arguments are f's.
    args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in raises.args[2:]]
    return _block(raises, cst.Call(func, args=args), name, options=False)


class _Raises(cst.CSTTransformer):
    def __init__(self) -> None:
        super().__init__()
        self.fixed = 0

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        if len(updated_node.body) != 1:
            return updated_node
        statement = updated_node.body[0]
        block: cst.With | None = None
        if isinstance(statement, (cst.Expr, cst.Assert)):
            value = statement.value if isinstance(statement, cst.Expr) else statement.test
            if _is_raises(value):
                assert isinstance(value, cst.Call)
                block = _as_block(value, None)
            elif isinstance(value, cst.Comparison) and len(value.comparisons) == 1:
                right = value.comparisons[0].comparator
                for raises, other in ((right, value.left), (value.left, right)):
                    if _is_raises(raises) and isinstance(other, cst.Call):
                        assert isinstance(raises, cst.Call)
                        if len(_positional(raises)) == 1:
                            block = _block(raises, other, None)
                            break
        elif isinstance(statement, cst.Assign) and len(statement.targets) == 1:
            target = statement.targets[0].target
            if _is_raises(statement.value) and isinstance(target, cst.Name):
                assert isinstance(statement.value, cst.Call)
                block = _as_block(statement.value, target)
        if block is None:
            return updated_node
        self.fixed += 1
        return block.with_changes(leading_lines=updated_node.leading_lines)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        marks = [d for d in updated_node.decorators if _is_raises(d.decorator)]
        if len(marks) != 1 or not isinstance(updated_node.body, cst.IndentedBlock):
            return updated_node
        raises = marks[0].decorator
        assert isinstance(raises, cst.Call)
        if len(_positional(raises)) != 1:
            return updated_node
        self.fixed += 1
        block = cst.With([cst.WithItem(raises)], updated_node.body)
        return updated_node.with_changes(
            decorators=[d for d in updated_node.decorators if d is not marks[0]],
            body=cst.IndentedBlock([block]),
        )


def arity_problem(call: cst.Call, params: Sequence[Param]) -> str | None:
    """Why `call` cannot bind to `params`; None when it can or cannot be told."""
    if any(a.star for a in call.args):
        return None
    positional = [a for a in call.args if a.keyword is None]
    keywords = [a.keyword.value for a in call.args if a.keyword is not None]
    slots = [p for p in params if p.kind in ("positional_only", "positional")]
    has_varargs = any(p.kind == "vararg" for p in params)
    has_varkw = any(p.kind == "varkw" for p in params)
    if len(positional) > len(slots) and not has_varargs:
        return f"{len(positional)} positional arguments, it takes at most {len(slots)}"
    named = {p.name for p in params if p.kind in ("positional", "keyword_only")}
    unknown = [k for k in keywords if k not in named]
    if unknown and not has_varkw:
        return f"unknown keyword argument {unknown[0]!r}"
    given = {p.name for p in slots[: len(positional)]} | set(keywords)
    missing = [
        p.name
        for p in params
        if p.default is None and p.kind not in ("vararg", "varkw") and p.name not in given
    ]
    if missing:
        return f"no value for {missing[0]!r}"
    return None


class _Arity(cst.CSTTransformer):
    """Drops test functions whose calls of `name` cannot bind to its parameters."""

    def __init__(self, name: str, params: Sequence[Param]) -> None:
        super().__init__()
        self.name = name
        self.params = params
        self.depth = 0  # pytest.raises blocks around the current node
        self.problems: list[str] = []  # of the current test function
        self.dropped: list[str] = []

    def visit_With(self, node: cst.With) -> None:
        if any(_is_raises(item.item) for item in node.items):
            self.depth += 1

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.With:
        if any(_is_raises(item.item) for item in original_node.items):
            self.depth -= 1
        return updated_node

    def visit_Call(self, node: cst.Call) -> None:
        if self.depth == 0 and isinstance(node.func, cst.Name) and node.func.value == self.name:
            problem = arity_problem(node, self.params)
            if problem is not None:
                self.problems.append(problem)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value.startswith("test"):
            self.problems = []

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef | cst.RemovalSentinel:
        name = original_node.name.value
        if name.startswith("test") and self.problems:
            self.dropped.append(f"dropped {name}: {self.name}() called with {self.problems[0]}")
            self.problems = []
            return cst.RemoveFromParent()
        return updated_node


def mechanical_fixes(
    code: str, target_name: str, params: Sequence[Param] | None
) -> tuple[str, list[str]]:
    """The fixed code and what was fixed; the code unchanged when libcst cannot parse it.

    `params` None (a method: called on an instance) skips the signature check.
    """
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return code, []
    raises = _Raises()
    module = module.visit(raises)
    fixes = (
        [f"pytest.raises used as a value -> with block ({raises.fixed})"] if raises.fixed else []
    )
    if params is not None:
        arity = _Arity(target_name, params)
        module = module.visit(arity)
        fixes += arity.dropped
    module, unrelated = _drop_unrelated(module, target_name)
    fixes += [f"dropped {name}: does not call {target_name}()" for name in unrelated]
    return (module.code if fixes else code), fixes


class _NameCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.found.add(node.value)  # an attribute's name is a Name too: `f` of `mod.f`


def _names(node: cst.CSTNode) -> set[str]:
    """Every name and attribute name in `node`: `f`, and `f` of `mod.f`. (A visitor, not
    libcst.matchers, whose import alone costs a commit's worker 0.26 s.)"""
    collector = _NameCollector()
    node.visit(collector)
    return collector.found


def _drop_unrelated(module: cst.Module, name: str) -> tuple[cst.Module, list[str]]:
    tests = [
        node
        for node in module.body
        if isinstance(node, cst.FunctionDef) and node.name.value.startswith("test")
    ]
    related = [node for node in tests if name in _names(node)]
    if not related or len(related) == len(tests):
        return module, []
    dropped = [node for node in tests if node not in related]
    body = [node for node in module.body if not any(node is d for d in dropped)]
    return module.with_changes(body=body), [node.name.value for node in dropped]
