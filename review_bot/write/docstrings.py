"""Docstrings into functions with libcst: nothing else in the file changes."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from review_bot.records import TargetResult
from review_bot.source import qualname_parts


def insert_docstring(
    module_source: str, qualname: str, text: str, *, lineno: int | None = None
) -> str:
    """Give function `qualname` the docstring `text`, changing no other byte of the module.

    `qualname` is "func", "Class.method" or "outer.inner" ("<locals>" parts are ignored).
    `lineno` (the `def` line or the first decorator's line) picks one of several definitions
    with the same name; without it the first that is not a typing.overload stub is used.
    `text` is a body from render_docstring: already escaped, without quotes or indentation.
    An existing docstring is replaced. Raises KeyError if the function is not found.
    """
    module = cst.parse_module(module_source)
    wrapper = MetadataWrapper(module)
    finder = _FunctionFinder(qualname_parts(qualname), module.default_indent)
    wrapper.visit(finder)
    found = finder.pick(lineno)
    if found is None:
        where = f" at line {lineno}" if lineno is not None else ""
        raise KeyError(f"function {qualname}{where} not found")
    node, outer_indent = found
    new_node = _with_docstring(node, text, outer_indent, module)
    new_module = wrapper.module.deep_replace(node, new_node)
    assert isinstance(new_module, cst.Module)
    return new_module.code


class _FunctionFinder(cst.CSTVisitor):
    """Collects the definitions of one qualified name, with the indentation of their `def`."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, wanted: tuple[str, ...], default_indent: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.default_indent = default_indent
        self.names: list[str] = []
        self.indents: list[str] = []
        # node, indentation of its `def` line, lines that identify it
        self.found: list[tuple[cst.FunctionDef, str, set[int]]] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.names.append(node.name.value)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.names.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.names.append(node.name.value)
        if tuple(self.names) == self.wanted:
            # The `def` line or the first decorator's, as in Target.def_lineno / lineno.
            first = node.decorators[0] if node.decorators else node
            lines = {
                self.get_metadata(PositionProvider, first).start.line,
                self.get_metadata(PositionProvider, node.name).start.line,
            }
            self.found.append((node, "".join(self.indents), lines))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.names.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        # A block's indent is relative to its parent's; None means the module's default.
        self.indents.append(self.default_indent if node.indent is None else node.indent)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock) -> None:
        self.indents.pop()

    def pick(self, lineno: int | None) -> tuple[cst.FunctionDef, str] | None:
        if lineno is not None:
            return next(((n, i) for n, i, lines in self.found if lineno in lines), None)
        for node, indent, _ in self.found:
            if not _is_overload(node):
                return node, indent
        return (self.found[0][0], self.found[0][1]) if self.found else None


def _is_overload(node: cst.FunctionDef) -> bool:
    for decorator in node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if isinstance(expr, cst.Name) and expr.value == "overload":
            return True
        if isinstance(expr, cst.Attribute) and expr.attr.value == "overload":
            return True
    return False


def _is_docstring_expr(node: cst.BaseExpression) -> bool:
    """What Python itself takes for a docstring: a plain (not bytes, not f-) string."""
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.ConcatenatedString):
        return _is_docstring_expr(node.left) and _is_docstring_expr(node.right)
    return False


def _literal(text: str, indent: str, newline: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) == 1:
        return f'"""{text}"""'
    # Blank lines stay empty: trailing whitespace would be a lint error (W293).
    body = [lines[0]] + [indent + line if line.strip() else "" for line in lines[1:]]
    return '"""' + newline.join(body) + newline + indent + '"""'


def _with_docstring(
    node: cst.FunctionDef, text: str, outer_indent: str, module: cst.Module
) -> cst.FunctionDef:
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):
        # `def f(x): return x` becomes a proper block; its statements keep their comment.
        literal = _literal(text, outer_indent + module.default_indent, module.default_newline)
        statements: list[cst.BaseStatement] = [
            cst.SimpleStatementLine(body=[cst.Expr(cst.SimpleString(literal))]),
            cst.SimpleStatementLine(body=body.body, trailing_whitespace=body.trailing_whitespace),
        ]
        return node.with_changes(body=cst.IndentedBlock(body=statements))
    assert isinstance(body, cst.IndentedBlock)
    indent = outer_indent + (module.default_indent if body.indent is None else body.indent)
    doc = cst.SimpleString(_literal(text, indent, module.default_newline))
    first = body.body[0] if body.body else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and first.body
        and isinstance(first.body[0], cst.Expr)
        and _is_docstring_expr(first.body[0].value)
    ):
        # Replace only the string: the line's comment and surroundings stay.
        old = first.body[0]
        replaced = first.with_changes(body=[old.with_changes(value=doc), *first.body[1:]])
        return node.with_changes(body=body.with_changes(body=[replaced, *body.body[1:]]))
    rest = list(body.body)
    if rest and isinstance(rest[0], cst.SimpleStatementLine | cst.BaseCompoundStatement):
        # Blank lines between the docstring and the code are a lint error (D202); the first
        # statement's comments stay with it, below the docstring.
        leading = list(rest[0].leading_lines)
        while leading and leading[0].comment is None:
            leading.pop(0)
        rest[0] = rest[0].with_changes(leading_lines=leading)
    new_line = cst.SimpleStatementLine(body=[cst.Expr(doc)])
    return node.with_changes(body=body.with_changes(body=[new_line, *rest]))


def with_docstrings(source: str, results: Sequence[TargetResult]) -> str:
    """`source` with every kept docstring of these results inserted."""
    # Bottom up, so that each insertion leaves the line numbers above it valid.
    for result in sorted(results, key=lambda r: r.target.lineno, reverse=True):
        if result.docstring.status == "kept" and result.docstring.code is not None:
            source = insert_docstring(
                source, result.target.qualname, result.docstring.code, lineno=result.target.lineno
            )
    return source
