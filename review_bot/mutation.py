"""Mutation analysis: does a kept test catch bugs in the function it tests?

`mutants` makes small, plausible bugs in the target function's body only, one per mutant,
each a whole module source in which nothing outside that body changed. The operators
follow mutmut's (its `node_mutation.py`, libcst based like this module), restricted to
the ones that model a slip of the author:

- comparison: `==` <-> `!=`, `<` <-> `<=`, `>` <-> `>=`, `is` <-> `is not`,
  `in` <-> `not in`;
- arithmetic: `+` <-> `-`, `*` <-> `/`, `//` and `%` -> `/`, `**` -> `*`, `<<` <-> `>>`,
  `&` <-> `|`, `^` -> `&`, the augmented assignments alike, unary `-` <-> `+`;
- boolean: `and` <-> `or`, `not x` -> `x`;
- constant: an int or float `n` -> `n + 1`, `True` <-> `False`, a string `"s"` -> `"XXsXX"`;
- return value: `return x` -> `return None`;
- condition negation: `if c` / `elif c` / `while c` -> `... not (c)`;
- `break` <-> `continue`;
- stub (PIT's return-value mutators): the whole body -> `return C`, C a constant of the
  annotated return type (`True` and `False` for `bool`, `0`, `""`, `[]`, ..., else `None`).
  A test that a stub survives accepts a function that computes nothing: `no-kill`.

Mutants that do not compile, or whose source repeats another's, are dropped; the stubs
are always kept, the others up to `max_mutants` in all, spread evenly over the function
in source order (deterministic).

`score` runs a test module against each mutant in the sandbox: a fresh workspace whose
copy of the target's module is the mutant, one pytest run with `-x` (a fork of the warm
interpreter when the sandbox has one). A mutant is *killed* when the run fails for any
reason: a failing test, an error at import, a crash, a limit. Equivalent mutants (a
change that does not change behaviour, e.g. `<` -> `<=` where equality cannot happen)
are not detected: they count as survivors, so 100 % is not always reachable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from review_bot.records import Candidate, MutationScore, Target, Verdict
from review_bot.sandbox import Sandbox

__all__ = [
    "DEFAULT_MAX_MUTANTS",
    "MUTANT_TIMEOUT_S",
    "Mutant",
    "all_mutants",
    "judge",
    "kills",
    "module_relpath",
    "mutants",
    "score",
    "select",
    "shortest_cover",
]

DEFAULT_MAX_MUTANTS: Final = 20
_T = TypeVar("_T")
MUTANT_TIMEOUT_S: Final = 10.0  # per mutant run, capped by the sandbox's own limit
_SHOWN: Final = 30  # characters of code in a mutant's description

_PYTEST: Final = ("-q", "-p", "no:cacheprovider", "-o", "addopts=", "-x", "--tb=no")


class Mutant(NamedTuple):
    line: int  # line of the change in the module
    description: str  # "line 12: `<` -> `<=`"
    source: str  # the whole module, with only the target's body changed
    stub: bool = False  # the whole body replaced by `return <constant>`


# -- generation ----------------------------------------------------------------

_SWAPS: Final[dict[type[cst.CSTNode], type[cst.CSTNode]]] = {
    # comparison
    cst.Equal: cst.NotEqual,
    cst.NotEqual: cst.Equal,
    cst.LessThan: cst.LessThanEqual,
    cst.LessThanEqual: cst.LessThan,
    cst.GreaterThan: cst.GreaterThanEqual,
    cst.GreaterThanEqual: cst.GreaterThan,
    cst.Is: cst.IsNot,
    cst.IsNot: cst.Is,
    cst.In: cst.NotIn,
    cst.NotIn: cst.In,
    # arithmetic
    cst.Add: cst.Subtract,
    cst.Subtract: cst.Add,
    cst.Multiply: cst.Divide,
    cst.Divide: cst.Multiply,
    cst.FloorDivide: cst.Divide,
    cst.Modulo: cst.Divide,
    cst.Power: cst.Multiply,
    cst.LeftShift: cst.RightShift,
    cst.RightShift: cst.LeftShift,
    cst.BitAnd: cst.BitOr,
    cst.BitOr: cst.BitAnd,
    cst.BitXor: cst.BitAnd,
    cst.Plus: cst.Minus,
    cst.Minus: cst.Plus,
    cst.AddAssign: cst.SubtractAssign,
    cst.SubtractAssign: cst.AddAssign,
    cst.MultiplyAssign: cst.DivideAssign,
    cst.DivideAssign: cst.MultiplyAssign,
    cst.FloorDivideAssign: cst.DivideAssign,
    cst.ModuloAssign: cst.DivideAssign,
    cst.PowerAssign: cst.MultiplyAssign,
    # boolean
    cst.And: cst.Or,
    cst.Or: cst.And,
}

_Replacement = tuple[cst.CSTNode, str]  # the new node, and what it shows


def _code(node: cst.CSTNode) -> str:
    text = " ".join(cst.Module(body=[]).code_for_node(node).split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _parenthesized(expression: cst.BaseExpression) -> cst.BaseExpression:
    if expression.lpar:
        return expression
    return expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _negated(test: cst.BaseExpression) -> cst.BaseExpression:
    return cst.UnaryOperation(operator=cst.Not(), expression=_parenthesized(test))


def _replacements(node: cst.CSTNode) -> Iterator[_Replacement]:
    """The mutations of one node, each a new node to put in its place."""
    if isinstance(node, cst.BinaryOperation | cst.BooleanOperation | cst.AugAssign):
        swap = _SWAPS.get(type(node.operator))
        if swap is not None:
            new_operator = swap()
            yield node.with_changes(operator=new_operator), _code(new_operator)
    elif isinstance(node, cst.ComparisonTarget):
        swap = _SWAPS.get(type(node.operator))
        if swap is not None:
            new_operator = swap()
            yield node.with_changes(operator=new_operator), _code(new_operator)
    elif isinstance(node, cst.UnaryOperation):
        if isinstance(node.operator, cst.Not):
            yield node.expression, _code(node.expression)
        else:
            swap = _SWAPS.get(type(node.operator))
            if swap is not None:
                new_operator = swap()
                yield node.with_changes(operator=new_operator), _code(new_operator)
    elif isinstance(node, cst.Integer | cst.Float):
        value = node.evaluated_value
        if isinstance(value, int | float):
            new_value = repr(value + 1)
            yield node.with_changes(value=new_value), new_value
    elif isinstance(node, cst.Name) and node.value in ("True", "False"):
        new_name = "False" if node.value == "True" else "True"
        yield node.with_changes(value=new_name), new_name
    elif isinstance(node, cst.SimpleString):
        yield from _string_mutation(node)
    elif isinstance(node, cst.Return):
        returned = node.value
        if returned is not None and not (
            isinstance(returned, cst.Name) and returned.value == "None"
        ):
            new_return = node.with_changes(value=cst.Name("None"))
            yield new_return, "return None"
    elif isinstance(node, cst.If | cst.While):
        keyword = "while" if isinstance(node, cst.While) else "if"
        negated = _negated(node.test)
        yield node.with_changes(test=negated), f"{keyword} {_code(negated)}"
    elif isinstance(node, cst.Break):
        yield cst.Continue(semicolon=node.semicolon), "continue"
    elif isinstance(node, cst.Continue):
        yield cst.Break(semicolon=node.semicolon), "break"


def _string_mutation(node: cst.SimpleString) -> Iterator[_Replacement]:
    quote_at = min(i for i in (node.value.find('"'), node.value.find("'")) if i >= 0)
    prefix, body = node.value[:quote_at], node.value[quote_at:]
    if body.startswith(('"""', "'''")):
        return  # docstrings and other prose: mutating them tests nothing
    new_value = f"{prefix}{body[0]}XX{body[1:-1]}XX{body[-1]}"
    yield node.with_changes(value=new_value), new_value


