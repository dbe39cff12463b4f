"""The `cases` strategy's cases: the model proposes inputs, the sandbox records what happens.

Even a 135M model can propose inputs when a JSON schema constrains its output; the
expected values then come from running the real function, so the rendered test is
right by construction and only has to prove it is stable and adds coverage. Here: the
schema the model fills, reading its reply, running the cases (sandbox/cases_driver.py),
and rendering the recorded results as a parametrized test. Which rows a test keeps is
generate/cases_cut.py; the strategy's loop is generate/cases_strategy.py.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from review_bot.generate.pyast import literal
from review_bot.mutation import Mutant, module_relpath
from review_bot.prompts import Prompts
from review_bot.records import Param, Target
from review_bot.sandbox import CASES_DRIVER, Sandbox
from review_bot.style import escaped, regex_literal
from review_bot.verify import import_path

MAX_STRING = 40
MAX_ITEMS = 6
_RESERVED = frozenset({"expected", "error", "pytest"})
MAX_ROWS = 12  # per parametrized test, to keep it readable
PER_CASE_S = 2.0
MAX_SURVIVORS_SHOWN = 5  # surviving mutants named in the next request for cases
# The longest `match=` literal a raises row states: alone on its line once a formatter
# splits the row, it fits 79 columns.
MAX_MATCH = 64

_SIMPLE = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "complex": None,
    "str": {"type": "string", "maxLength": MAX_STRING},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "bytes": None,
}
_ANY: dict[str, Any] = {
    "anyOf": [
        {"type": "integer"},
        {"type": "string", "maxLength": MAX_STRING},
        {"type": "array", "items": {"type": "integer"}, "maxItems": MAX_ITEMS},
        {"type": "boolean"},
        {"type": "null"},
    ]
}


class Case(NamedTuple):
    args: tuple[Any, ...]  # positional arguments (JSON values)
    kwargs: dict[str, Any]  # keyword-only arguments


class Result(NamedTuple):
    case: Case
    kind: str  # "returns" | "yields" | "raises" | "timeout"
    value: str | None  # literal source of the result
    exception: tuple[str, str] | None  # (module, qualname)
    stable: bool
    lines: frozenset[int] = frozenset()  # the function's lines the case ran
    # the exception came from a `raise` of the code, not from Python refusing an argument
    own: bool = True
    warns: str | None = None  # the category of the first warning the call emitted
    # what a `raise` of the code said, where a test can state it (the same on both calls)
    message: str | None = None


def _schema_of(annotation: ast.expr | None) -> dict[str, Any] | None:
    """JSON schema for an annotation; None when no JSON value can be one."""
    if annotation is None:
        return _ANY
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return _schema_of(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return _ANY
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return {"type": "null"}
    if isinstance(annotation, (ast.Name, ast.Attribute)):
        name = annotation.id if isinstance(annotation, ast.Name) else annotation.attr
        if name in _SIMPLE:
            return _SIMPLE[name]
        if name in ("list", "List", "Sequence", "Iterable", "tuple", "Tuple", "set", "Set"):
            return {"type": "array", "items": _ANY, "maxItems": MAX_ITEMS}
        if name in ("dict", "Dict", "Mapping"):
            return {"type": "object", "maxProperties": MAX_ITEMS}
        if name in ("Any", "object"):
            return _ANY
        return None  # a class of the user's: JSON cannot build one
    if isinstance(annotation, ast.Subscript):
        base = annotation.value
        base_name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
        inner = annotation.slice
        parts = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if base_name == "Optional":
            sub = _schema_of(parts[0])
            return None if sub is None else {"anyOf": [sub, {"type": "null"}]}
        if base_name == "Union":
            return _union(parts)
        if base_name in ("list", "List", "Sequence", "Iterable", "set", "Set", "tuple", "Tuple"):
            item = _schema_of(parts[0]) if parts else _ANY
            if item is None:
                return None
            return {"type": "array", "items": item, "maxItems": MAX_ITEMS}
        if base_name in ("dict", "Dict", "Mapping"):
            return {"type": "object", "maxProperties": MAX_ITEMS}
        if base_name == "Literal":
            values = [p.value for p in parts if isinstance(p, ast.Constant)]
            return {"enum": values} if values else None
        return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _union([annotation.left, annotation.right])
    return _ANY


def _union(parts: Sequence[ast.expr]) -> dict[str, Any] | None:
    subs = [_schema_of(p) for p in parts]
    usable = [s for s in subs if s is not None]
    return {"anyOf": usable} if usable else None


def param_schema(param: Param) -> dict[str, Any] | None:
    if param.annotation is None:
        return _default_schema(param.default)
    try:
        expr = ast.parse(param.annotation, mode="eval").body
    except SyntaxError:
        return _ANY
    return _schema_of(expr)


def _default_schema(default: str | None) -> dict[str, Any]:
    """An unannotated parameter takes the JSON type of its literal default (`ext_only=False`
    is a boolean: the model filled it with strings, issue 24); else any JSON value."""
    known, value = literal(default)
    if not known:
        return _ANY
    if type(value) in (bool, int, float, str):
        return _SIMPLE[type(value).__name__] or _ANY
    return _ANY


def case_params(target: Target) -> list[Param] | None:
    """The parameters a case gives values for; None when the target cannot be called so."""
    if target.is_method:
        return None  # needs an instance: left to the chat/complete strategies
    params: list[Param] = []
    for param in target.params:
        if param.kind in ("vararg", "varkw"):
            continue
        params.append(param)
    return params


def case_schema(target: Target, n_cases: int) -> dict[str, Any] | None:
    params = case_params(target)
    if params is None:
        return None
    properties: dict[str, Any] = {}
    for param in params:
        schema = param_schema(param)
        if schema is None:
            if param.default is None:
                return None  # a required argument JSON cannot express
            continue
        properties[param.name] = schema
    item = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            # At least a few cases: one is rarely enough to reach more than one branch.
            "cases": {
                "type": "array",
                "items": item,
                "minItems": min(3, n_cases),
                "maxItems": n_cases,
            }
        },
        "required": ["cases"],
        "additionalProperties": False,
    }


def parse_cases(text: str, target: Target) -> list[Case]:
    """Cases from the model's JSON; invalid entries are dropped, not trusted."""
    params = case_params(target) or []
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return []
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return []
    raw = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    out: list[Case] = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        case = _case_from_mapping(entry, params)
        if case is not None and case not in out:
            out.append(case)
    return out


