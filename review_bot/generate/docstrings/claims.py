"""Claims of a docstring that a recorded call can contradict (issue 25): `contradicted`.

Four kinds of claim are read from the model's JSON, each checked against the calls
(observe.py) and, for a condition no call tested, against calls made for the purpose:

- **the kind of value returned**: the type words of the head of "returns" ("A list of
  words": a list; not "The first element of the list") and a summary that opens "Return
  True if", "Check whether", against the type of every value a call returned; none of the
  named kinds among them is a contradiction;
- **when an exception is raised**: a Raises entry's condition, where it is made of clauses
  such as "`x` is negative", "upper is less than lower", "text is empty" joined by one of
  "and"/"or", evaluated on each call's arguments: a call that raised it where the condition
  is false, or returned where it is true, contradicts it. A clause is also tried alone on a
  call that returned ("whole is zero and ndigits is negative" where either raises alone);
- **the returned number beside a parameter**: "The smallest option greater than or equal to
  `x`", against every call that returned a number;
- **an exclusive bound**: "upper: The upper bound (exclusive)", contradicted by a call that
  returned upper's value (a call at the bound is made where none did); not where the
  function returns a position, which may be the exclusive end (bisect's `hi`).

>>> _kinds(_head("A list of the words, lowercased."))
{'list'}
>>> sorted(_kinds(_head("The number formatted as a string.")))
['number', 'str']
>>> _kinds(_head("A pluralized version of the noun, or the noun if the count is 1."))
set()
>>> _kinds(_head("The ordinalized number, or the suffix alone."))
set()
>>> sorted(_kinds("The ASCII text, or an empty byte array."))
['bytes', 'str']
>>> parse_condition("If upper is less than lower.", ["x", "lower", "upper"])
('and', [('upper', '<', 'lower')])
>>> parse_condition("when width is negative or text is empty", ["text", "width"])
('or', [('width', '<', 0), ('text', 'empty', None)])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from review_bot.generate.cases import Case, Result, case_params
from review_bot.generate.docstrings.documents import raise_guards
from review_bot.generate.docstrings.observe import Call, telling, usable
from review_bot.generate.pyast import literal
from review_bot.records import Param, Target

# Runs cases in the sandbox: the calls made for a claim no recorded call tested.
Runner = Callable[[Sequence[Case]], list[Result]]

MAX_TARGETED = 6

_KIND_WORDS: tuple[tuple[str, str], ...] = (
    ("bool", r"\b(?:True|False|booleans?|bool)\b|^(?:whether)\b"),
    ("str", r"\b(?:strings?|str|text)\b"),
    ("int", r"\b(?:integers?|int)\b"),
    ("float", r"\b(?:floats?|floating[- ]point)\b"),
    ("number", r"\bnumbers?\b"),
    ("bytes", r"\b(?:bytes|byte ?strings?|byte ?arrays?|bytearrays?)\b"),
    ("list", r"(?<!byte )\b(?:lists?|arrays?)\b"),
    ("tuple", r"\btuples?\b"),
    ("dict", r"\b(?:dict|dicts|dictionary|dictionaries|mapping)\b"),
    ("set", r"\b(?:a|the) set of\b|\bsets\b"),
    ("NoneType", r"\bNone\b"),
)
_MATCHES = {"number": {"int", "float"}, "bytes": {"bytes", "bytearray"}}
_BOOL_SUMMARY = re.compile(
    r"^(?:Return(?:s)? (?:True|False|whether)|(?:Check|Test|Determine)s? (?:whether|if))\b"
)


class Contradiction(NamedTuple):
    detail: str  # one line: the claim and the call that contradicts it
    call: Call


# "The formatted number", "the ordinalized number": a number made into text, whose kind the
# words do not say ('1,000', '5th'); a rejection there was a false one.
_MADE_NUMBER = re.compile(r"(?i)\b\w+ed\s+numbers?\b")


def _kinds(text: str) -> set[str]:
    text = text.strip()
    kinds = {kind for kind, pattern in _KIND_WORDS if re.search(pattern, text, re.IGNORECASE)}
    if _MADE_NUMBER.search(text):
        kinds.discard("number")
    return kinds


def _value_kind(result: Result) -> str | None:
    known, value = literal(result.value)
    return type(value).__name__ if known else None


# Where the head of a Returns sentence ends: a type word after these is about something
# else ("The first element of the list", "True if the text is empty", "the count is 1").
_HEAD_END = re.compile(
    r",|;|\s(?:if|or|when|unless|otherwise|else|of|in|from|within|for|with|where|that)\s"
)


def _head(text: str) -> str:
    """The head of a Returns sentence: "A list of words" -> "A list"."""
    return _HEAD_END.split(text.strip(), maxsplit=1)[0]


def return_kind(data: Mapping[str, Any], calls: Sequence[Call]) -> Contradiction | None:
    """The returned values' kinds against the kinds the head of Returns names ("A list of
    words": a list); None named anywhere is allowed beside them, and a head that names
    only None claims nothing."""
    returns = str(data.get("returns", ""))
    claimed = _kinds(_head(returns)) - {"NoneType"}
    if claimed and "NoneType" in _kinds(returns):
        claimed.add("NoneType")
    said = f"says it returns {str(data.get('returns', '')).strip().rstrip('.')}"
    if _BOOL_SUMMARY.match(str(data.get("summary", ""))):
        claimed = claimed or {"bool"}
        said = said if data.get("returns") else f"says: {data['summary'].strip().rstrip('.')}"
    if not claimed:
        return None
    returned = [c for c in calls if c.result.kind == "returns" and _value_kind(c.result)]
    if not returned:
        return None
    allowed = set().union(*(_MATCHES.get(k, {k}) for k in claimed))
    if any(_value_kind(c.result) in allowed for c in returned):
        return None
    # The call named (and shown to the next try) is one that shows the function at work.
    call = next((c for c in returned if telling(c.result)), returned[0])
    return Contradiction(f"{said}; {call.shown()}", call)


# -- raises conditions ------------------------------------------------------------------------

Clause = tuple[str, str, Any]  # (parameter, operator, operand: a number, a name, or None)

_NUMBER = r"-?\d+(?:\.\d+)?"
_PREDICATES: tuple[tuple[str, str, Any], ...] = (
    (r"(?:negative|less than (?:zero|0)|below (?:zero|0)|smaller than (?:zero|0))", "<", 0),
    (r"(?:zero|0|equal to (?:zero|0))", "==", 0),
    (r"(?:positive|greater than (?:zero|0))", ">", 0),
    (r"(?:not positive|non-positive|zero or negative|negative or zero)", "<=", 0),
    (r"(?:empty|an empty \w+)", "empty", None),
    (r"None", "is", None),
    (r"not None", "is not", None),
)
_COMPARE = (
    (r"(?:less than or equal to|at most|no more than)", "<="),
    (r"(?:greater than or equal to|at least|no less than)", ">="),
    (r"(?:less than|smaller than|lower than|below|under)", "<"),
    (r"(?:greater than|larger than|more than|higher than|above|over|bigger than)", ">"),
)


def _clause(text: str, names: Sequence[str]) -> Clause | None:
    text = text.strip().strip("`").strip()
    match = re.fullmatch(r"(?:the )?`?(\w+)`?(?: argument| parameter)? (?:is|are) (.+)", text)
    if match is None or match.group(1) not in names:
        return None
    name, predicate = match.group(1), match.group(2).strip().strip("`")
    for pattern, operator, operand in _PREDICATES:
        if re.fullmatch(pattern, predicate):
            return name, operator, operand
    for pattern, operator in _COMPARE:
        found = re.fullmatch(rf"{pattern} `?(\w+|{_NUMBER})`?", predicate)
        if found is None:
            continue
        other = found.group(1)
        if other in names:
            return name, operator, other
        if re.fullmatch(_NUMBER, other):
            return name, operator, float(other) if "." in other else int(other)
    return None


def parse_condition(text: str, names: Sequence[str]) -> tuple[str, list[Clause]] | None:
    """("and" or "or", clauses) for a condition made only of clauses review-bot can
    evaluate, else None."""
    text = re.sub(r"^(?:raised )?(?:if|when|whenever)\s+", "", text.strip(), flags=re.I)
    text = text.rstrip(". ")
    joins = [j for j in ("and", "or") if re.search(rf"\s(?:,\s*)?{j}\s", text)]
    if len(joins) > 1:
        return None
    join = joins[0] if joins else "and"
    parts = re.split(rf"\s*,?\s+{join}\s+|\s*,\s+", text)
    clauses = [_clause(part, names) for part in parts]
    if not clauses or any(c is None for c in clauses):
        return None
    return join, [c for c in clauses if c is not None]


def _arguments(params: Sequence[Param], case: Case) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in params:
        known, default = literal(param.default)
        if known:
            values[param.name] = default
    values.update(zip((p.name for p in params), case.args, strict=False))
    values.update(case.kwargs)
    return values


_UNKNOWN = object()


def _holds(clause: Clause, values: Mapping[str, Any]) -> bool | None:
    name, operator, operand = clause
    if name not in values:
        return None
    value = values[name]
    if isinstance(operand, str):
        if operand not in values:
            return None
        operand = values[operand]
    try:
        if operator == "empty":
            return len(value) == 0
        if operator == "is":
            return value is None
        if operator == "is not":
            return value is not None
        if isinstance(value, bool) or isinstance(operand, bool):
            return None
        return bool(
            {
                "<": lambda: value < operand,
                "<=": lambda: value <= operand,
                ">": lambda: value > operand,
                ">=": lambda: value >= operand,
                "==": lambda: value == operand,
            }[operator]()
        )
    except (TypeError, KeyError):
        return None


def _evaluate(join: str, clauses: Sequence[Clause], values: Mapping[str, Any]) -> bool | None:
    truths = [_holds(c, values) for c in clauses]
    if any(t is None for t in truths):
        return None
    return all(truths) if join == "and" else any(truths)


def _satisfying(clause: Clause, values: Mapping[str, Any]) -> Any:
    """A value of the clause's parameter that makes the clause true, or _UNKNOWN."""
    name, operator, operand = clause
    current = values.get(name)
    if isinstance(operand, str):
        operand = values.get(operand, _UNKNOWN)
    if operator == "empty":
        return type(current)() if isinstance(current, str | list | dict) else _UNKNOWN
    if operator == "is":
        return None
    if not isinstance(operand, int | float) or isinstance(operand, bool):
        return _UNKNOWN
    if not isinstance(current, int | float) or isinstance(current, bool):
        return _UNKNOWN
    step = 1 if isinstance(current, int) and isinstance(operand, int) else 0.5
    return {"<": operand - step, "<=": operand, ">": operand + step, ">=": operand}.get(
        operator, operand if operator == "==" else _UNKNOWN
    )


