"""Docstrings grounded in recorded calls and checked against them (issue 25): a scripted
model, the real sandbox and the real cases driver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from review_bot.config import Settings
from review_bot.generate.cases import Case, Result, run_cases
from review_bot.generate.docstrings.claims import (
    Runner,
    exclusive_bound,
    parse_condition,
    raise_condition,
    return_kind,
    returned_comparison,
)
from review_bot.generate.docstrings.observe import calls, probes, shown_case, usable
from review_bot.github.markdown import log_lines, render_summary
from review_bot.github.records import Checked, Decision
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.records import REASONS, Target
from review_bot.report import to_json, to_text
from review_bot.sandbox import Limits, Sandbox
from review_bot.suggest import SuggestReport, suggest
from review_bot.targets import targets_in_source
from tests.helpers.github_plans import plan
from tests.helpers.projects import make_project

WORDS = """\
def dasherize(word: str) -> str:
    return word.replace("_", "-")


def ratio(whole: int, part: int, ndigits: int = 0) -> float:
    value = part / whole if whole else None
    if value is None or ndigits < 0:
        raise ValueError("no ratio")
    return round(value, ndigits)


def bound(x, lower=float("-inf"), upper=float("inf")):
    if upper < lower:
        raise ValueError("upper < lower")
    return min(max(x, lower), upper)