def _case_from_mapping(entry: dict[str, Any], params: Sequence[Param]) -> Case | None:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in params:
        if param.name in entry:
            value = entry[param.name]
        elif param.default is not None:
            continue  # leave it to its default; later positionals go by keyword
        else:
            return None
        if param.kind in ("positional_only", "positional") and len(args) == _index(params, param):
            args.append(value)
        else:
            kwargs[param.name] = value
    return Case(tuple(args), kwargs)


def _index(params: Sequence[Param], param: Param) -> int:
    return [p.name for p in params].index(param.name)


def run_cases(
    sandbox: Sandbox,
    target: Target,
    cases: Sequence[Case],
    timeout_s: float,
    *,
    mutant: Mutant | None = None,
    problems: list[str] | None = None,
) -> list[Result]:
    """Call the target on each case in the sandbox; results that vary are marked.

    With `mutant`, the target's module in the workspace is that mutant's source. When
    the driver leaves no results, why is appended to `problems` (when given).
    """
    payload = json.dumps([{"args": list(c.args), "kwargs": c.kwargs} for c in cases])
    files = {
        "_review_bot_cases.py": CASES_DRIVER.read_text(encoding="utf-8"),
        "_review_bot_cases.json": payload,
    }
    if mutant is not None:
        files[module_relpath(sandbox, target)] = mutant.source
    with sandbox.workspace(files) as ws:
        # `-m`: a fork of the sandbox's warm interpreter where it has one (a new Python
        # process costs more than the cases; a function's cut runs them once per mutant).
        argv = [
            "python",
            "-m",
            "_review_bot_cases",
            target.module,
            target.qualname,
            "_review_bot_cases.json",
            "_review_bot_results.json",
            str(PER_CASE_S),
        ]
        run = ws.run(argv, timeout_s=timeout_s, pythonpath=import_path(sandbox, target))
        raw = ws.read("_review_bot_results.json")
    if raw is None:
        if problems is not None:
            problems.append(_driver_problem(run.output, run.timed_out, timeout_s))
        return []
    try:
        records = json.loads(raw)
    except json.JSONDecodeError:
        return []
    results: list[Result] = []
    for case, rec in zip(cases, records, strict=False):
        exc = (rec["module"], rec["qualname"]) if rec.get("kind") == "raises" else None
        lines = rec.get("lines") if isinstance(rec.get("lines"), list) else []
        ran = frozenset(n for n in lines if isinstance(n, int))
        kind, value, stable = rec.get("kind", "timeout"), rec.get("value"), bool(rec.get("stable"))
        own, warns = rec.get("own") is not False, rec.get("warns")
        warning = warns if isinstance(warns, str) else None
        said = rec.get("message") if isinstance(rec.get("message"), str) else None
        results.append(Result(case, kind, value, exc, stable, ran, own, warning, said))
    return results


