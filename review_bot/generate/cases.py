"""The `cases` strategy: the model proposes inputs, the sandbox records what happens.

Even a 135M model can propose inputs when a JSON schema constrains its output; the
expected values then come from running the real function, so the rendered test is
right by construction and only has to prove it is stable and adds coverage.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from review_bot.generate import search
from review_bot.generate.tests import Attempts, Verifier
from review_bot.llm.chat import Message
from review_bot.llm.session import ModelSession
from review_bot.mutation import Mutant, module_relpath, shortest_cover
from review_bot.prompts import Prompts
from review_bot.records import Candidate, Param, Target, Verdict
from review_bot.sandbox import CASES_DRIVER, Sandbox
from review_bot.verify import executable_lines, import_path

MAX_STRING = 40
MAX_ITEMS = 6
_RESERVED = frozenset({"expected", "error", "pytest"})
MAX_ROWS = 12  # per parametrized test, to keep it readable
PER_CASE_S = 2.0
MAX_SURVIVORS_SHOWN = 5  # surviving mutants named in the next request for cases

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


def _param_schema(param: Param) -> dict[str, Any] | None:
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
    try:
        value = ast.literal_eval(default) if default is not None else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
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
        schema = _param_schema(param)
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
        argv = [
            "python",
            "_review_bot_cases.py",
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
        results.append(Result(case, kind, value, exc, stable, ran, own, warning))
    return results


class Row(NamedTuple):
    values: list[str]  # literal source per argument name
    expected: str


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


def _usable(
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
        if isinstance(cause := _usable(target, result, params, defaults), str)
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
        usable = _usable(target, result, params, defaults)
        if isinstance(usable, str):
            continue
        values, expected, needed = usable
        if needed:
            imports.add(needed)
        key = (result.kind, tuple(values))
        if key in seen or len(groups[result.kind]) >= MAX_ROWS:
            continue
        seen.add(key)
        groups[result.kind].append(Row(values, expected))
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
        group[:] = [Row([row.values[i] for i in kept], row.expected) for row in group]
    names = [names[i] for i in kept]
    code = prompts.render(
        "cases_test.j2",
        target=target,
        names=names,
        argnames=", ".join(names),
        call=f"{target.name}({', '.join(call_args)})",
        groups=groups,
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
        and all(_same_literal(row.values[index], param.default) for row in rows)
    }
    for index, param in enumerate(params):
        if param.kind == "positional_only" and index not in left_out:
            left_out -= set(range(index))
    return [index for index in range(len(params)) if index not in left_out]


def _same_literal(a: str, b: str, *, same_type: bool = True) -> bool:
    """Two literals' sources name equal values (`'-'` and `"-"`); with `same_type=False`,
    values `==` would call equal (`1` and `1.0`)."""
    if a == b:
        return True
    try:
        left, right = ast.literal_eval(a), ast.literal_eval(b)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
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


def _same_outcome(a: Result, b: Result) -> bool:
    """What a row of the rendered test would tell apart: values by `==` (`1 == 1.0`, as
    `assert f(x) == expected` compares), exceptions by class."""
    if (a.kind, a.exception) != (b.kind, b.exception):
        return False
    return _same_literal(a.value or "", b.value or "", same_type=False)


def case_kills(
    sandbox: Sandbox,
    target: Target,
    results: Sequence[Result],
    mutants: Sequence[Mutant],
    timeout_s: float,
) -> list[frozenset[int]]:
    """For each result (a recorded case), the mutants on which the case's outcome differs:
    the mutants its row of the rendered test would fail on. One sandbox run per mutant."""
    cases = [r.case for r in results]
    kills: list[set[int]] = [set() for _ in results]
    for index, mutant in enumerate(mutants):
        on_mutant = run_cases(sandbox, target, cases, timeout_s, mutant=mutant)
        for position, original in enumerate(results):
            if position >= len(on_mutant) or not _same_outcome(on_mutant[position], original):
                kills[position].add(index)
    return [frozenset(k) for k in kills]


# Rejections that every row together might escape, where the rows of the cut fail: a row
# that fails or varies between runs only with the others, a line only a dropped row runs.
# The mutation verdicts cannot change (the cut kills the same mutants), nor `unsafe`/`style`.
_CUT_MAY_CAUSE = frozenset({"collect", "fail", "flaky", "no-gain", "timeout"})


class Cut(NamedTuple):
    results: list[Result]  # the rows to render, in order: seeds first
    killed: int  # mutants they kill together
    searched: int  # how many of them the search found (not the model)


def _cut(
    sandbox: Sandbox,
    target: Target,
    results: Sequence[Result],
    mutants: Sequence[Mutant],
    timeout_s: float,
    found: Sequence[Result] = (),
) -> Cut | None:
    """The shortest list of `results` and `found` (the search's, generate/search.py) that
    kills every mutant and runs every line of the function that some of them kills or
    runs; the model's results win ties. None when there is nothing to cut (fewer than two
    results that make a row, or every one needed and nothing found). Made before anything is
    verified, so a function's test is verified once, as it will be kept (issue 23)."""
    # Only the results that make a row: one credited with a kill and then left out of the
    # test (a wrong-kind TypeError, a warning) would cost the test that kill.
    params = case_params(target) or []
    defaults = {p.name: p.default for p in params}
    stable = [r for r in results if isinstance(_usable(target, r, params, defaults), tuple)]
    if len(stable) + len(found) < 2:
        return None
    kills = case_kills(sandbox, target, stable, mutants, timeout_s)
    # The search's cases run only on the mutants the model's cases leave alive (often
    # none): what they could add.
    alive = [i for i in range(len(mutants)) if not any(i in k for k in kills)]
    if found and alive:
        on_alive = case_kills(sandbox, target, found, [mutants[i] for i in alive], timeout_s)
        kills += [frozenset(alive[j] for j in k) for k in on_alive]
    else:
        kills += [frozenset() for _ in found]
    pool = [*stable, *found]
    wanted = [
        frozenset({("mutant", m) for m in killed} | {("line", n) for n in result.lines})
        for killed, result in zip(kills, pool, strict=True)
    ]
    # The model's cases first; the search's only for what they leave undone.
    chosen = shortest_cover(wanted[: len(stable)])
    done = frozenset().union(*(wanted[i] for i in chosen))
    rest = [w - done for w in wanted[len(stable) :]]
    added = [len(stable) + i for i in shortest_cover(rest)] if any(rest) else []
    if not added and (not chosen or len(chosen) >= len(stable)):
        return None
    rows = [pool[i] for i in [*chosen, *added]]
    return Cut(rows, len(frozenset().union(*kills)), len(added))


