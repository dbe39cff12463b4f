"""What the function did when it ran: the recorded calls a docstring is grounded in and its
claims are checked against (issue 25).

The calls come from the test generation of the same run where it ran cases (the model's and
the search's, generate/cases_strategy.py), else from probes made here without a model: a
few typical values per parameter, by its JSON schema, widened by the search
(generate/search.py), run once in the sandbox. Of those, the calls shown are one per way
the function went (what it returned or raised, the lines it ran), those that show a change
first.

>>> call_text("clamp", (5,), {"upper": 3})
'clamp(5, upper=3)'
>>> probe_value({"type": "string"}, 1, 0)
'hello_world'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from review_bot.generate import search
from review_bot.generate.cases import Case, Result, case_params, param_schema, row_of
from review_bot.generate.cases_cut import fits
from review_bot.generate.pyast import literal
from review_bot.records import Param, Target

# Shown in the prompt: each is ~15 prompt tokens, and a prompt token costs a third to a half
# of a generated one on one CPU thread (issue 23: a commit grew slower with six shown).
MAX_CALLS = 4
CALL_WIDTH = 100  # characters of a call and its outcome, shown
MAX_PROBES = 48

# Typical values by JSON type, one per seed: what a reader of the function would try first.
_STRINGS = ("Hello world", "hello_world", "HelloWorld", "a-b c")
_INTEGERS = (5, 0, -3, 12)
_NUMBERS = (2.5, 0.0, -1.5, 10.0)


class Call(NamedTuple):
    """One recorded call: its source and what it did."""

    text: str  # `name(args)`
    outcome: str  # `returned 'x'`, `raised ValueError('...')`
    result: Result

    def shown(self) -> str:
        return f"{self.text} {self.outcome}"


def call_values(calls: Sequence[Call]) -> list[str]:
    """The calls' arguments and returned values that are text or numbers, as text: what a
    docstring's description must not merely repeat."""
    values: list[str] = []
    for call in calls:
        result = call.result
        found = [*result.case.args, *result.case.kwargs.values()]
        if result.kind == "returns" and result.value is not None:
            known, value = literal(result.value)
            if known:
                found.append(value)
        values += [
            str(value)
            for value in found
            if isinstance(value, str | int | float) and not isinstance(value, bool)
        ]
    return values