def insertion(items, x, hi=None):
    lo, hi = 0, len(items) if hi is None else hi
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo
"""

DASHERIZE_DOC = {
    "summary": "Replace underscores with dashes.",
    "params": {"word": "The word to change."},
    "returns": "The word with each underscore replaced by a dash.",
    "raises": [],
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    project = make_project(tmp_path_factory.mktemp("claims") / "proj", {"words.py": WORDS})
    with Sandbox(project, Limits(timeout_s=20.0, memory_mb=2048, cpu_s=20)) as box:
        yield box


def _target(root: Path, name: str) -> Target:
    path = root / "words.py"
    [target] = [t for t in targets_in_source(root, path, path.read_text()) if t.name == name]
    return target


def _run(sandbox: Sandbox, target: Target) -> Runner:
    def run(cases: Sequence[Case]) -> list[Result]:
        return run_cases(sandbox, target, cases, 20.0)

    return run


def test_probes_record_what_the_function_does_without_a_model(sandbox: Sandbox) -> None:
    target = _target(sandbox.root, "ratio")
    cases = probes(target)
    assert Case((5, 7), {"ndigits": 0}) in cases  # typical values, the default as it is
    shown = [c.shown() for c in calls(target, run_cases(sandbox, target, cases, 20.0))]
    # One call per way the function went, shortest first; the default is left out.
    assert "ratio(5, 7) returned 1.0" in shown
    assert any(re.fullmatch(r"ratio\(0, -?\d+\) raised ValueError\('no ratio'\)", s) for s in shown)
    assert all("ndigits=0" not in line for line in shown)
    assert len(shown) <= 6


def test_a_call_is_shown_without_the_arguments_equal_to_their_default(tmp_path: Path) -> None:
    path = tmp_path / "pad.py"
    path.write_text('def pad(text, width=8, fill=" ", *, right=False):\n    return text\n')
    [target] = targets_in_source(tmp_path, path, path.read_text())
    params = target.params
    assert shown_case(target, params, Case(("a", 8, " "), {"right": False})) == "pad('a')"
    assert shown_case(target, params, Case(("a", 3, " "), {})) == "pad('a', 3)"
    # A default in the middle stays: dropping it would move the next argument.
    assert shown_case(target, params, Case(("a", 8, "*"), {"right": True})) == (
        "pad('a', 8, '*', right=True)"
    )


def test_an_unannotated_parameter_is_probed_with_the_kind_its_name_says(
    sandbox: Sandbox,
) -> None:
    # `x`, `lower`, `upper` hold numbers (not True or [5, 2]); a default with no JSON value
    # (`float("-inf")`) is left to the first seeds and varied in the later ones.
    target = _target(sandbox.root, "bound")
    cases = probes(target)
    assert Case((5,), {}) in cases and Case((-3,), {"lower": -1, "upper": 1}) in cases
    assert all(isinstance(v, int) for c in cases for v in (*c.args, *c.kwargs.values()))
    shown = [c.shown() for c in calls(target, run_cases(sandbox, target, cases, 20.0))]
    assert "bound(-3, lower=-1, upper=1) returned -1" in shown
    raised = [line for line in shown if line.endswith("raised ValueError('upper < lower')")]
    assert 1 <= len(raised) <= 2  # room is left for what it returns
    assert len(shown) - len(raised) >= 3


def test_a_return_kind_no_call_returned_is_contradicted(sandbox: Sandbox) -> None:
    target = _target(sandbox.root, "dasherize")
    seen = usable(target, run_cases(sandbox, target, [Case(("a_b",), {})], 20.0))
    found = return_kind({"summary": "Split.", "returns": "A list of the parts."}, seen)
    assert found is not None
    assert found.detail == "says it returns A list of the parts; dasherize('a_b') returned 'a-b'"
    assert return_kind({"summary": "Dash.", "returns": "The dashed string."}, seen) is None
    # A summary that promises a truth value is a claim of its own.
    assert return_kind({"summary": "Return True if the word has a dash."}, seen) is not None
    assert return_kind({"summary": "Replace underscores.", "returns": "It."}, seen) is None
    # Only the head of the sentence names what is returned: not what it is taken from,
    # nor a word of a condition (an earlier rule read "count" as an int here).
    for head in ("The first part of the list.", "A dashed word, or the word if the count is 1."):
        assert return_kind({"summary": "Dash.", "returns": head}, seen) is None
    # "The ordinalized number" is a number made into text ('5th'): no kind is claimed.
    assert return_kind({"summary": "Dash.", "returns": "The formatted number."}, seen) is None
    assert return_kind({"summary": "Dash.", "returns": "A whole number."}, seen) is not None
    # A head that names only None claims nothing checked here; None beside a kind is allowed.
    assert return_kind({"summary": "Dash.", "returns": "None if empty, else a list."}, seen) is None
    assert return_kind({"summary": "Dash.", "returns": "A list, or None."}, seen) is not None


def test_a_condition_is_tried_clause_by_clause_on_calls_made_for_it(sandbox: Sandbox) -> None:
    # The example: "if whole is zero and ndigits is negative" where either
    # condition raises alone. The only recorded call returned; the check makes the calls.
    target = _target(sandbox.root, "ratio")
    seen = usable(target, run_cases(sandbox, target, [Case((5, 7), {})], 20.0))
    run = _run(sandbox, target)
    wrong = {"exception": "ValueError", "when": "If whole is zero and ndigits is negative."}
    found = raise_condition(target, wrong, seen, run)
    assert found is not None
    assert found.detail == (
        "says ValueError when whole is zero and ndigits is negative; "
        "ratio(0, 7) raised ValueError('no ratio')"
    )
    right = {"exception": "ValueError", "when": "if whole is zero or ndigits is negative"}
    assert raise_condition(target, right, seen, run) is None
    # A clause that is true where the function returns.
    loose = {"exception": "ValueError", "when": "when part is greater than 3"}
    found = raise_condition(target, loose, seen, run)
    assert found is not None and found.detail.endswith("ratio(5, 7) returned 1.0")
    # Without a call to make, a condition no recorded call tested is not judged.
    assert raise_condition(target, wrong, seen, None) is None
    # Prose review-bot cannot evaluate is left alone.
    vague = {"exception": "ValueError", "when": "the ratio cannot be computed"}
    assert raise_condition(target, vague, seen, run) is None


def _bound_doc(**params: str) -> dict[str, object]:
    return {"summary": "Bound x.", "params": params, "returns": "The bounded value."}


def test_an_exclusive_bound_is_contradicted_by_a_call_that_returns_it(sandbox: Sandbox) -> None:
    # boltons' clamp, documented by the default model: "upper: ... (exclusive)".
    target = _target(sandbox.root, "bound")
    exclusive = _bound_doc(upper="The upper bound of the range (exclusive).")
    # A recorded call that returned the bound contradicts it.
    seen = usable(target, run_cases(sandbox, target, [Case((9,), {"lower": 0, "upper": 5})], 20.0))
    found = exclusive_bound(target, exclusive, seen, None)
    assert found is not None
    assert found.detail == "says upper is exclusive; bound(9, lower=0, upper=5) returned 5"
    # None did: a call at the bound is made for it (x set to upper's value).
    seen = usable(target, run_cases(sandbox, target, [Case((3,), {"lower": 0, "upper": 5})], 20.0))
    assert exclusive_bound(target, exclusive, seen, None) is None
    found = exclusive_bound(target, exclusive, seen, _run(sandbox, target))
    assert found is not None and found.call.result.case == Case((5,), {"lower": 0, "upper": 5})
    # Inclusive, or not a bound claim: nothing to contradict.
    for text in ("The upper bound (inclusive).", "The non-exclusive upper bound.", "The top."):
        assert exclusive_bound(target, _bound_doc(upper=text), seen, _run(sandbox, target)) is None


def test_a_returned_position_may_be_an_exclusive_end(sandbox: Sandbox) -> None:
    # bisect's hi ends the slice searched (exclusive), and the insertion point can be hi.
    target = _target(sandbox.root, "insertion")
    case = Case(([1, 2, 3], 9), {"hi": 3})
    seen = usable(target, run_cases(sandbox, target, [case], 20.0))
    hi = "The end of the slice searched (exclusive)."
    right = {"params": {"hi": hi}, "returns": "The index where x would be inserted."}
    assert exclusive_bound(target, right, seen, _run(sandbox, target)) is None
    # Where the value itself is said to be returned, the same call contradicts it.
    wrong = {"params": {"hi": hi}, "returns": "The first value not below x."}
    found = exclusive_bound(target, wrong, seen, _run(sandbox, target))
    assert found is not None
    assert found.detail == "says hi is exclusive; insertion([1, 2, 3], 9, hi=3) returned 3"


def test_a_returned_number_put_beside_a_parameter_is_checked(sandbox: Sandbox) -> None:
    # boltons' floor, documented by the default model: "The smallest number ... greater
    # than or equal to `x`", where it returns the largest option at most x.
    target = _target(sandbox.root, "bound")
    seen = usable(target, run_cases(sandbox, target, [Case((3,), {"lower": 0, "upper": 5})], 20.0))
    wrong = {"returns": "The smallest number in range greater than or equal to `upper`."}
    found = returned_comparison(target, wrong, seen)
    assert found is not None
    assert found.detail == (
        "says it returns The smallest number in range greater than or equal to `upper`; "
        "bound(3, lower=0, upper=5) returned 3"
    )
    for right in (
        "The value, at most `upper`.",
        "A number no less than lower.",
        # About something else than the returned value: not read.
        "The number of values greater than `upper`.",
    ):
        assert returned_comparison(target, {"returns": right}, seen) is None


def test_conditions_parse_only_when_every_clause_does() -> None:
    names = ["text", "width", "lower", "upper"]
    assert parse_condition("if width is at least 10", names) == ("and", [("width", ">=", 10)])
    assert parse_condition("When `text` is None", names) == ("and", [("text", "is", None)])
    assert parse_condition("if width is negative or text is long", names) is None
    assert parse_condition("if height is negative", names) is None  # not a parameter
    assert parse_condition("if a is 1 and b is 2 or c is 3", ["a", "b", "c"]) is None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"words.py": WORDS})


@pytest.fixture
def settings(tmp_path: Path, smollm: Path) -> Settings:
    return Settings(model=smollm, home=tmp_path / "home", tests=False, cache=False)


WRONG = {**DASHERIZE_DOC, "returns": "A list of the words."}


def _dasherize(project: Path, settings: Settings, backend: ScriptedBackend) -> SuggestReport:
    return suggest(
        project / "words.py",
        settings,
        functions=["dasherize"],
        backend_factory=lambda path, bundled, s: backend,
    )


def test_the_prompt_shows_calls_and_a_contradicted_try_is_told_the_call(
    project: Path, settings: Settings
) -> None:
    backend = ScriptedBackend(
        scripted_info(), replies=[json.dumps(WRONG), json.dumps(DASHERIZE_DOC)]
    )
    [result] = _dasherize(project, settings, backend).results
    assert result.docstring.status == "kept"
    first, second, *rest = result.docstring.attempts
    assert [line.split(":")[0] for line in rest] == ["examples"]
    assert first.startswith("docstring#0: contradicted: says it returns A list of the words; ")
    assert second == "docstring#1: kept"
    # The first prompt shows calls the sandbox ran; the second names the contradiction.
    assert "dasherize('hello_world') returned 'hello-world'" in backend.calls[0].prompt
    assert "was wrong: it says it returns A list of the words" in backend.calls[1].prompt
    assert "was wrong" not in backend.calls[0].prompt


def test_a_try_whose_prose_was_rejected_tells_the_next_one_the_piece(
    project: Path, settings: Settings
) -> None:
    # The default model in a commit: "word: A string." three times over, each try blind.
    # A reply the grammar's length limit cut off is told so too.
    cut = {**DASHERIZE_DOC, "returns": "The word with each of its underscores " * 3}
    filler = {**DASHERIZE_DOC, "params": {"word": "A string."}}
    backend = ScriptedBackend(
        scripted_info(),
        replies=[json.dumps(cut), json.dumps(filler), json.dumps(DASHERIZE_DOC)],
    )
    [result] = _dasherize(project, settings, backend).results
    assert result.docstring.status == "kept"
    assert result.docstring.attempts[:2] == (
        "docstring#0: truncated: returns reached the length limit",
        "docstring#1: filler: word: A string.",
    )
    assert "was wrong" not in backend.calls[0].prompt
    told = "was wrong: its returns ran past the length limit and was cut off."
    assert told in backend.calls[1].prompt
    told = 'was wrong: "word: A string." says nothing this function alone does.'
    assert told in backend.calls[2].prompt


def test_a_piece_that_repeats_a_calls_value_is_a_placeholder_and_told(
    project: Path, settings: Settings
) -> None:
    # The default model on boltons' pluralize: "word: Hello world.", "Returns: Hello
    # worlds.", the arguments and results of the calls it was shown.
    copied = {**DASHERIZE_DOC, "returns": "Hello-world."}
    backend = ScriptedBackend(
        scripted_info(), replies=[json.dumps(copied), json.dumps(DASHERIZE_DOC)]
    )
    [result] = _dasherize(project, settings, backend).results
    assert result.docstring.status == "kept"
    detail = "Returns: Hello-world. is a value from a call, not a description"
    assert result.docstring.attempts[0] == f"docstring#0: placeholder: {detail}"
    assert f"was wrong: {detail}." in backend.calls[1].prompt


def test_contradicted_reaches_the_console_and_json(project: Path, settings: Settings) -> None:
    backend = ScriptedBackend(scripted_info())
    backend.default = json.dumps(WRONG)
    report = _dasherize(project, settings, backend)
    [result] = report.results
    assert (result.docstring.status, result.docstring.reason) == ("rejected", "contradicted")
    text = to_text(report)
    assert "contradicted" in text and "returned 'hello-world'" in text
    [doc] = [t["docstring"] for t in to_json(report)["targets"]]
    assert doc["reason"] == "contradicted"
    assert any("contradicted: says it returns" in line for line in doc["attempts"])


def test_contradicted_reaches_the_pull_request_review() -> None:
    line = "docstring#0: contradicted: says it returns a list; f('a') returned 'a'"
    checked = Checked(
        "a.f",
        "a.py",
        3,
        "abcdef0123456789abcd",
        Decision("skipped", "tests disabled", ()),
        Decision("rejected", "contradicted", (line,)),
    )
    reviewed = plan()._replace(checked=(checked,))
    summary = render_summary(reviewed, set())
    assert "rejected: contradicted" in summary
    assert f"*contradicted*: {REASONS['contradicted']}" in summary
    assert any("contradicted" in entry for entry in log_lines(reviewed))


class _Statuses:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def status(self, message: str) -> None:
        self.seen.append(message)

    def notice(self, message: str) -> None:
        self.seen.append(message)


@pytest.mark.model
def test_the_real_model_writes_a_docstring_from_calls_the_sandbox_made(
    project: Path, settings: Settings
) -> None:
    # The real llama.cpp model and the real sandbox: the probes run, the grounded prompt
    # is answered, and every try ends kept or with a reason (a contradiction names a call
    # of the function).
    progress = _Statuses()
    report = suggest(
        project / "words.py",
        replace(settings, repair_attempts=1, max_tokens=256),
        functions=["ratio"],
        progress=progress,
    )
    [result] = report.results
    assert "calling words.ratio to see what it does" in progress.seen
    doc = result.docstring
    assert doc.attempts and doc.status in ("kept", "rejected")
    for line in doc.attempts:
        assert re.fullmatch(r"docstring#[01]: (kept|[a-z-]+: .+)", line), line
        if ": contradicted: " in line:
            assert re.search(r"ratio\(.*\) (returned|raised)", line), line
    assert (doc.code is not None) == (doc.status == "kept")
