"""Strategies in isolation: prompts sent, schemas built, tests rendered."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from review_bot.config import Settings
from review_bot.generate.cases import (
    Case,
    Result,
    case_schema,
    parse_cases,
    render_test,
    unusable_causes,
)
from review_bot.generate.tests import Attempts, complete_strategy
from review_bot.llm import FimTokens
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.llm.session import ModelSession
from review_bot.prompts import Prompts
from review_bot.records import Candidate, Target, Verdict
from review_bot.suggest import suggest
from review_bot.targets import targets_in_source
from tests.helpers.projects import make_project

SOURCE = """\
from typing import Iterator, Optional


def scale(values: list[float], factor: float = 2.0, *, expected: int = 0) -> list[float]:
    return [v * factor for v in values]


def pick(name: Optional[str], mode: "int | None") -> str:
    return name or str(mode)


def count_up(n: int) -> Iterator[int]:
    yield from range(n)


def ping() -> str:
    return "pong"


def make(obj: Path) -> None:
    pass


class Box:
    def get(self) -> int:
        return 1
"""


@pytest.fixture
def targets(tmp_path: Path) -> dict[str, Target]:
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    return {t.qualname: t for t in targets_in_source(tmp_path, path, SOURCE)}


def test_case_schema_follows_annotations(targets: dict[str, Target]) -> None:
    schema = case_schema(targets["scale"], 5)
    assert schema is not None
    cases = schema["properties"]["cases"]
    assert cases["maxItems"] == 5
    props = cases["items"]["properties"]
    assert props["values"] == {"type": "array", "items": {"type": "number"}, "maxItems": 6}
    assert props["factor"] == {"type": "number"} and props["expected"] == {"type": "integer"}
    assert cases["items"]["required"] == ["values", "factor", "expected"]
    pick = case_schema(targets["pick"], 3)
    assert pick is not None
    pick_props = pick["properties"]["cases"]["items"]["properties"]
    assert pick_props["name"] == {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}]}
    assert pick_props["mode"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    # A required argument of a user class, and methods, cannot be built from JSON.
    assert case_schema(targets["make"], 3) is None
    assert case_schema(targets["Box.get"], 3) is None


def test_parse_cases_drops_invalid_entries(targets: dict[str, Target]) -> None:
    text = 'noise {"cases": [{"values": [1], "factor": 3}, {"factor": 1}, 7, {"values": []}]} tail'
    assert parse_cases(text, targets["scale"]) == [Case(([1], 3), {}), Case(([],), {})]
    assert parse_cases("not json", targets["scale"]) == []
    assert parse_cases('{"cases": 3}', targets["scale"]) == []


def test_unusable_cases_say_why_counted(targets: dict[str, Target]) -> None:
    # Issue 21: "no usable case among N proposed" gave no cause.
    cases = [Case(([5.0],), {}), Case(([6.0],), {}), Case(([9.0],), {}), Case(([],), {})]
    results = [
        Result(cases[0], "returns", "[1.0]", None, False),
        Result(cases[1], "returns", "[1.2]", None, False),
        Result(cases[2], "timeout", None, None, True),
        Result(cases[3], "returns", None, None, True),
    ]
    assert unusable_causes(targets["scale"], cases, results) == (
        "2 its outcome varied between runs; 1 timed out; 1 its value has no literal form"
    )
    assert unusable_causes(targets["scale"], [], []) == (
        "the reply held no case that fits the signature"
    )


def test_render_groups_and_reserved_names(targets: dict[str, Target]) -> None:
    results = [
        Result(Case(([1.0], 2.0), {"expected": 1}), "returns", "[2.0]", None, True),
        Result(Case(([],), {}), "returns", "[]", None, True),
        Result(Case(("x",), {}), "raises", None, ("builtins", "TypeError"), True),
        Result(Case(([5.0],), {}), "returns", "[1.0]", None, False),  # varies: dropped
        Result(Case(([9.0],), {}), "timeout", None, None, True),  # dropped
    ]
    code, rows = render_test(targets["scale"], results, Prompts())
    assert rows == 3
    ast.parse(code)
    # `factor` is its default (2.0) in every row: left out of the call.
    assert '("values", "expected_", "expected"),' in code
    assert "([1.0], 1, [2.0])," in code and "([], 0, [])," in code
    assert "scale(values, expected=expected_) == expected" in code
    assert "('x', 0, TypeError)," in code and "with pytest.raises(error):" in code


def test_render_generators_and_no_arguments(targets: dict[str, Target]) -> None:
    gen, rows = render_test(
        targets["count_up"], [Result(Case((3,), {}), "yields", "[0, 1, 2]", None, True)], Prompts()
    )
    assert rows == 1 and "assert list(count_up(n)) == expected" in gen
    bare, rows = render_test(
        targets["ping"], [Result(Case((), {}), "returns", "'pong'", None, True)], Prompts()
    )
    assert rows == 1 and "def test_ping_returns(expected):" in bare
    ast.parse(bare)


def _verdict(candidate: Candidate) -> Verdict:
    return Verdict(candidate, False, "fail", "AssertionError", 1, 0, frozenset(), frozenset())


@pytest.mark.parametrize(
    ("fim", "start", "middle"),
    [
        (FimTokens("codellama", "<PRE>", "<SUF>", "<MID>", ("<EOT>",)), "<PRE> ", " <MID>"),
        (
            FimTokens("codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", ()),
            "<|fim_prefix|>",
            "<|fim_middle|>",
        ),
    ],
)
def test_complete_strategy_fim_prompts(
    targets: dict[str, Target], fim: FimTokens, start: str, middle: str
) -> None:
    info = scripted_info(chat_template=None)._replace(fim=fim)
    backend = ScriptedBackend(info, ["assert ping() == 'pong'\n", "assert ping()\n"])
    session = ModelSession(lambda: backend)
    attempts = Attempts()
    seen: list[Candidate] = []

    def verify(candidate: Candidate) -> Verdict:
        seen.append(candidate)
        return _verdict(candidate)

    complete_strategy(targets["ping"], session, Prompts(), verify, 1, attempts)
    prompt = backend.calls[0].prompt
    assert prompt.startswith(start) and prompt.endswith(middle)
    assert "def test_ping():\n    " + fim.suffix in prompt
    assert "pytest.main([__file__])\n" in prompt
    assert "\ndef " in backend.calls[0].stop and "<|im_end|>" in backend.calls[0].stop
    assert all(s in backend.calls[0].stop for s in fim.stop)
    # The candidate is the skeleton plus the completed body.
    assert seen[0].code.startswith("import pytest\n\nfrom mod import ping\n\n\ndef test_ping():\n")
    assert seen[0].code.endswith("    assert ping() == 'pong'\n")
    assert attempts.lines == [
        "complete#0: fail: AssertionError",
        "complete#1: fail: AssertionError",
    ]


@pytest.mark.model
def test_complete_strategy_on_a_real_base_model(tmp_path: Path, gemma_base: Path) -> None:
    """A template-less base model through the complete strategy, end to end."""
    project = make_project(
        tmp_path / "p", {"calc.py": "def double(x: int) -> int:\n    return 2 * x\n"}
    )
    settings = Settings(
        model=gemma_base,
        home=tmp_path / "home",
        strategy="complete",
        runs=2,
        docstrings=False,
        n_ctx=1024,
        max_tokens=96,
    )
    report = suggest(project / "calc.py", settings)
    [result] = report.results
    assert report.stats.model.arch == "gemma3"
    assert all(line.startswith("complete#") for line in result.test.attempts)
    if result.test.status == "kept":
        assert result.test.code is not None and "def test_double():" in result.test.code
        assert result.test.attempts[-1].endswith(": kept")
    else:
        assert len(result.test.attempts) == 3 and report.stats.model_calls == 3


def test_repo_prompt_override(tmp_path: Path, smollm: Path) -> None:
    project = make_project(tmp_path / "p", {"calc.py": "def one() -> int:\n    return 1\n"})
    override = project / ".review-bot" / "prompts"
    override.mkdir(parents=True)
    (override / "test_user.j2").write_text("CUSTOM PROMPT for {{ target.qualname }}\n")
    backend = ScriptedBackend(scripted_info())
    backend.enqueue("```python\ndef test_one():\n    assert one() == 1\n```")
    settings = Settings(
        model=smollm, home=tmp_path / "h", strategy="chat", runs=1, docstrings=False
    )
    report = suggest(project / "calc.py", settings, backend_factory=lambda p, b, s: backend)
    assert "CUSTOM PROMPT for one" in backend.calls[0].prompt
    assert report.results[0].test.status == "kept"
    assert replace(settings, runs=2) != settings


def test_repo_prompts_cannot_reach_python_internals(tmp_path: Path) -> None:
    from review_bot.errors import FatalError

    project = make_project(tmp_path / "p", {})
    override = project / ".review-bot" / "prompts"
    override.mkdir(parents=True)
    (override / "test_system.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(FatalError, match=r"test_system\.j2"):
        Prompts(project).render("test_system.j2", target=None)


def test_an_empty_reply_cut_at_max_tokens_says_so(targets: dict[str, Target]) -> None:
    # The corpus (async-lru): on a long module every chat reply was "no compilable test
    # code", and nothing said the replies had run into max_tokens.
    from review_bot.generate.tests import checked

    def never(candidate: Candidate) -> Verdict:
        raise AssertionError("an empty candidate is not run")

    empty = Candidate(targets["scale"], "chat", "", 0)
    verdict = checked(never, empty, cut_at=512)
    assert verdict.reason == "syntax"
    assert verdict.detail == (
        "no compilable test code in the model's reply: it was cut off at max_tokens (512); "
        "raise max_tokens"
    )
    assert checked(never, empty).detail == "no compilable test code in the model's reply"


def test_a_raises_row_counts_a_kill_only_where_its_match_would_fail(
    targets: dict[str, Target],
) -> None:
    from review_bot.generate.cases_cut import same_outcome

    def raised(message: str | None) -> Result:
        error = ("builtins", "ValueError")
        return Result(Case((1,), {}), "raises", None, error, True, message=message)

    short = raised("whole must not be zero")
    assert same_outcome(raised("whole must not be zero"), short)
    assert not same_outcome(raised("XXwhole must not be zeroXX"), short)  # anchored both ends
    assert not same_outcome(raised(None), short)  # a message the mutant's row cannot state
    # A long message is stated by its first words: a change after them passes the row,
    # so it is no kill; the row's literal stays short enough for a 79-column line.
    long = raised("expected max_len greater than length of ellipsis '...', not -1")
    assert same_outcome(raised("expected max_len greater than length of ellipsis '...', XX"), long)
    assert not same_outcome(raised("XXexpected max_len greater than length of ellipsis"), long)
    assert same_outcome(raised("anything"), raised(None))  # nothing stated: the class alone
    code, _ = render_test(
        targets["count_up"], [long, short._replace(case=Case((2,), {}))], Prompts()
    )
    literal = "r\"^expected max_len greater than length of ellipsis '\\.\\.\\.',\""
    assert (
        f"(1, ValueError, {literal})," in code
        and '(2, ValueError, "^whole must not be zero$"),' in code
    )
    assert len(" " * 12 + literal + ",") <= 79  # alone on its line once a formatter splits the row
    assert "with pytest.raises(error, match=match):" in code