def call_text(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """The call as Python source."""
    parts = [repr(value) for value in args]
    parts += [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def json_literal(value: Any) -> bool:
    """Whether `value` is plain JSON data whose repr is a Python literal (no NaN)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return not (isinstance(value, float) and value != value)
    if isinstance(value, list):
        return all(json_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_literal(v) for k, v in value.items())
    return False


def shown_case(target: Target, params: Sequence[Param], case: Case) -> str | None:
    """The call as a reader writes it: arguments equal to their default left out (keyword
    ones, and trailing positional ones: `pad('a', 3)`, not `pad('a', 3, ' ')`)."""
    defaults = {p.name: p.default for p in params}

    def is_default(name: str, value: Any) -> bool:
        return literal(defaults.get(name)) == (True, value)  # no default: (False, None)

    kwargs = {key: value for key, value in case.kwargs.items() if not is_default(key, value)}
    positional = [p.name for p in params if p.kind in ("positional_only", "positional")]
    args = list(case.args)
    while args and len(args) <= len(positional) and is_default(positional[len(args) - 1], args[-1]):
        args.pop()
    if not all(json_literal(v) for v in (*args, *kwargs.values())):
        return None
    return call_text(target.name, args, kwargs)


def outcome_text(result: Result) -> str:
    if result.kind == "raises" and result.exception is not None:
        name = result.exception[1]
        return f"raised {name}({result.message!r})" if result.message else f"raised {name}"
    return f"returned {result.value}"


def usable(target: Target, results: Sequence[Result]) -> list[Call]:
    """The results a reader can be shown: stable, stated as a test could state them (no
    wrong-kind TypeError, no warning), a call and outcome that fit a line; one per call."""
    params = case_params(target) or []
    defaults = {p.name: p.default for p in params}
    found: list[Call] = []
    for result in results:
        if not isinstance(row_of(target, result, params, defaults), tuple):
            continue
        text = shown_case(target, params, result.case)
        if text is None:
            continue
        call = Call(text, outcome_text(result), result)
        if len(call.shown()) <= CALL_WIDTH and call.text not in {c.text for c in found}:
            found.append(call)
    return found


def calls(target: Target, results: Sequence[Result]) -> list[Call]:
    """The calls of `results` to show: `select` of the usable ones."""
    return select(usable(target, results))


def select(found: Sequence[Call]) -> list[Call]:
    """The calls to show, at most MAX_CALLS: one per way the function went (outcome kind
    and lines run), then other outcomes; in each, calls that show a change first (an
    exception, or a value that is not the first argument unchanged, not empty), in the
    order they were made (the model's or the typical values before the search's)."""
    ordered = sorted(found, key=lambda c: not telling(c.result))
    ways: dict[tuple[Any, ...], Call] = {}
    for call in ordered:
        r = call.result
        ways.setdefault((r.kind, r.exception, r.lines), call)
    chosen = list(ways.values())
    outcomes = {c.outcome for c in chosen}
    for call in ordered:
        r = call.result
        # Room for what it returns: at most two calls per exception.
        same = [c for c in chosen if (c.result.kind, c.result.exception) == (r.kind, r.exception)]
        if call in chosen or call.outcome in outcomes or (r.kind == "raises" and len(same) >= 2):
            continue
        chosen.append(call)
        outcomes.add(call.outcome)
    chosen = chosen[:MAX_CALLS]
    # Shown in the order they were made, returns before raises.
    return sorted(chosen, key=lambda c: (c.result.kind != "returns", found.index(c)))


def telling(result: Result) -> bool:
    """Whether the call shows the function doing something: it raised, or returned a value
    that is not its first argument unchanged (`flatten([1, 2])` -> `[1, 2]`) and not empty
    (`clamp(5, 0, 3)` -> `3` is telling)."""
    if result.kind != "returns":
        return True
    first = [repr(v) for v in (*result.case.args, *result.case.kwargs.values())][:1]
    return result.value not in (*first, "''", "[]", "{}", "()", "None")


# -- probes: calls made without a model ---------------------------------------------------


def probe_value(schema: dict[str, Any] | None, seed: int, position: int) -> Any:
    """A typical value for a parameter of `schema` in seed `seed` (its place `position`
    spreads numbers apart: clamp(5, 7, 9))."""
    if schema is None:
        return None
    if "enum" in schema:
        options = schema["enum"]
        return options[seed % len(options)] if options else None
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"] or schema["anyOf"]
        # An unannotated parameter: numbers, then strings, then lists, in turn.
        return probe_value(options[seed % len(options)], seed // len(options), position)
    kind = schema.get("type")
    if kind == "string":
        return _STRINGS[seed % len(_STRINGS)]
    if kind == "integer":
        return _INTEGERS[seed % len(_INTEGERS)] + 2 * position
    if kind == "number":
        return _NUMBERS[seed % len(_NUMBERS)] + 2 * position
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        first = probe_value(items, seed, 0) if items else seed + 1
        second = probe_value(items, seed + 1, 1) if items else seed + 2
        return [[first, second], [], [second, first, first], [first]][seed % 4]
    if kind == "object":
        return {}
    return None


# What an unannotated parameter with no default holds, by its name: typical values of the
# wrong kind (`clamp(True)`, `ellipsize([5, 2])`) show nothing a reader can use.
_NAME_KINDS = (
    (
        "string",
        r"(?:text|string|str|s|word|name|noun|sep|delim\w*|prefix|suffix|char|line|title"
        r"|label|pattern|\w+_(?:str|string|text|word|noun|name|char|delim|sep))",
    ),
    (
        "integer",
        r"(?:n|i|j|k|x|y|num|number|count|size|width|height|length|limit|ndigits|digits"
        r"|index|idx|start|stop|step|lower|upper|low|high|base|offset|amount|whole|part"
        r"|precision|nbytes|\w+_(?:len|count|size|num|index|width))",
    ),
    (
        "array",
        r"(?:items|values|src|seq|sequence|iterable|lst|elements|words|lines|parts"
        r"|options|\w+_(?:list|items|values|iterable))",
    ),
)


def _name_kind(param: Param) -> str | None:
    """The JSON type an unannotated parameter's name says it holds, if it says one."""
    if param.annotation is not None:
        return None
    for kind, pattern in _NAME_KINDS:
        if re.fullmatch(pattern, param.name, re.IGNORECASE):
            return kind
    return None


def _hinted(param: Param, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """An unannotated parameter without a default takes the kind its name says, if any."""
    kind = _name_kind(param)
    if param.default is not None or schema is None or kind is None:
        return schema
    return {"type": kind}


def probes(target: Target) -> list[Case]:
    """Calls to make when no recorded call exists: typical values for each parameter (a
    literal default given as it is), and the search's neighbours of them."""
    params = case_params(target)
    if params is None:
        return []
    schemas = {p.name: _hinted(p, param_schema(p)) for p in params}
    if any(schemas[p.name] is None and p.default is None for p in params):
        return []  # a parameter no JSON value can be: nothing to call it with
    seeds: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for seed in range(search.MAX_SEEDS):
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for position, param in enumerate(params):
            if param.default is None:
                if param.kind == "keyword_only":
                    kwargs[param.name] = probe_value(schemas[param.name], seed, position)
                else:
                    args.append(probe_value(schemas[param.name], seed, position))
                continue
            known, default = literal(param.default)
            kind = _name_kind(param)
            if seed >= 2 and kind is not None and (not known or default is None):
                # A default of no JSON value (`float('-inf')`) or None, varied in the
                # later seeds by the kind its name says: clamp(-3, lower=-1, upper=1).
                kwargs[param.name] = probe_value({"type": kind}, seed, position)
            elif known and json_literal(default):
                kwargs[param.name] = default
        if (tuple(args), kwargs) not in seeds:
            seeds.append((tuple(args), kwargs))
    constants = search.function_constants(target.source, target.module_source)
    found = [*seeds, *search.candidates(seeds, constants, limit=MAX_PROBES)]
    return [Case(args, kwargs) for args, kwargs in found if fits(args, kwargs, params, schemas)]