def _with_argument(case: Case, names: Sequence[str], name: str, value: Any) -> Case:
    """`case` with parameter `name`'s argument set to `value`, positional where it was."""
    index = names.index(name)
    if name in case.kwargs or index >= len(case.args):
        return Case(case.args, {**case.kwargs, name: value})
    return Case((*case.args[:index], value, *case.args[index + 1 :]), case.kwargs)


def _targeted(
    params: Sequence[Param], clauses: Sequence[Clause], bases: Sequence[Call]
) -> list[Case]:
    """Calls that make one clause true on a call that returned, the others as they were."""
    names = [p.name for p in params]
    made: list[Case] = []
    for call in bases:
        values = _arguments(params, call.result.case)
        for clause in clauses:
            value = _satisfying(clause, values)
            if value is _UNKNOWN or clause[0] not in names:
                continue
            new = _with_argument(call.result.case, names, clause[0], value)
            if new not in made and new != call.result.case:
                made.append(new)
    return made[:MAX_TARGETED]


def raise_condition(
    target: Target,
    entry: Mapping[str, str],
    calls: Sequence[Call],
    run: Runner | None,
) -> Contradiction | None:
    """A Raises entry's condition against the calls (and calls made for it)."""
    params = case_params(target) or []
    parsed = parse_condition(entry["when"], [p.name for p in params])
    if parsed is None:
        return None
    join, clauses = parsed
    exception = entry["exception"].rsplit(".", 1)[-1]
    pool = list(calls)
    if run is not None:
        bases = [c for c in calls if c.result.kind == "returns"][:2]
        targeted = _targeted(params, clauses, bases)
        if targeted:
            pool += [c for c in usable(target, run(targeted)) if c not in pool]
    condition = re.sub(r"^(?:if|when)\s+", "", entry["when"].strip().rstrip("."), flags=re.I)
    for call in pool:
        holds = _evaluate(join, clauses, _arguments(params, call.result.case))
        if holds is None:
            continue
        raised = call.result.kind == "raises" and (call.result.exception or ("", ""))[1]
        if raised == exception and not holds:
            return Contradiction(f"says {exception} when {condition}; {call.shown()}", call)
        if call.result.kind == "returns" and holds:
            return Contradiction(f"says {exception} when {condition}; {call.shown()}", call)
    return None


