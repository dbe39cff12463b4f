"""Oracle repair: the expected values a model got wrong, replaced by what the code returns.

Small models call the function under test sensibly but guess its results wrongly. When a
candidate fails, every assertion that compares a call's result with a literal
(`assert f(x) == 3`, `is True/False/None`, `== pytest.approx(2.5)`, `in [1, 2]`, a
parametrized `expected` column), and every `with pytest.raises(E):` block around one call,
is swapped for a recorder in a copy of the test, which
then runs in the sandbox (`sandbox/oracle_driver.py`; the faithful-literal rule is the cases
strategy's). If that copy passes, the failure was only in those expectations: the wrong
literals are rewritten (libcst, everything else kept as the model wrote it), each marked
with a `# recorded: model expected ...` comment, and the result is verified like any
candidate. Each rewrite is also a disagreement, "the model expected y, the code returns z",
which the reports show: it may be the code that is wrong.

A raises block whose call returned becomes `assert f(x) == value`; one whose call raised
another builtin exception names that exception; an assertion alone on its line whose call
raised a builtin exception the function raises on purpose (`raise E(...)` in its body)
becomes a `with pytest.raises(E):` block (a TypeError from a call the model got wrong is
not a behaviour to pin). A blind `pytest.raises(Exception)` that held is narrowed to the
builtin exception the call raised each time (it would pass for any error, a wrong call's
TypeError too, and bugbear's B017 rejects it): a kept candidate with one, and one rejected
for style, go through oracle repair too.

Nothing is repaired when the copy still fails (an exception outside the recorded calls, a
collect error, an assertion on something else), or when an observed value has no faithful
literal (an object, NaN, an exception class of the project's, an exception the function
does not raise on purpose where a value was expected), differs between executions, or is
too long to read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

import libcst as cst

from review_bot.generate.docstrings.documents import raised_exceptions
from review_bot.generate.oracle_sites import RAISED, RECORDER, Site, find_sites, instrument, rewrite
from review_bot.generate.pyast import literal
from review_bot.generate.repair import fix_imports
from review_bot.records import Candidate, Disagreement
from review_bot.sandbox import CASES_DRIVER, ORACLE_DRIVER, Sandbox
from review_bot.verify import import_path

__all__ = ["Repair", "oracle_repair"]

_RECORDS = ".rb_oracle.jsonl"
MAX_LITERAL = 200  # characters of a recorded value: longer ones make unreadable tests
_PYTEST = ("-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", RECORDER)


class Observation(NamedTuple):
    row: int | None
    held: bool
    value: str | None  # the observed value's faithful literal ("!KeyError": it raised that);
    # None: it has none


BLIND = frozenset({"raises Exception", "raises BaseException"})
# Read first, before libcst parses the module: every kept chat test is asked.
_MAYBE_BLIND = re.compile(r"raises\(\s*(?:Base)?Exception\s*\)")


class Repair(NamedTuple):
    code: str
    disagreements: tuple[Disagreement, ...]
    narrowed: int = 0  # blind `pytest.raises(Exception)` blocks that now name the exception


def blind_raises(code: str) -> bool:
    """The test has a `with pytest.raises(Exception):` block around one call."""
    if not _MAYBE_BLIND.search(code):
        return False
    try:
        return any(site.kind == "raises" and site.expected in BLIND for site in find_sites(code))
    except cst.ParserSyntaxError:
        return False


def parse_observations(text: str | None) -> dict[int, list[Observation]]:
    """The recorder's lines by site; malformed lines (the test may write there) are ignored."""
    found: dict[int, list[Observation]] = {}
    for line in (text or "").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        site, row, held, value = (entry.get(k) for k in ("site", "row", "held", "value"))
        if not isinstance(site, int) or not isinstance(held, bool):
            continue
        if row is not None and not isinstance(row, int):
            continue
        found.setdefault(site, []).append(
            Observation(row, held, value if isinstance(value, str) else None)
        )
    return found


def _usable(site: Site, value: str | None, raised: Collection[str] = ()) -> str | None:
    """The literal to write for an observed value, or None when it cannot be written.
    `raised`: the exceptions the function raises on purpose."""
    if value is None or len(value) > MAX_LITERAL:
        return None
    if value.startswith(RAISED):
        # A raises block names it; an assertion alone on its line becomes such a block; a
        # parametrize cell cannot say "raises".
        name = value[len(RAISED) :]
        usable = site.kind == "raises" or (site.kind != "param" and site.alone and name in raised)
        return value if usable and name.isidentifier() else None
    known, observed = literal(value)
    if not known:
        return None
    if site.kind == "approx" and (
        isinstance(observed, bool) or not isinstance(observed, (int, float))
    ):
        return None
    return value


