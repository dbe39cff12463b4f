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
        return _ANY
    try:
        expr = ast.parse(param.annotation, mode="eval").body
    except SyntaxError:
        return _ANY
    return _schema_of(expr)


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
        results.append(Result(case, kind, value, exc, stable, ran))
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
    values = _row_values(result.case, params, defaults)
    if values is None:
        return "an argument without a value"
    if result.kind == "raises" and result.exception is not None:
        ref = _exception_ref(target, *result.exception)
        if ref is None:
            return f"raised {result.exception[1]}, which a test cannot name"
        return values, ref[0], ref[1]
    if result.kind in ("returns", "yields") and result.value is not None:
        return values, result.value, None
    return f"its {'value' if result.kind != 'raises' else 'exception'} has no literal form"


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
    call_args = ", ".join(
        name if p.kind in ("positional_only", "positional") else f"{p.name}={name}"
        for name, p in zip(names, params, strict=True)
    )
    code = prompts.render(
        "cases_test.j2",
        target=target,
        names=names,
        argnames=", ".join(names),
        call=f"{target.name}({call_args})",
        groups=groups,
        imports=sorted(imports),
    )
    return code, rows


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


def _outcome(result: Result) -> tuple[str, str | None, tuple[str, str] | None]:
    return result.kind, result.value, result.exception


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
            if position >= len(on_mutant) or _outcome(on_mutant[position]) != _outcome(original):
                kills[position].add(index)
    return [frozenset(k) for k in kills]


# Rejections that every row together might escape, where the rows of the cut fail: a row
# that fails or varies between runs only with the others, a line only a dropped row runs.
# The mutation verdicts cannot change (the cut kills the same mutants), nor `unsafe`/`style`.
_CUT_MAY_CAUSE = frozenset({"collect", "fail", "flaky", "no-gain", "timeout"})


def _cut(
    sandbox: Sandbox,
    target: Target,
    results: Sequence[Result],
    mutants: Sequence[Mutant],
    timeout_s: float,
) -> tuple[list[Result], int] | None:
    """The shortest list of `results` that kills every mutant and runs every line of the
    function that some result kills or runs, and how many mutants that is; None when
    there is nothing to cut (fewer than two stable results, or every result needed). Made
    before anything is verified, so a function's test is verified once, as it will be
    kept (issue 23)."""
    stable = [r for r in results if r.stable]
    if len(stable) < 2:
        return None
    kills = case_kills(sandbox, target, stable, mutants, timeout_s)
    wanted = [
        frozenset({("mutant", m) for m in killed} | {("line", n) for n in result.lines})
        for killed, result in zip(kills, stable, strict=True)
    ]
    chosen = shortest_cover(wanted)
    if not chosen or len(chosen) >= len(stable):
        return None
    return [stable[i] for i in chosen], len(frozenset().union(*kills))


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
) -> Verdict | None:
    """Propose, run, render, verify.

    A kept test that leaves lines uncovered or mutants alive is not the end: later
    attempts ask for more cases (at a higher temperature), keep the old ones, and the
    best kept test wins (most mutants killed, then most lines); at most `improve_calls`
    such calls once a test is kept (None: no limit but the attempts). With `mutants`, the
    cases are cut to the shortest set that kills the same mutants before they are rendered
    and verified (if the cut alone fails, every case is verified instead).
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
        # With mutants, only the rows that kill what the others do not are rendered.
        cut = _cut(sandbox, target, results, mutants(), timeout_s) if mutants else None
        code, rows = render_test(target, cut[0] if cut else results, prompts)
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
            attempts.lines.append(
                f"cases#{attempt}: kept the {len(cut[0])} of {len(results)} cases that kill "
                f"the same {cut[1]} mutants"
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