# -- bounds: what the returned value is beside a parameter --------------------------------------

_EXCLUSIVE = re.compile(r"(?i)(?<!non-)(?<!non)\bexclusive\b|\bnot included\b|\bexcluded\b")
# A returned position may be an exclusive end itself: bisect's insertion point in
# [lo, hi] where hi ends the slice searched, a slice's stop.
_POSITION = re.compile(r"(?i)\b(?:index|indices|indexes|position|insertion point|offset)\b")
# Words before a comparison that make it about something other than the returned value
# ("The number of items greater than x", "the sum of the values above x").
_NOT_THE_VALUE = re.compile(
    r"(?i)\b(?:of|count|all|each|every|many|items|elements|values|numbers|list|sum|total)\b"
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _returned(call: Call) -> Any:
    known, value = literal(call.result.value)
    return value if known and call.result.kind == "returns" else _UNKNOWN


def _hits(value: Any, bound: Any) -> bool:
    """Whether a returned value is the bound, or a list holding it."""
    if not _number(bound):
        return False
    if _number(value):
        return bool(value == bound)
    return isinstance(value, list) and any(_number(v) and v == bound for v in value)


def _at_bound(params: Sequence[Param], name: str, bases: Sequence[Call]) -> list[Case]:
    """Calls at the bound: each other numeric argument of a call that returned set to the
    bound's value (`clamp(5, 0, 5)` from `clamp(9, 0, 5)`)."""
    names = [p.name for p in params]
    made: list[Case] = []
    for call in bases:
        values = _arguments(params, call.result.case)
        bound = values.get(name)
        if not _number(bound):
            continue
        for other in names:
            if other == name or not _number(values.get(other)):
                continue
            new = _with_argument(call.result.case, names, other, bound)
            if new not in made and new != call.result.case:
                made.append(new)
    return made[:MAX_TARGETED]


def exclusive_bound(
    target: Target, data: Mapping[str, Any], calls: Sequence[Call], run: Runner | None
) -> Contradiction | None:
    """A parameter described as an exclusive bound ("upper: The upper bound (exclusive)")
    against the calls: one that returned the parameter's own value (or a list holding it)
    contradicts it; where none did, calls at the bound are made for it. Not for a returned
    position ("The index where x would be inserted"), which may be the end itself."""
    if _POSITION.search(str(data.get("returns", ""))):
        return None
    params = case_params(target) or []
    described = data.get("params", {})
    for param in params:
        text = str(described.get(param.name, "")) if isinstance(described, Mapping) else ""
        if not _EXCLUSIVE.search(text):
            continue
        pool = list(calls)
        bases = [c for c in calls if c.result.kind == "returns"][:2]
        if run is not None and not any(_hits_bound(params, param.name, c) for c in pool):
            made = _at_bound(params, param.name, bases)
            if made:
                pool += [c for c in usable(target, run(made)) if c not in pool]
        for call in pool:
            if _hits_bound(params, param.name, call):
                said = f"says {param.name} is exclusive"
                return Contradiction(f"{said}; {call.shown()}", call)
    return None


def _hits_bound(params: Sequence[Param], name: str, call: Call) -> bool:
    return _hits(_returned(call), _arguments(params, call.result.case).get(name))


def returned_comparison(
    target: Target, data: Mapping[str, Any], calls: Sequence[Call]
) -> Contradiction | None:
    """A Returns sentence that puts the returned number beside a parameter ("The smallest
    option greater than or equal to `x`") against every call that returned a number."""
    params = case_params(target) or []
    names = [p.name for p in params]
    returns = str(data.get("returns", "")).strip()
    for pattern, operator in _COMPARE:
        found = re.search(rf"\b{pattern}(?: to)? `?(\w+)`?", returns)
        if found is None or found.group(1) not in names:
            continue
        if _NOT_THE_VALUE.search(returns[: found.start()]):
            return None
        name = found.group(1)
        for call in calls:
            value = _returned(call)
            bound = _arguments(params, call.result.case).get(name)
            if not (_number(value) and _number(bound)):
                continue
            if _holds(("value", operator, bound), {"value": value}) is False:
                said = f"says it returns {returns.rstrip('.')}"
                return Contradiction(f"{said}; {call.shown()}", call)
        return None
    return None


def contradiction(
    target: Target, data: Mapping[str, Any], calls: Sequence[Call], run: Runner | None = None
) -> Contradiction | None:
    """The first claim of `data` (the model's reply) a call contradicts, or None."""
    if not calls:
        return None
    found = (
        return_kind(data, calls)
        or returned_comparison(target, data, calls)
        or exclusive_bound(target, data, calls, run)
    )
    if found is not None:
        return found
    guards = raise_guards(target)  # written from the code's own condition, not the model's
    for entry in data.get("raises", []):
        if entry.get("exception") in guards:
            continue
        found = raise_condition(target, entry, calls, run)
        if found is not None:
            return found
    return None
