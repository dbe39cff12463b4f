"""Verified examples (`docstring_examples`): a scripted model, the real sandbox, real doctest."""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from review_bot.config import Settings
from review_bot.generate.cases import Case, Result, run_cases
from review_bot.generate.docstrings.examples import add_examples, example_lines, run_doctests
from review_bot.generate.docstrings.render import render_docstring
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.llm.session import ModelSession
from review_bot.prompts import Prompts
from review_bot.sandbox import Limits, Sandbox
from review_bot.suggest import suggest
from review_bot.targets import targets_in_source
from tests.helpers.projects import make_project

CALC = """\
def clamp(value: int, low: int, high: int) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    return max(low, min(value, high))


def shout(text: str) -> str:
    return text.upper() + "!"
"""

CLAMP_DOC = {
    "summary": "Bring a number into a closed range.",
    "params": {
        "value": "The number to bring into range.",
        "low": "The least result.",
        "high": "The greatest result.",
    },
    "returns": "The number, or the nearer end of the range.",
    "raises": [{"exception": "ValueError", "when": "low is greater than high"}],
}
CLAMP_CASES = {
    "cases": [
        {"value": 5, "low": 0, "high": 3},
        {"value": -1, "low": 0, "high": 3},
        {"value": 2, "low": 0, "high": 3},
        {"value": 1, "low": 3, "high": 0},  # raises: no example
        {"value": 7, "low": 0, "high": 9},
    ]
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"calc.py": CALC})


@pytest.fixture
def settings(tmp_path: Path, smollm: Path) -> Settings:
    return Settings(
        model=smollm,
        home=tmp_path / "home",
        tests=False,
        docstring_examples=True,
        repair_attempts=0,
        cache=False,
    )


def _run(
    project: Path, settings: Settings, *replies: str, backend: ScriptedBackend | None = None
) -> tuple[str | None, tuple[str, ...]]:
    """The clamp docstring `suggest` keeps and its attempts, the model scripted."""
    scripted = backend or ScriptedBackend(scripted_info(), replies=replies)
    report = suggest(
        project / "calc.py",
        settings,
        functions=["clamp"],
        backend_factory=lambda path, bundled, s: scripted,
    )
    [result] = report.results
    return result.docstring.code, result.docstring.attempts


def test_examples_come_from_the_calls_the_docstring_was_grounded_in(
    project: Path, settings: Settings
) -> None:
    # Issue 25: the calls the sandbox made to ground the docstring give the examples: no
    # model call of their own (one reply queued: the docstring's).
    backend = ScriptedBackend(scripted_info(), replies=[json.dumps(CLAMP_DOC)])
    text, attempts = _run(project, settings, backend=backend)
    assert text is not None
    assert attempts == ("docstring#0: kept", "examples: 3 verified by doctest")
    assert len(backend.calls) == 1
    section = text[text.index("Examples:") :].splitlines()
    assert section[0] == "Examples:" and len(section) == 7
    calls = section[1::2]
    assert all(line.startswith("    >>> clamp(") for line in calls)
    # Distinct values, each the real one: what was kept runs as the module's own doctest.
    assert len(set(section[2::2])) == 3
    import doctest

    namespace: dict[str, object] = {}
    exec(compile(CALC, "calc.py", "exec"), namespace)  # the user's own module, not model code
    parsed = doctest.DocTestParser().get_doctest(text, namespace, "clamp", "calc.py", 0)
    assert doctest.DocTestRunner().run(parsed).failed == 0


def test_without_recorded_calls_the_model_proposes_them(project: Path) -> None:
    target = _target(project, "clamp")
    backend = ScriptedBackend(scripted_info(), replies=[json.dumps(CLAMP_CASES)])
    session = ModelSession(lambda: backend)
    text = render_docstring(target, CLAMP_DOC, "google")
    with Sandbox(project, Limits(30, 2048, 30)) as sandbox:
        examples = functools.partial(
            add_examples,
            target,
            text,
            session,
            Prompts(project),
            sandbox,
            convention="google",
            n_cases=5,
            timeout_s=30,
        )
        found, note = examples()
        assert note == "2 verified by doctest" and found is not None
        # Each shows a change: the call that raised gives none, nor do the ones that
        # return their first argument unchanged (clamp(2, 0, 3), clamp(7, 0, 9)).
        assert found.removeprefix(text).splitlines()[2:] == [
            "Examples:",
            "    >>> clamp(5, 0, 3)",
            "    3",
            "    >>> clamp(-1, 0, 3)",
            "    0",
        ]
        raising = run_cases(sandbox, target, [Case((1, 3, 0), {})], 30)
        none, why = examples(recorded=raising)
    assert none is None and why == "none: no call of 1 returned a value with a faithful repr"
    assert len(backend.calls) == 1  # the recorded calls asked the model nothing


def test_examples_are_on_by_default_and_can_be_turned_off(
    project: Path, settings: Settings
) -> None:
    assert Settings().docstring_examples is True  # issue 25: the hand review's finding
    text, attempts = _run(
        project, replace(settings, docstring_examples=False), json.dumps(CLAMP_DOC)
    )
    assert text is not None and "Examples" not in text
    assert attempts == ("docstring#0: kept",)


def test_numpy_examples_section(project: Path, settings: Settings) -> None:
    numpy = replace(settings, convention="numpy")
    text, _ = _run(project, numpy, json.dumps(CLAMP_DOC))
    assert text is not None
    assert "\n\nExamples\n--------\n>>> clamp(" in text


def _target(project: Path, name: str):  # type: ignore[no-untyped-def]
    path = project / "calc.py"
    return next(t for t in targets_in_source(project, path, CALC) if t.qualname == name)


def test_only_faithful_short_values_become_examples(project: Path) -> None:
    target = _target(project, "shout")

    def returned(arg: object, value: str | None, stable: bool = True) -> Result:
        return Result(Case((arg,), {}), "returns", value, None, stable)

    results = [
        returned("a\\b", "'A\\\\B!'"),  # a backslash would need a raw docstring
        returned("x" * 70, repr("X" * 70 + "!")),  # too wide
        returned("v", None),  # no faithful repr
        returned("w", "'W!'", stable=False),  # varies between calls
        returned("hi", "'HI!'"),
        returned("hi", "'HI!'"),  # a repeat
        returned("ok", "'OK!'"),
    ]
    assert example_lines(target, results) == [("shout('hi')", "'HI!'"), ("shout('ok')", "'OK!'")]
    # A call that returns its argument unchanged shows a reader nothing.
    same = returned("x", "'x'")
    assert ("shout('x')", "'x'") not in example_lines(target, [same, *results])


def test_a_wrong_example_fails_doctest_in_the_sandbox(project: Path) -> None:
    target = _target(project, "shout")
    good = "Shout the text.\n\nExamples:\n    >>> shout('hi')\n    'HI!'"
    wrong = "Shout the text.\n\nExamples:\n    >>> shout('hi')\n    'hi'"
    with Sandbox(project, Limits(30, 2048, 30)) as sandbox:
        assert run_doctests(sandbox, target, good, 30) == (1, "")
        ran, detail = run_doctests(sandbox, target, wrong, 30)
    assert ran == 0 and "Expected" in detail
    # The user's file is untouched: the doctest ran on a copy in the sandbox.
    assert (project / "calc.py").read_text() == CALC
    assert ast.get_docstring(ast.parse(CALC).body[1]) is None  # type: ignore[arg-type]