def _search(
    sandbox: Sandbox, target: Target, results: Sequence[Result], timeout_s: float
) -> list[Result]:
    """The search's candidates (neighbours of the model's usable cases and the code's
    constants) that run the same way twice and make a row a test can state."""
    params = case_params(target) or []
    defaults = {p.name: p.default for p in params}
    schemas = {p.name: _param_schema(p) for p in params}
    # One seed per way the function went (outcome kind and lines run): varied seeds first.
    usable = [r for r in results if isinstance(_usable(target, r, params, defaults), tuple)]
    ways = {(r.kind, r.lines): r for r in reversed(usable)}
    firsts = [r for r in usable if ways[(r.kind, r.lines)] is r]
    ordered = [*firsts, *(r for r in usable if r not in firsts)]
    seeds = [(r.case.args, r.case.kwargs) for r in ordered]
    cases = [
        Case(args, kwargs)
        for args, kwargs in search.candidates(seeds, search.code_constants(target.source))
        if _fits(args, kwargs, params, schemas)
    ]
    if not cases:
        return []
    return [
        r
        for r in run_cases(sandbox, target, cases, timeout_s)
        if isinstance(_usable(target, r, params, defaults), tuple)
    ]


def _fits(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    params: Sequence[Param],
    schemas: dict[str, dict[str, Any] | None],
) -> bool:
    """Every value a candidate gives fits its parameter's schema (an enum stays an enum)."""
    named = dict(zip((p.name for p in params), args, strict=False)) | kwargs
    return all(_matches(value, schemas.get(name)) for name, value in named.items())


def _matches(value: Any, schema: dict[str, Any] | None) -> bool:
    if schema is None:
        return False
    if "anyOf" in schema:
        return any(_matches(value, option) for option in schema["anyOf"])
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    checks = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str) and len(value) <= schema.get("maxLength", MAX_STRING),
        "boolean": isinstance(value, bool),
        "null": value is None,
        "array": isinstance(value, list) and len(value) <= schema.get("maxItems", MAX_ITEMS),
        "object": isinstance(value, dict),
    }
    if kind not in checks or not checks[kind]:
        return False
    if kind == "array" and isinstance(schema.get("items"), dict):
        return all(_matches(item, schema["items"]) for item in value)
    return True


def _better(verdict: Verdict, best: Verdict | None) -> bool:
    """More mutants killed, then more lines covered."""
    if best is None:
        return True

    def key(v: Verdict) -> tuple[int, int]:
        return (v.mutation.killed if v.mutation else 0, len(v.covered))

    return key(verdict) > key(best)