def _shown_before(node: cst.CSTNode) -> str:
    if isinstance(node, cst.BinaryOperation | cst.BooleanOperation | cst.AugAssign):
        return _code(node.operator)
    if isinstance(node, cst.ComparisonTarget):
        return _code(node.operator)
    if isinstance(node, cst.UnaryOperation):
        return _code(node) if isinstance(node.operator, cst.Not) else _code(node.operator)
    if isinstance(node, cst.If | cst.While):
        keyword = "while" if isinstance(node, cst.While) else "if"
        return f"{keyword} {_code(node.test)}"
    if isinstance(node, cst.Return):
        return _code(node).rstrip(";")
    return _code(node)


class _Collector(cst.CSTVisitor):
    """Every node of the visited statements that an operator applies to, in source order,
    with its line (from positions the caller resolved for the whole module)."""

    def __init__(self, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        super().__init__()
        self.positions = positions
        self.points: list[tuple[cst.CSTNode, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Decorator | cst.Annotation):
            return False  # evaluated once, at import: not the function's behaviour
        if next(_replacements(node), None) is not None:
            self.points.append((node, self.positions[node].start.line))
        return True


def _function(wrapper: MetadataWrapper, target: Target) -> cst.FunctionDef | None:
    positions = wrapper.resolve(PositionProvider)
    for node in positions:
        if (
            isinstance(node, cst.FunctionDef)
            and node.name.value == target.name
            and positions[node.name].start.line == target.def_lineno
        ):
            return node
    return None


def _body_statements(function: cst.FunctionDef) -> Sequence[cst.CSTNode]:
    body = function.body
    statements: Sequence[cst.CSTNode] = body.body if isinstance(body, cst.IndentedBlock) else [body]
    first = statements[0] if statements else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    ):
        statements = statements[1:]  # the docstring
    return statements


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<mutant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


# Stub values by return annotation, after PIT's return-value mutators (true, false,
# empty, null returns): the simplest wrong implementations a test must tell apart.
_STUBS: Final[dict[str, tuple[str, ...]]] = {
    "bool": ("True", "False"),
    "int": ("0",),
    "float": ("0.0",),
    "str": ('""',),
    "bytes": ('b""',),
    "list": ("[]",),
    "List": ("[]",),
    "Sequence": ("[]",),
    "tuple": ("()",),
    "Tuple": ("()",),
    "dict": ("{}",),
    "Dict": ("{}",),
    "Mapping": ("{}",),
    "set": ("set()",),
    "Set": ("set()",),
}


def _stub_values(function: cst.FunctionDef) -> tuple[str, ...]:
    """The constants a stub of the function returns; none for a generator or a function
    annotated to return None (a stub would be the function itself, or not a generator)."""
    if _is_generator(function):
        return ()
    returns = function.returns
    if returns is None:
        return ("None",)
    annotation = returns.annotation
    if isinstance(annotation, cst.Subscript):
        annotation = annotation.value
    name = ""
    if isinstance(annotation, cst.Name):
        name = annotation.value
    elif isinstance(annotation, cst.Attribute):
        name = annotation.attr.value
    elif isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value
        name = text.split("[")[0].strip() if isinstance(text, str) else ""
    if name == "None":
        return ()
    return _STUBS.get(name, ("None",))


class _Yields(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_Yield(self, node: cst.Yield) -> bool:
        self.found = True
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested function's yields are its own

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _is_generator(function: cst.FunctionDef) -> bool:
    finder = _Yields()
    function.body.visit(finder)
    return finder.found


class _Source:
    """The module's text, edited by (line, column) spans as libcst's positions give them.

    Each mutant is the original text with one span replaced: cheaper by far than having
    libcst rebuild and print the whole module per mutant, and nothing outside the span
    (formatting, comments) can change.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for line in text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, position: CodePosition) -> int:
        return self.starts[position.line - 1] + position.column

    def span(self, start: CodePosition, end: CodePosition) -> str:
        return self.text[self.offset(start) : self.offset(end)]

    def replace(self, start: CodePosition, end: CodePosition, new: str) -> str:
        return self.text[: self.offset(start)] + new + self.text[self.offset(end) :]


def _edit(
    node: cst.CSTNode,
    new: cst.CSTNode,
    positions: Mapping[cst.CSTNode, CodeRange],
    source: _Source,
) -> str:
    """The module's source with `node` replaced by `new` (one of its `_replacements`)."""
    if isinstance(
        node,
        cst.BinaryOperation
        | cst.BooleanOperation
        | cst.AugAssign
        | cst.ComparisonTarget
        | cst.UnaryOperation,
    ) and not (isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not)):
        assert isinstance(
            new,
            cst.BinaryOperation
            | cst.BooleanOperation
            | cst.AugAssign
            | cst.ComparisonTarget
            | cst.UnaryOperation,
        )
        where = positions[node.operator]
        return source.replace(where.start, where.end, _code(new.operator))
    if isinstance(node, cst.If | cst.While):
        where = positions[node.test]
        test = source.span(where.start, where.end)
        return source.replace(where.start, where.end, f"not ({test})")
    where = positions[node]
    return source.replace(where.start, where.end, cst.Module(body=[]).code_for_node(new))


def _stubs(
    function: cst.FunctionDef, positions: Mapping[cst.CSTNode, CodeRange], source: _Source
) -> Iterator[tuple[str, str, int]]:
    """(source, description, line) of each stub: the body less its docstring -> `return C`."""
    statements = _body_statements(function)
    if not isinstance(function.body, cst.IndentedBlock) or not statements:
        return
    start, end = positions[statements[0]].start, positions[statements[-1]].end
    ending = "\n" if source.span(start, end).endswith("\n") else ""
    for value in _stub_values(function):
        text = source.replace(start, end, f"return {value}{ending}")
        yield text, f"line {start.line}: body -> `return {value}`", start.line


def all_mutants(target: Target) -> list[Mutant]:
    """Every compiling, distinct mutant of the target's body: the stubs first, then the
    operators' mutants in source order."""
    try:
        module = cst.parse_module(target.module_source)
    except cst.ParserSyntaxError:
        return []
    wrapper = MetadataWrapper(module)
    function = _function(wrapper, target)
    if function is None:
        return []
    positions = wrapper.resolve(PositionProvider)
    source = _Source(wrapper.module.code)
    collector = _Collector(positions)
    for statement in _body_statements(function):
        statement.visit(collector)
    seen = {source.text}
    found: list[Mutant] = []
    for text, description, line in _stubs(function, positions, source):
        if text not in seen and _compiles(text):
            seen.add(text)
            found.append(Mutant(line, description, text, stub=True))
    for node, line in collector.points:
        before = _shown_before(node)
        for new, after in _replacements(node):
            text = _edit(node, new, positions, source)
            if text in seen or not _compiles(text):
                continue
            seen.add(text)
            found.append(Mutant(line, f"line {line}: `{before}` -> `{after}`", text))
    return found


def select(found: Sequence[Mutant], max_mutants: int) -> list[Mutant]:
    """The stubs, and operators' mutants up to `max_mutants` in all, spread evenly over the
    function (`found` is in source order)."""
    stubs = [m for m in found if m.stub]
    others = [m for m in found if not m.stub]
    room = max(max_mutants - len(stubs), 0)
    if len(others) > room:
        others = [others[i * len(others) // room] for i in range(room)]
    return [*stubs, *others]


def mutants(target: Target, max_mutants: int = DEFAULT_MAX_MUTANTS) -> list[Mutant]:
    """The mutants a kept test of `target` is scored against."""
    return select(all_mutants(target), max_mutants)


# -- scoring ---------------------------------------------------------------------


def module_relpath(sandbox: Sandbox, target: Target) -> str:
    """Where the target's module lies in a workspace of `sandbox`."""
    return Path(target.path).resolve().relative_to(sandbox.root).as_posix()


def kills(
    sandbox: Sandbox,
    candidate: Candidate,
    mutant: Mutant,
    *,
    test_relpath: str,
    timeout_s: float = MUTANT_TIMEOUT_S,
) -> bool:
    """Whether the candidate test fails against the mutant (any failure counts)."""
    from review_bot.verify import import_path

    target = candidate.target
    files = {module_relpath(sandbox, target): mutant.source, test_relpath: candidate.code}
    timeout = min(timeout_s, sandbox.limits.timeout_s)
    with sandbox.workspace(files) as ws:
        argv = ["python", "-m", "pytest", *_PYTEST, test_relpath]
        result = ws.run(argv, timeout_s=timeout, pythonpath=import_path(sandbox, target))
    return result.timed_out or result.returncode != 0


def score(
    sandbox: Sandbox,
    candidate: Candidate,
    found: Sequence[Mutant],
    *,
    test_relpath: str,
    timeout_s: float = MUTANT_TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> MutationScore:
    """Run the candidate once against each mutant; which ones it kills.

    A candidate whose rows' calls already ran on every mutant (`Candidate.seen_kills`, the
    cases cut) is run only on the first mutant seen killed, as a check that the rendered
    test fails where its calls did, and on the mutants none of its calls was seen to
    kill: a check that disagrees means the whole score is run here.
    """

    def run(index: int) -> bool:
        if progress is not None:
            progress(index + 1, len(found))
        return kills(
            sandbox, candidate, found[index], test_relpath=test_relpath, timeout_s=timeout_s
        )

    seen = sorted(i for i in candidate.seen_kills or () if i < len(found))
    killed: set[int] = set()
    checked: set[int] = set()
    if seen:
        checked.add(seen[0])
        if run(seen[0]):
            killed.update(seen)
        # else the calls and the test disagree: every other mutant is run here
    rest = [i for i in range(len(found)) if i not in killed | checked]
    killed.update(i for i in rest if run(i))
    missed = [m for i, m in enumerate(found) if i not in killed]
    survived = tuple(m.description for m in missed)
    stub = next((m.description for m in missed if m.stub), None)
    return MutationScore(len(killed), len(found), survived, stub)


def shortest_cover(kills: Sequence[frozenset[_T]]) -> list[int]:
    """Indices of a short list of sets whose union is the union of all `kills` (greedy set
    cover: each step takes the set that adds most, the first on a tie), in their order."""
    wanted: frozenset[_T] = frozenset().union(*kills) if kills else frozenset()
    chosen: list[int] = []
    covered: set[_T] = set()
    while covered != wanted:
        gains = [len(k - covered) for k in kills]
        best = max(range(len(kills)), key=lambda i: (gains[i], -i))
        chosen.append(best)
        covered |= kills[best]
    return sorted(chosen)


def judge(verdict: Verdict, result: MutationScore, min_score: float) -> Verdict:
    """The verdict of a kept test once its mutation score is known.

    No mutant killed (of at least one), or a stub that returns a constant not killed:
    `no-kill`; a score under `min_score` (a fraction, 0 to 1): `low-mutation`. Otherwise
    the test stays kept, the score recorded.
    """
    verdict = verdict._replace(mutation=result)
    if not verdict.kept or result.total == 0:
        return verdict
    shown = f"kills {result.killed} of {result.total} mutants"
    survivors = "; survivors: " + ", ".join(result.survived[:3]) if result.survived else ""
    name = verdict.candidate.target.qualname
    if result.killed == 0:
        detail = f"passes against every mutant of {name}: {shown}"
        return verdict._replace(kept=False, reason="no-kill", detail=detail + survivors)
    if result.stub_survived is not None:
        stub = result.stub_survived.split("body -> ", 1)[-1]
        detail = f"passes when the body of {name} is only {stub}: {shown}"
        return verdict._replace(kept=False, reason="no-kill", detail=detail + survivors)
    if result.killed < min_score * result.total:
        detail = f"{shown}, under min_mutation_score {min_score:g}{survivors}"
        return verdict._replace(kept=False, reason="low-mutation", detail=detail)
    return verdict._replace(detail=f"{verdict.detail}; {shown}")