class Row(NamedTuple):
    values: list[str]  # literal source per argument name
    expected: str
    match: str = "None"  # a raises row: the literal of the pattern its message must match


def _exception_ref(target: Target, module: str, qualname: str) -> tuple[str, str | None] | None:
    """How the test names an exception class, and the import it needs."""
    if "<locals>" in qualname:
        return None
    if module == "builtins":
        return qualname, None
    if module == target.module:
        head = qualname.split(".")[0]
        return qualname, f"from {target.module} import {head}"
    return f"{module}.{qualname}", f"import {module}"


def _driver_problem(output: str, timed_out: bool, timeout_s: float) -> str:
    if timed_out:
        return f"the cases ran past {timeout_s:g} s"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else "no output"
    return f"the cases did not run: {last}"


def row_of(
    target: Target, result: Result, params: Sequence[Param], defaults: dict[str, str | None]
) -> tuple[list[str], str, str | None] | str:
    """(row values, expected, import needed) for a result a test can state, else why not."""
    if result.kind == "timeout":
        return "timed out"
    if not result.stable:
        return "its outcome varied between runs"
    if result.warns:
        return f"it emits a {result.warns}"
    values = _row_values(result.case, params, defaults)
    if values is None:
        return "an argument without a value"
    if result.kind == "raises" and result.exception is not None:
        if _wrong_kind(target, result):
            return f"a {result.exception[1]} Python raised on an argument of the wrong kind"
        ref = _exception_ref(target, *result.exception)
        if ref is None:
            return f"raised {result.exception[1]}, which a test cannot name"
        return values, ref[0], ref[1]
    if result.kind in ("returns", "yields") and result.value is not None:
        return values, result.value, None
    return f"its {'value' if result.kind != 'raises' else 'exception'} has no literal form"


# What Python raises when an argument contradicts the code's use of it (`len(5)`,
# `None.strip()`): a row stating it tests the language, not the function (issue 24).
_WRONG_KIND = frozenset({("builtins", "TypeError"), ("builtins", "AttributeError")})


def _wrong_kind(target: Target, result: Result) -> bool:
    """A TypeError/AttributeError that no `raise` of the code made and the docstring does
    not promise."""
    if result.own or result.exception not in _WRONG_KIND:
        return False
    return result.exception[1] not in (target.docstring or "")


def unusable_causes(target: Target, cases: Sequence[Case], results: Sequence[Result]) -> str:
    """Why none of `cases` became a row, the causes counted, most common first
    (issue 21: "no usable case among N proposed" said nothing of why)."""
    if not cases:
        return "the reply held no case that fits the signature"
    if not results:
        return "the cases did not run"
    params = case_params(target) or []
    defaults = {p.name: p.default for p in params}
    causes = Counter(
        cause
        for result in results
        if isinstance(cause := row_of(target, result, params, defaults), str)
    )
    return "; ".join(f"{n} {cause}" for cause, n in causes.most_common())