def plan(
    sites: Sequence[Site],
    observations: dict[int, list[Observation]],
    raised: Collection[str] = (),
) -> tuple[dict[int, str], dict[int, dict[int, str]], list[Disagreement], int] | str:
    """What to rewrite (and how many blind raises blocks are narrowed), or why nothing can
    be: every failed expectation must be repairable."""
    new: dict[int, str] = {}
    narrowed = 0
    cells: dict[int, dict[int, str]] = {}
    disagreements: list[Disagreement] = []
    for site in sites:
        seen = observations.get(site.id, [])
        if site.kind == "param":
            by_row: dict[int, list[Observation]] = {}
            for obs in seen:
                if obs.row is not None and 0 <= obs.row < len(site.rows):
                    by_row.setdefault(obs.row, []).append(obs)
                elif not obs.held:
                    return f"{site.call}: no parametrize row for a failed expectation"
            for row, row_obs in sorted(by_row.items()):
                if all(o.held for o in row_obs):
                    continue
                text = _agreed(site, row_obs, raised)
                if text.startswith(" "):
                    return f"{site.call}:{text}"
                cells.setdefault(site.id, {})[row] = text
                cell, others = site.rows[row]
                call = f"{site.call} [{others}]" if others else site.call
                disagreements.append(Disagreement(call, cell, text))
            continue
        if all(o.held for o in seen):
            named = {o.value for o in seen}
            if site.kind == "raises" and site.expected in BLIND and len(named) == 1:
                value = named.pop()
                if value is not None and "raises " + value[len(RAISED) :] not in BLIND:
                    new[site.id] = value  # the same exception each time: named
                    narrowed += 1
            continue
        text = _agreed(site, seen, raised)
        if text.startswith(" "):
            return f"{site.call}:{text}"
        new[site.id] = text
        actual = "raises " + text[len(RAISED) :] if text.startswith(RAISED) else text
        disagreements.append(Disagreement(site.call, site.expected, actual))
    if not disagreements and not narrowed:
        return "every literal expectation held"
    return new, cells, disagreements, narrowed


def _agreed(site: Site, seen: Sequence[Observation], raised: Collection[str]) -> str:
    """The one literal to write, or (starting with a space) why there is none."""
    values = {o.value for o in seen}
    if len(values) != 1:
        return " its result varies between executions"  # a loop, a random input
    value = values.pop()
    usable = _usable(site, value, raised)
    if usable is None and value is not None and value.startswith(RAISED):
        why = (
            "a parametrize row cannot say so"
            if site.kind == "param"
            else "not alone on its line"
            if not site.alone
            else "not an exception the function raises on purpose"
        )
        return f" it raised {value[len(RAISED) :]}: {why}"
    return " no faithful literal for its result" if usable is None else usable


def oracle_repair(sandbox: Sandbox, candidate: Candidate, test_relpath: str) -> Repair | str:
    """The candidate with its failed literal expectations replaced by the observed values,
    or why it cannot be repaired so. The caller verifies the repaired code."""
    try:
        sites = find_sites(candidate.code)
    except cst.ParserSyntaxError:
        return "libcst cannot parse the test"
    if not sites:
        return "no assertion compares a call with a literal"
    files = {
        test_relpath: instrument(candidate.code),
        f"{RECORDER}.py": ORACLE_DRIVER.read_text(encoding="utf-8"),
        "_review_bot_cases.py": CASES_DRIVER.read_text(encoding="utf-8"),
    }
    with sandbox.workspace(files) as ws:
        result = ws.run(
            ["python", "-m", "pytest", *_PYTEST, test_relpath],
            pythonpath=import_path(sandbox, candidate.target),
        )
        raw = ws.read(_RECORDS)
    if result.timed_out or result.returncode != 0:
        return "it fails on more than literal expectations"
    decided = plan(sites, parse_observations(raw), raised_exceptions(candidate.target))
    if isinstance(decided, str):
        return decided
    new, cells, disagreements, narrowed = decided
    # A raises block written where the test had none needs `import pytest`.
    code, _ = fix_imports(rewrite(candidate.code, new, cells), candidate.target.module, ())
    return Repair(code, tuple(disagreements), narrowed)
