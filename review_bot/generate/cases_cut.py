"""Which rows a `cases` test keeps: the cut to the fewest cases that kill the same mutants
and run the same lines, and the search's cases (generate/search.py) added only for what
the model's leave undone (issue 24)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from review_bot.generate import search
from review_bot.generate.cases import (
    MAX_ITEMS,
    MAX_STRING,
    Case,
    Result,
    case_params,
    message_regex,
    param_schema,
    row_of,
    run_cases,
    same_literal,
)
from review_bot.mutation import Mutant, shortest_cover
from review_bot.records import Param, Target
from review_bot.sandbox import Sandbox


def same_outcome(got: Result, row: Result) -> bool:
    """Whether the rendered `row` passes on what a call `got`: values by `==` (`1 == 1.0`,
    as `assert f(x) == expected` compares), exceptions by class and, where the row states
    it, by its message (`match=`, cases.message_regex)."""
    if (got.kind, got.exception) != (row.kind, row.exception):
        return False
    if got.kind == "raises":
        regex = message_regex(row.message)
        return regex is None or re.search(regex, got.message or "") is not None
    return same_literal(got.value or "", row.value or "", same_type=False)


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
            if position >= len(on_mutant) or not same_outcome(on_mutant[position], original):
                kills[position].add(index)
    return [frozenset(k) for k in kills]


# Rejections that every row together might escape, where the rows of the cut fail: a row
# that fails or varies between runs only with the others, a line only a dropped row runs.
# The mutation verdicts cannot change (the cut kills the same mutants), nor `unsafe`/`style`.
CUT_MAY_CAUSE = frozenset({"collect", "fail", "flaky", "no-gain", "timeout"})


class Cut(NamedTuple):
    results: list[Result]  # the rows to render, in order: seeds first
    killed: int  # mutants they kill together
    searched: int  # how many of them the search found (not the model)
    kills: frozenset[int] = frozenset()  # which: indices into the mutants cut_rows was given


def cut_rows(
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
    stable = [r for r in results if isinstance(row_of(target, r, params, defaults), tuple)]
    if len(stable) + len(found) < 2:
        return None
    # The model's and the search's cases together: one sandbox run per mutant (the
    # sandbox's start costs more than the cases).
    pool = [*stable, *found]
    kills = case_kills(sandbox, target, pool, mutants, timeout_s)
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
    killed: frozenset[int] = frozenset().union(*kills)
    return Cut(rows, len(killed), len(added), killed)


def search_rows(
    sandbox: Sandbox, target: Target, results: Sequence[Result], timeout_s: float
) -> list[Result]:
    """The search's candidates (neighbours of the model's usable cases and the code's
    constants) that run the same way twice and make a row a test can state."""
    params = case_params(target) or []
    defaults = {p.name: p.default for p in params}
    schemas = {p.name: param_schema(p) for p in params}
    # One seed per way the function went (outcome kind and lines run): varied seeds first.
    usable = [r for r in results if isinstance(row_of(target, r, params, defaults), tuple)]
    ways = {(r.kind, r.lines): r for r in reversed(usable)}
    firsts = [r for r in usable if ways[(r.kind, r.lines)] is r]
    ordered = [*firsts, *(r for r in usable if r not in firsts)]
    seeds = [(r.case.args, r.case.kwargs) for r in ordered]
    constants = search.function_constants(target.source, target.module_source)
    cases = [
        Case(args, kwargs)
        for args, kwargs in search.candidates(seeds, constants)
        if fits(args, kwargs, params, schemas)
    ]
    if not cases:
        return []
    return [
        r
        for r in run_cases(sandbox, target, cases, timeout_s)
        if isinstance(row_of(target, r, params, defaults), tuple)
    ]


def fits(
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