def render_test(target: Target, results: Sequence[Result], prompts: Prompts) -> tuple[str, int]:
    """A parametrized pytest module from the recorded results, and how many rows it has."""
    params = case_params(target) or []
    # Columns are named after the parameters, renamed where they would clash.
    names = [f"{p.name}_" if p.name in _RESERVED else p.name for p in params]
    groups: dict[str, list[Row]] = {"returns": [], "yields": [], "raises": []}
    imports: set[str] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    # Each case fills every column: missing arguments show their default.
    defaults = {p.name: p.default for p in params}
    for result in results:
        usable = row_of(target, result, params, defaults)
        if isinstance(usable, str):
            continue
        values, expected, needed = usable
        if needed:
            imports.add(needed)
        key = (result.kind, tuple(values))
        if key in seen or len(groups[result.kind]) >= MAX_ROWS:
            continue
        seen.add(key)
        regex = message_regex(result.message) if result.kind == "raises" else None
        groups[result.kind].append(Row(values, expected, regex_literal(regex) if regex else "None"))
    rows = sum(len(g) for g in groups.values())
    # A parameter every row gives its default is left out of the call: the test reads as
    # the function is used, and a change of the default itself fails it (issue 24).
    kept = _columns(params, [row for group in groups.values() for row in group])
    call_args = []
    by_keyword = False
    for index, (name, param) in enumerate(zip(names, params, strict=True)):
        if index not in kept:
            by_keyword = True  # the later ones go by name
        elif param.kind in ("positional_only", "positional") and not by_keyword:
            call_args.append(name)
        else:
            call_args.append(f"{param.name}={name}")
    for group in groups.values():
        group[:] = [row._replace(values=[row.values[i] for i in kept]) for row in group]
    names = [names[i] for i in kept]
    code = prompts.render(
        "cases_test.j2",
        target=target,
        names=names,
        argnames=", ".join(names),
        call=f"{target.name}({', '.join(call_args)})",
        groups=groups,
        matched=any(row.match != "None" for row in groups["raises"]),
        imports=sorted(imports),
    )
    return code, rows


def _columns(params: Sequence[Param], rows: Sequence[Row]) -> list[int]:
    """The parameters the test passes: all but those every row gives their default (and
    never one before a positional-only parameter that is passed, which cannot go by name)."""
    left_out = {
        index
        for index, param in enumerate(params)
        if param.default is not None
        and rows
        and all(same_literal(row.values[index], param.default) for row in rows)
    }
    for index, param in enumerate(params):
        if param.kind == "positional_only" and index not in left_out:
            left_out -= set(range(index))
    return [index for index in range(len(params)) if index not in left_out]


def message_regex(message: str | None) -> str | None:
    """The `match=` pattern a row states for `message`: anchored at both ends where the
    whole message fits a short literal (a mutant that adds to it or changes it fails),
    else its first words anchored at the start; None when there is nothing to state.

    >>> message_regex("expected max_len greater than 3, not -1")
    '^expected max_len greater than 3, not -1$'
    >>> message_regex("bad value: 'x.y'")
    "^bad value: 'x\\\\.y'$"
    >>> print(message_regex("expected max_len greater than length of ellipsis '...', not -10"))
    ^expected max_len greater than length of ellipsis '\\.\\.\\.',
    """
    if not message or message != message.strip():
        return None
    whole = "^" + escaped(message) + "$"
    if len(regex_literal(whole)) <= MAX_MATCH:
        return whole
    words = message.split(" ")
    while len(words) > 1:
        words.pop()
        start = "^" + escaped(" ".join(words))
        if len(regex_literal(start)) <= MAX_MATCH:
            return start if len(words) >= 3 else None
    return None


def same_literal(a: str, b: str, *, same_type: bool = True) -> bool:
    """Two literals' sources name equal values (`'-'` and `"-"`); with `same_type=False`,
    values `==` would call equal (`1` and `1.0`)."""
    if a == b:
        return True
    (known_left, left), (known_right, right) = literal(a), literal(b)
    if not (known_left and known_right):
        return False
    return (not same_type or type(left) is type(right)) and bool(left == right)


def _row_values(
    case: Case, params: Sequence[Param], defaults: dict[str, str | None]
) -> list[str] | None:
    values: list[str] = []
    positional = list(case.args)
    for index, param in enumerate(params):
        if index < len(positional):
            values.append(repr(positional[index]))
        elif param.name in case.kwargs:
            values.append(repr(case.kwargs[param.name]))
        else:
            default = defaults.get(param.name)
            if default is None:
                return None
            values.append(default)
    return values