def cases_strategy(
    target: Target,
    session: ModelSession,
    prompts: Prompts,
    verify: Verifier,
    repair_attempts: int,
    attempts: Attempts,
    *,
    sandbox: Sandbox,
    n_cases: int,
    timeout_s: float,
    mutants: Callable[[], Sequence[Mutant]] | None = None,
    improve_calls: int | None = None,
    search: bool = True,
) -> Verdict | None:
    """Propose, run, render, verify.

    A kept test that leaves lines uncovered or mutants alive is not the end: later
    attempts ask for more cases (at a higher temperature), keep the old ones, and the
    best kept test wins (most mutants killed, then most lines); at most `improve_calls`
    such calls once a test is kept (None: no limit but the attempts). With `mutants`, the
    search (`search`, generate/search.py) adds inputs near the model's, and the cases are
    cut to the shortest set that kills the same mutants before they are rendered and
    verified (if the cut alone fails, the model's cases are verified instead).
    """
    schema = case_schema(target, n_cases)
    if schema is None:
        attempts.lines.append("cases: skipped: parameters JSON cannot express")
        return None
    fields = schema["properties"]["cases"]["items"]["properties"]
    example = "{" + ", ".join(f'"{name}": ...' for name in fields) + "}"
    info = session.info()
    collected: list[Case] = []
    verdict: Verdict | None = None
    best: Verdict | None = None  # the kept test covering most lines so far
    best_cases: list[Case] = []
    wanted = executable_lines(target)
    survivors: tuple[str, ...] = ()  # the mutants the last scored test missed
    improving = 0  # model calls spent on a test that was already kept
    for attempt in range(repair_attempts + 1):
        if best is not None:
            if improve_calls is not None and improving >= improve_calls:
                break
            improving += 1
        temperature = session.temperature + 0.4 * attempt
        if info.chat_template:
            content = prompts.render(
                "cases_user.j2",
                target=target,
                n_cases=n_cases,
                example=example,
                survivors=survivors[:MAX_SURVIVORS_SHOWN],
            )
            messages: list[Message] = [{"role": "user", "content": content}]
            reply = session.chat(
                messages, json_schema=schema, seed=attempt, temperature=temperature
            )
        else:
            prompt = prompts.render("cases_complete.j2", target=target, n_cases=n_cases)
            reply = session.complete(
                prompt, json_schema=schema, seed=attempt, temperature=temperature
            )
        fresh = [c for c in parse_cases(reply, target) if c not in collected]
        collected.extend(fresh)
        if not fresh and verdict is not None:
            continue  # nothing new to try
        problems: list[str] = []
        results = run_cases(sandbox, target, collected, timeout_s, problems=problems)
        # With mutants: the search's inputs join the model's, and only the rows that kill
        # what the others do not (or run a line they do not) are rendered.
        cut = None
        if mutants:
            found = _search(sandbox, target, results, timeout_s) if search else []
            cut = _cut(sandbox, target, results, mutants(), timeout_s, found)
        code, rows = render_test(target, cut.results if cut else results, prompts)
        candidate = Candidate(target, "cases", code, attempt)
        if rows == 0:
            why = problems[0] if problems else unusable_causes(target, collected, results)
            detail = f"no usable case among {len(collected)} proposed: {why}"
            verdict = Verdict(candidate, False, "collect", detail, 0, 0, frozenset(), frozenset())
        else:
            verdict = verify(candidate)
            if cut is not None and verdict.reason in _CUT_MAY_CAUSE:
                # The cut rows alone did not pass where every row might: verify those.
                attempts.add(verdict)
                code, rows = render_test(target, results, prompts)
                verdict = verify(Candidate(target, "cases", code, attempt))
                cut = None
        attempts.add(verdict)
        if cut is not None and verdict.kept:
            searched = f", {cut.searched} of them found by the search" if cut.searched else ""
            attempts.lines.append(
                f"cases#{attempt}: kept {len(cut.results)} cases{searched} of the "
                f"{len(results)} proposed, killing {cut.killed} mutants"
            )
        if verdict.mutation is not None:
            survivors = verdict.mutation.survived
        if verdict.kept:
            if _better(verdict, best):
                best, best_cases = verdict, list(collected)
            alive = verdict.mutation is not None and bool(verdict.mutation.survived)
            if wanted <= verdict.covered | verdict.baseline and not alive:
                break  # every line covered, every mutant killed: nothing left to gain
        elif best is not None:
            # The new cases spoiled a kept test (e.g. one varies between runs): go on
            # from the cases that passed.
            collected = list(best_cases)
    return best or verdict
