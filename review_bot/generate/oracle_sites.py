"""Where oracle repair looks, and how it changes a test: the assertions that compare a
call's result with a literal, found, instrumented and rewritten with libcst.

`find_sites` lists them (`Site`), `instrument` swaps each for a call of the recorder (the
sandbox's oracle driver), `rewrite` writes the observed literals in place of the model's,
each marked with a `# recorded: model expected ...` comment. generate/oracle.py decides
what to rewrite from what the recorder saw.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import libcst as cst

from review_bot.generate.mechanical import dotted
from review_bot.generate.pyast import literal

RECORDER = "_review_bot_oracle"  # the driver's module name in the workspace
MAX_NOTE = 40  # characters of the model's value quoted in the comment

Kind = Literal["eq", "is", "in", "notin", "approx", "param", "raises"]
RAISED = "!"  # an observed value "!KeyError": the call raised that builtin exception
_EMPTY = cst.Module([])


class Site(NamedTuple):
    """One assertion the oracle can check, in the order libcst visits them."""

    id: int
    kind: Kind
    call: str  # the actual side, for the report: "slugify('A B')"
    expected: str  # the model's expectation as written: "'a b'", "in [1, 2]"
    param: str | None  # kind "param": the parametrize column compared with
    rows: tuple[tuple[str, str], ...]  # kind "param": per row, (cell source, other cells)
    alone: bool = True  # an assertion alone on its line: it can become a `with` block


class _Column(NamedTuple):
    decorator: int  # index among the function's decorators
    column: int
    names: tuple[str, ...]
    rows: tuple[cst.BaseExpression, ...]  # a tuple, or a pytest.param(...) call, per row


class _Function:
    def __init__(self, node: cst.FunctionDef) -> None:
        import libcst.matchers as m  # imported late: 0.26 s, and a commit seldom needs it

        self.columns = _parametrize_columns(node)
        self.assigned: dict[str, list[cst.BaseExpression]] = {}
        for assign in m.findall(node.body, m.Assign(targets=[m.AssignTarget(target=m.Name())])):
            assert isinstance(assign, cst.Assign)
            target = assign.targets[0].target
            assert isinstance(target, cst.Name)
            self.assigned.setdefault(target.value, []).append(assign.value)
        # kind "param" rewrites: (decorator, column, row) -> new literal
        self.cells: dict[tuple[int, int, int], str] = {}


def _source(node: cst.CSTNode) -> str:
    return " ".join(_EMPTY.code_for_node(node).split())


def _literal_value(node: cst.BaseExpression) -> tuple[bool, object]:
    return literal("(\n" + _EMPTY.code_for_node(node) + "\n)")


def _is_literal(node: cst.BaseExpression) -> bool:
    return _literal_value(node)[0]


def _is_approx(node: cst.BaseExpression) -> bool:
    return (
        isinstance(node, cst.Call)
        and dotted(node.func) in ("pytest.approx", "approx")
        and bool(node.args)
        and node.args[0].keyword is None
        and node.args[0].star == ""
        and _is_literal(node.args[0].value)
    )


def _parametrize_columns(node: cst.FunctionDef) -> dict[str, _Column]:
    columns: dict[str, _Column] = {}
    for index, decorator in enumerate(node.decorators):
        call = decorator.decorator
        if not isinstance(call, cst.Call) or len(call.args) < 2:
            continue
        if not dotted(call.func).endswith("parametrize"):
            continue
        ok, names_value = _literal_value(call.args[0].value)
        if isinstance(names_value, str):
            names = tuple(n.strip() for n in names_value.split(",") if n.strip())
        elif isinstance(names_value, (list, tuple)) and all(
            isinstance(n, str) for n in names_value
        ):
            names = tuple(names_value)
        else:
            continue
        values = call.args[1].value
        if not ok or len(names) < 2 or not isinstance(values, (cst.List, cst.Tuple)):
            continue
        rows = tuple(element.value for element in values.elements)
        if not all(len(_cells(row)) == len(names) for row in rows):
            continue
        for column, name in enumerate(names):
            columns[name] = _Column(index, column, names, rows)
    return columns


def _cells(row: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(row, cst.Tuple):
        return [e.value for e in row.elements if isinstance(e, cst.Element)]
    if isinstance(row, cst.Call) and dotted(row.func) in ("pytest.param", "param"):
        return [a.value for a in row.args if a.keyword is None and a.star == ""]
    return []


def _with_cell(
    row: cst.BaseExpression, column: int, value: cst.BaseExpression
) -> cst.BaseExpression:
    if isinstance(row, cst.Tuple):
        elements = list(row.elements)
        elements[column] = elements[column].with_changes(value=value)
        return row.with_changes(elements=elements)
    assert isinstance(row, cst.Call)
    args = list(row.args)
    positional = [i for i, a in enumerate(args) if a.keyword is None and a.star == ""]
    args[positional[column]] = args[positional[column]].with_changes(value=value)
    return row.with_changes(args=args)


class _Sites(cst.CSTTransformer):
    """Finds the checkable assertions; in `instrument` mode replaces them by recorder calls,
    with `new`/`cells` given rewrites their expected values."""

    def __init__(
        self,
        mode: Literal["find", "instrument", "rewrite"],
        new: dict[int, str] | None = None,
        cells: dict[int, dict[int, str]] | None = None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.new = new or {}
        self.new_cells = cells or {}
        self.sites: list[Site] = []
        self.functions: list[_Function] = []
        self.notes: list[str] = []
        self.count = 0
        self.line_size = 0  # small statements on the line being visited
        # rewrite mode: the call of the assertion on this line that raised, and what
        self.raising: tuple[str, cst.BaseExpression] | None = None

    # -- context ----------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(_Function(node))

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        function = self.functions.pop()
        if not function.cells:
            return updated_node
        decorators = list(updated_node.decorators)
        for (index, column, row), text in sorted(function.cells.items()):
            call = decorators[index].decorator
            assert isinstance(call, cst.Call)
            values = call.args[1].value
            assert isinstance(values, (cst.List, cst.Tuple))
            elements = list(values.elements)
            cell = cst.parse_expression(text)
            elements[row] = elements[row].with_changes(
                value=_with_cell(elements[row].value, column, cell)
            )
            args = list(call.args)
            args[1] = args[1].with_changes(value=values.with_changes(elements=elements))
            decorators[index] = decorators[index].with_changes(
                decorator=call.with_changes(args=args)
            )
        return updated_node.with_changes(decorators=decorators)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.notes = []
        self.line_size = len(node.body)
        self.raising = None

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        if not self.notes:
            return updated_node
        text = "# recorded: model expected " + "; ".join(self.notes)
        old = updated_node.trailing_whitespace.comment
        if old is not None:
            text += " " + old.value
        trailing = updated_node.trailing_whitespace.with_changes(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text)
        )
        if self.raising is not None and len(updated_node.body) == 1:
            # The call raised where the model expected a value: `with pytest.raises(E):`.
            name, call = self.raising
            raises = cst.Call(
                cst.Attribute(cst.Name("pytest"), cst.Name("raises")), [cst.Arg(cst.Name(name))]
            )
            body = cst.SimpleStatementLine([cst.Expr(call.with_changes(lpar=[], rpar=[]))])
            return cst.With(
                [cst.WithItem(raises)],
                cst.IndentedBlock([body], header=trailing),
                leading_lines=updated_node.leading_lines,
            )
        return updated_node.with_changes(trailing_whitespace=trailing)

    # -- assertions -------------------------------------------------------

    def _is_actual(self, node: cst.BaseExpression) -> bool:
        import libcst.matchers as m  # imported late: 0.26 s, and a commit seldom needs it

        if _is_literal(node) or _is_approx(node):
            return False
        if m.findall(node, m.Call()):
            return True
        if isinstance(node, cst.Name) and self.functions:
            values = self.functions[-1].assigned.get(node.value, [])
            return any(m.findall(value, m.Call()) for value in values)
        return False

    def _display(self, node: cst.BaseExpression) -> str:
        if isinstance(node, cst.Name) and self.functions:
            values = self.functions[-1].assigned.get(node.value, [])
            if len(values) == 1:
                return _source(values[0])
        return _source(node)

    def _match(
        self, test: cst.BaseExpression
    ) -> tuple[Kind, cst.BaseExpression, cst.BaseExpression, bool] | None:
        """(kind, actual, expected, expected is on the left) for a checkable assertion."""
        if not self.functions or not isinstance(test, cst.Comparison):
            return None
        if len(test.comparisons) != 1:
            return None
        left, target = test.left, test.comparisons[0]
        right, op = target.comparator, target.operator
        if isinstance(op, cst.Equal):
            for actual, expected, flipped in ((left, right, False), (right, left, True)):
                if not self._is_actual(actual):
                    continue
                if _is_approx(expected):
                    return "approx", actual, expected, flipped
                if _is_literal(expected):
                    return "eq", actual, expected, flipped
                columns = self.functions[-1].columns
                if isinstance(expected, cst.Name) and expected.value in columns:
                    column = columns[expected.value]
                    if all(_is_literal(_cells(row)[column.column]) for row in column.rows):
                        return "param", actual, expected, flipped
        if isinstance(op, cst.Is) and isinstance(right, cst.Name) and self._is_actual(left):
            if right.value in ("True", "False", "None"):
                return "is", left, right, False
        if isinstance(op, (cst.In, cst.NotIn)) and self._is_actual(left):
            if isinstance(right, (cst.List, cst.Tuple, cst.Set)) and _is_literal(right):
                return ("in" if isinstance(op, cst.In) else "notin"), left, right, False
        return None

    def _raises_block(self, node: cst.With) -> tuple[cst.Call, cst.BaseExpression] | None:
        """(the raises call, the one call in its block) of `with pytest.raises(E): f(x)`."""
        import libcst.matchers as m  # imported late: 0.26 s, and a commit seldom needs it

        if not self.functions or len(node.items) != 1 or node.items[0].asname is not None:
            return None
        raises = node.items[0].item
        if not isinstance(raises, cst.Call) or dotted(raises.func) not in (
            "pytest.raises",
            "raises",
        ):
            return None
        positional = [a for a in raises.args if a.keyword is None and a.star == ""]
        if len(positional) != 1 or len(raises.args) != 1:
            return None  # match= or a tuple of options: judged as written
        body = node.body
        if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
            return None
        line = body.body[0]
        if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
            return None
        statement = line.body[0]
        if not isinstance(statement, cst.Expr) or not m.findall(statement.value, m.Call()):
            return None
        return raises, statement.value

    def leave_With(
        self, original_node: cst.With, updated_node: cst.With
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        found = self._raises_block(original_node)
        if found is None:
            return updated_node
        raises, call = found
        exception = raises.args[0].value
        site_id = self.count
        self.count += 1
        if self.mode == "find":
            text = "raises " + _source(exception)
            self.sites.append(Site(site_id, "raises", self._display(call), text, None, ()))
            return updated_node
        if self.mode == "instrument":
            lambda_ = cst.Lambda(cst.Parameters(), call)
            record = cst.Call(
                cst.Attribute(cst.Name(RECORDER), cst.Name("raises")),
                args=[
                    cst.Arg(cst.Integer(str(site_id))),
                    cst.Arg(lambda_),
                    cst.Arg(
                        exception.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
                    ),
                ],
            )
            return cst.SimpleStatementLine(
                [cst.Expr(record)], leading_lines=updated_node.leading_lines
            )
        if site_id not in self.new:
            return updated_node
        text = self.new[site_id]
        comment = cst.Comment("# recorded: model expected raises " + _short(_source(exception)))
        trailing = cst.TrailingWhitespace(cst.SimpleWhitespace("  "), comment)
        if text.startswith(RAISED):
            item = updated_node.items[0]
            assert isinstance(item.item, cst.Call)
            arg = item.item.args[0].with_changes(value=cst.Name(text[len(RAISED) :]))
            items = [item.with_changes(item=item.item.with_changes(args=[arg]))]
            body = updated_node.body
            assert isinstance(body, cst.IndentedBlock)
            return updated_node.with_changes(items=items, body=body.with_changes(header=trailing))
        test = cst.Comparison(call, [cst.ComparisonTarget(cst.Equal(), cst.parse_expression(text))])
        return cst.SimpleStatementLine(
            [cst.Assert(test)],
            leading_lines=updated_node.leading_lines,
            trailing_whitespace=trailing,
        )

    def leave_Assert(
        self, original_node: cst.Assert, updated_node: cst.Assert
    ) -> cst.BaseSmallStatement:
        found = self._match(original_node.test)
        if found is None:
            return updated_node
        kind, actual, expected, flipped = found
        site_id = self.count
        self.count += 1
        if self.mode == "find":
            site = self._site(site_id, kind, actual, expected)
            self.sites.append(site._replace(alone=self.line_size == 1))
            return updated_node
        if self.mode == "instrument":
            return self._recorder(site_id, kind, actual, expected)
        return self._rewritten(site_id, kind, updated_node, actual, expected, flipped)

    def _site(
        self, site_id: int, kind: Kind, actual: cst.BaseExpression, expected: cst.BaseExpression
    ) -> Site:
        call = self._display(actual)
        if kind == "param":
            assert isinstance(expected, cst.Name)
            column = self.functions[-1].columns[expected.value]
            rows = []
            for row in column.rows:
                cells = _cells(row)
                others = ", ".join(
                    f"{name}={_source(cell)}"
                    for name, cell in zip(column.names, cells, strict=True)
                    if name != expected.value
                )
                rows.append((_source(cells[column.column]), others))
            return Site(site_id, kind, call, expected.value, expected.value, tuple(rows))
        text = _source(expected)
        if kind in ("in", "notin"):
            text = ("in " if kind == "in" else "not in ") + text
        elif kind == "is":
            text = "is " + text
        return Site(site_id, kind, call, text, None, ())

    def _recorder(
        self, site_id: int, kind: Kind, actual: cst.BaseExpression, expected: cst.BaseExpression
    ) -> cst.Expr:
        compare = "eq" if kind in ("approx", "param") else kind
        param = expected.value if kind == "param" and isinstance(expected, cst.Name) else None
        args = [
            cst.Arg(cst.Integer(str(site_id))),
            cst.Arg(_thunk(actual)),
            cst.Arg(cst.SimpleString(repr(compare))),
            cst.Arg(expected.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])),
            cst.Arg(cst.SimpleString(repr(param)) if param else cst.Name("None")),
        ]
        func = cst.Attribute(cst.Name(RECORDER), cst.Name("record"))
        return cst.Expr(cst.Call(func, args=args))

    def _rewritten(
        self,
        site_id: int,
        kind: Kind,
        node: cst.Assert,
        actual: cst.BaseExpression,
        expected: cst.BaseExpression,
        flipped: bool,
    ) -> cst.Assert:
        test = node.test
        assert isinstance(test, cst.Comparison)
        target = test.comparisons[0]
        if kind == "param":
            rows = self.new_cells.get(site_id, {})
            assert isinstance(expected, cst.Name)
            column = self.functions[-1].columns[expected.value]
            for row, text in rows.items():
                old = _source(_cells(column.rows[row])[column.column])
                self.functions[-1].cells[(column.decorator, column.column, row)] = text
                self.notes.append(f"{_short(old)} (row {row + 1})")
            return node
        if site_id not in self.new:
            return node
        text = self.new[site_id]
        if text.startswith(RAISED):
            # The whole line becomes a raises block (leave_SimpleStatementLine).
            prefix = {"is": "is ", "in": "in ", "notin": "not in "}.get(kind, "")
            self.notes.append(prefix + _short(_source(expected)))
            self.raising = (text[len(RAISED) :], actual)
            return node
        value = cst.parse_expression(text)
        if kind == "approx":
            assert isinstance(expected, cst.Call)
            self.notes.append(_short(_source(expected.args[0].value)))
            args = [expected.args[0].with_changes(value=value), *expected.args[1:]]
            value = expected.with_changes(args=args)
        else:
            note = _source(expected)
            prefix = {"is": "is ", "in": "in ", "notin": "not in "}.get(kind, "")
            self.notes.append(prefix + _short(note))
        if kind in ("is", "in", "notin") and not (kind == "is" and text in _SINGLETONS):
            # A value that is not a singleton, or a membership the code does not meet,
            # becomes an equality with what the code returns.
            op = target.operator
            equal = cst.Equal(
                whitespace_before=getattr(op, "whitespace_before", cst.SimpleWhitespace(" ")),
                whitespace_after=getattr(op, "whitespace_after", cst.SimpleWhitespace(" ")),
            )
            if not isinstance(equal.whitespace_before, cst.SimpleWhitespace):
                equal = cst.Equal()
            target = target.with_changes(operator=equal)
        if flipped:
            return node.with_changes(test=test.with_changes(left=value))
        return node.with_changes(
            test=test.with_changes(comparisons=[target.with_changes(comparator=value)])
        )


_SINGLETONS = frozenset({"True", "False", "None"})


def _short(text: str) -> str:
    return text if len(text) <= MAX_NOTE else text[: MAX_NOTE - 3] + "..."


def _thunk(actual: cst.BaseExpression) -> cst.BaseExpression:
    """`lambda: actual`: the recorder sees an exception the call raises, not pytest. An
    `await` cannot go into a lambda: its value is awaited here and handed over ready."""
    import libcst.matchers as m  # imported late: 0.26 s, and a commit seldom needs it

    if m.findall(actual, m.Await()):
        ready = cst.Attribute(cst.Name(RECORDER), cst.Name("ready"))
        return cst.Call(ready, [cst.Arg(actual)])
    return cst.Lambda(cst.Parameters(), actual)


def find_sites(code: str) -> list[Site]:
    """The assertions oracle repair could check, in a module libcst parses."""
    finder = _Sites("find")
    cst.parse_module(code).visit(finder)
    return finder.sites


def instrument(code: str) -> str:
    """The module with each checkable assertion replaced by a call of the recorder."""
    module = cst.parse_module(code).visit(_Sites("instrument"))
    # At the end: `from __future__` must stay first, and only test functions call it.
    return module.code.rstrip("\n") + f"\n\nimport {RECORDER}  # noqa: E402\n"


def rewrite(code: str, new: dict[int, str], cells: dict[int, dict[int, str]]) -> str:
    """The module with the observed values in place of the model's (a raises block it
    writes needs `import pytest`: the caller's `repair.fix_imports` adds it)."""
    return cst.parse_module(code).visit(_Sites("rewrite", new, cells)).code
