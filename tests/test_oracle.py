"""Oracle repair: wrong expected literals replaced by what the code returns, in the real
sandbox and pytest; the disagreements in the console, --json and the PR review."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from review_bot.commands import cli
from review_bot.config import Settings, load_settings
from review_bot.generate.oracle import Observation, parse_observations, plan
from review_bot.generate.oracle_sites import find_sites, instrument, rewrite
from review_bot.github.markdown import render_summary
from review_bot.github.plan_json import plan_from_json, plan_to_json
from review_bot.github.records import Decision
from review_bot.llm.models import reports_disagreements
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.records import Disagreement
from review_bot.report import to_json, to_text
from review_bot.suggest import SuggestReport, suggest
from tests.helpers.github_plans import plan as review_plan
from tests.helpers.projects import make_project

CALC = """\
import math


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def add(a: int, b: int) -> int:
    return a + b


def ratio(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    return a / b


def point(x: int) -> Point:
    return Point(x)


def parse(text: str) -> int:
    return int(text)


class Oops(Exception):
    pass


def check(x: int) -> int:
    if x < 0:
        raise Oops(x)
    return x


def half(n: int) -> int:
    if n % 2:
        raise ValueError("odd")
    return n // 2
"""

WRONG = """\
import pytest
from calc import add


@pytest.mark.parametrize("a, b, expected", [(1, 2, 3), (2, 2, 5), pytest.param(0, 0, 1, id="zero")])
def test_add_rows(a, b, expected):
    assert add(a, b) == expected


def test_add():
    total = add(2, 3)
    assert total == 6  # the model's guess
    assert add(1, 1) is True
    assert add(0.1, 0.2) == pytest.approx(0.4, rel=1e-6)
    assert add(-1, 1) in [1, 2]
    with pytest.raises(TypeError):
        add(1, None)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"calc.py": CALC})


@pytest.fixture
def settings(tmp_path: Path, smollm: Path) -> Settings:
    return Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=2,
        timeout_s=10,
        docstrings=False,
        strategy="chat",
        repair_attempts=0,
    )


def fence(code: str) -> str:
    return f"Here is a test:\n```python\n{code}```\n"


def run(project: Path, settings: Settings, function: str, *replies: str) -> SuggestReport:
    backend = ScriptedBackend(scripted_info(), replies)
    return suggest(
        project / "calc.py",
        settings,
        functions=[function],
        backend_factory=lambda path, bundled, s: backend,
    )


# -- the rewrite, without running anything ------------------------------------------------


def test_sites_are_the_assertions_on_a_call_against_a_literal() -> None:
    sites = find_sites(WRONG)
    assert [(s.kind, s.call, s.expected) for s in sites] == [
        ("param", "add(a, b)", "expected"),
        ("eq", "add(2, 3)", "6"),  # `total` is shown as the call it holds
        ("is", "add(1, 1)", "is True"),
        ("approx", "add(0.1, 0.2)", "pytest.approx(0.4, rel=1e-6)"),
        ("in", "add(-1, 1)", "in [1, 2]"),
        ("raises", "add(1, None)", "raises TypeError"),
    ]
    assert sites[0].rows == (("3", "a=1, b=2"), ("5", "a=2, b=2"), ("1", "a=0, b=0"))
    # Not a site: no call on either side, a non-literal expectation, two literals.
    others = "def test_x(y):\n    assert y == 1\n    assert f(1) == g(2)\n    assert 1 == 1\n"
    assert find_sites(others) == []


def test_instrumented_copy_calls_the_recorder_and_keeps_the_rest() -> None:
    code = instrument(WRONG)
    tree = ast.parse(code)
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert asserts == []  # every checkable assertion became a recorder call
    assert code.count("_review_bot_oracle.record(") == 5
    # The actual side is a thunk: the recorder sees what the call raises.
    assert "_review_bot_oracle.record(1, lambda: total, 'eq', (6), None)" in code
    # `await` cannot go into a lambda: the value is awaited in the test, then handed over.
    awaited = instrument("async def test_a():\n    assert await f(1) == 2\n")
    assert "record(0, _review_bot_oracle.ready(await f(1)), 'eq', (2), None)" in awaited
    assert "_review_bot_oracle.raises(5, lambda: add(1, None), (TypeError))" in code
    assert code.rstrip().endswith("import _review_bot_oracle  # noqa: E402")


def test_rewrite_replaces_only_the_failed_literals_and_marks_them() -> None:
    sites = find_sites(WRONG)
    seen = {
        0: [Observation(0, True, "3"), Observation(1, False, "4"), Observation(2, False, "0")],
        1: [Observation(None, False, "5")],
        2: [Observation(None, False, "2")],
        3: [Observation(None, False, "0.30000000000000004")],
        4: [Observation(None, True, "0")],
    }
    decided = plan(sites, seen)
    assert not isinstance(decided, str)
    new, cells, disagreements, narrowed = decided
    assert narrowed == 0
    code = rewrite(WRONG, new, cells)
    assert '[(1, 2, 3), (2, 2, 4), pytest.param(0, 0, 0, id="zero")]' in code
    assert "assert add(a, b) == expected  # recorded: model expected 5 (row 2); 1 (row 3)" in code
    assert "assert total == 5  # recorded: model expected 6 # the model's guess" in code
    assert "assert add(1, 1) == 2  # recorded: model expected is True" in code
    assert "pytest.approx(0.30000000000000004, rel=1e-6)  # recorded: model expected 0.4" in code
    assert "assert add(-1, 1) in [1, 2]\n" in code  # it held: untouched
    assert disagreements == [
        Disagreement("add(a, b) [a=2, b=2]", "5", "4"),
        Disagreement("add(a, b) [a=0, b=0]", "1", "0"),
        Disagreement("add(2, 3)", "6", "5"),
        Disagreement("add(1, 1)", "is True", "2"),
        Disagreement("add(0.1, 0.2)", "pytest.approx(0.4, rel=1e-6)", "0.30000000000000004"),
    ]


def test_no_plan_without_a_faithful_or_stable_value() -> None:
    sites = find_sites("from calc import add\n\ndef test_a():\n    assert add(1, 2) == 4\n")
    unreprable = plan(sites, {0: [Observation(None, False, None)]})
    varies = plan(sites, {0: [Observation(None, False, "3"), Observation(None, False, "4")]})
    held = plan(sites, {0: [Observation(None, True, "4")]})
    too_long = plan(sites, {0: [Observation(None, False, repr("x" * 500))]})
    assert unreprable == "add(1, 2): no faithful literal for its result"
    assert varies == "add(1, 2): its result varies between executions"
    assert too_long == "add(1, 2): no faithful literal for its result"
    assert held == "every literal expectation held"


def test_recorder_lines_from_the_sandbox_are_read_strictly() -> None:
    text = '{"site": 0, "row": null, "held": false, "value": "3"}\nnot json\n[1]\n{"site": "x"}\n'
    assert parse_observations(text) == {0: [Observation(None, False, "3")]}
    assert parse_observations(None) == {}


# -- through the real sandbox and pytest ------------------------------------------------------


def test_wrong_literals_are_recorded_and_the_test_kept(project: Path, settings: Settings) -> None:
    report = run(project, settings, "add", fence(WRONG))
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.attempts[0].startswith("chat#0: fail:")
    assert test.attempts[1] == "chat#0: oracle-repaired 6 assertions -> kept"
    assert test.code is not None
    assert "assert total == 5  # recorded: model expected 6" in test.code
    assert "with pytest.raises(TypeError):" in test.code  # the rest is the model's
    assert "assert add(-1, 1) == 0  # recorded: model expected in [1, 2]" in test.code
    actual = [d.actual for d in test.disagreements]
    assert actual == ["4", "0", "5", "2", "0.30000000000000004", "0"]


def test_a_failure_that_is_not_a_literal_assertion_is_not_repaired(
    project: Path, settings: Settings
) -> None:
    # The literal is wrong too, but parse("x") raises before any assertion is reached.
    code = (
        "from calc import parse\n\n\ndef test_parse():\n"
        "    assert parse('12') == 13\n    value = parse('x')\n    assert value == 0\n"
    )
    report = run(project, settings, "parse", fence(code))
    [result] = report.results
    assert result.test.status == "rejected" and result.test.reason == "fail"
    assert result.test.attempts[1] == (
        "chat#0: oracle: not repaired: it fails on more than literal expectations"
    )
    assert result.test.disagreements == ()


@pytest.mark.parametrize(
    ("function", "assertion"),
    [("point", "point(3) == 3"), ("ratio", "ratio(1.0, 0.0) == 0.0")],
    ids=["object", "nan"],
)
def test_an_unreprable_result_is_not_repaired(
    project: Path, settings: Settings, function: str, assertion: str
) -> None:
    code = f"from calc import {function}\n\n\ndef test_it():\n    assert {assertion}\n"
    report = run(project, settings, function, fence(code))
    [result] = report.results
    assert result.test.status == "rejected" and result.test.reason == "fail"
    assert result.test.attempts[1].startswith("chat#0: oracle: not repaired: ")
    assert "no faithful literal" in result.test.attempts[1]


def test_raises_blocks_that_did_not_raise_or_raised_another_builtin_are_recorded(
    project: Path, settings: Settings
) -> None:
    code = (
        "import pytest\nfrom calc import add\n\n\ndef test_add():\n"
        "    with pytest.raises(ValueError):\n        add(1, 2)\n"
        "    with pytest.raises(ValueError):\n        add(1, None)\n"
        "    with pytest.raises(TypeError):\n        add('a', 1)\n"
    )
    report = run(project, settings, "add", fence(code))
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.code == (
        "import pytest\nfrom calc import add\n\n\ndef test_add():\n"
        "    assert add(1, 2) == 3  # recorded: model expected raises ValueError\n"
        "    with pytest.raises(TypeError):  # recorded: model expected raises ValueError\n"
        "        add(1, None)\n"
        "    with pytest.raises(TypeError):\n        add('a', 1)\n"
    )
    assert test.disagreements == (
        Disagreement("add(1, 2)", "raises ValueError", "3"),
        Disagreement("add(1, None)", "raises ValueError", "raises TypeError"),
    )


def test_an_assertion_whose_call_raised_becomes_a_raises_block(
    project: Path, settings: Settings
) -> None:
    # The model expected a value where the code raises what it raises on purpose: the
    # block states it; `import pytest` is added where the test had none (repair.fix_imports,
    # after the leading imports, as for any candidate).
    code = (
        "from calc import half\n\n\ndef test_half():\n"
        "    assert half(4) == 3\n    assert 0 == half(3)  # a guess\n"
    )
    report = run(project, settings, "half", fence(code))
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.attempts[1] == "chat#0: oracle-repaired 2 assertions -> kept"
    assert test.code == (
        "from calc import half\nimport pytest\n\n\ndef test_half():\n"
        "    assert half(4) == 2  # recorded: model expected 3\n"
        "    with pytest.raises(ValueError):  # recorded: model expected 0 # a guess\n"
        "        half(3)\n"
    )
    assert test.disagreements == (
        Disagreement("half(4)", "3", "2"),
        Disagreement("half(3)", "0", "raises ValueError"),
    )


def test_a_raised_exception_is_written_only_where_a_block_can_hold_it() -> None:
    code = (
        "import pytest\nfrom calc import half\n\n\n"
        "@pytest.mark.parametrize('n, expected', [(2, 1), (3, 0)])\n"
        "def test_rows(n, expected):\n    assert half(n) == expected\n\n\n"
        "def test_half():\n    assert half(3) == 0; assert half(2) == 1\n"
        "    assert half('x') == 0\n"
    )
    sites = find_sites(code)
    raised = ["ValueError"]
    row = plan(sites[:1], {0: [Observation(1, False, "!ValueError")]}, raised)
    line = plan(sites[1:2], {1: [Observation(None, False, "!ValueError")]}, raised)
    assert row == "half(n): it raised ValueError: a parametrize row cannot say so"
    assert line == "half(3): it raised ValueError: not alone on its line"
    # A TypeError of a call the model got wrong is not a behaviour to pin.
    wrong = plan(sites[3:], {3: [Observation(None, False, "!TypeError")]}, raised)
    assert wrong == (
        "half('x'): it raised TypeError: not an exception the function raises on purpose"
    )
    alone = plan(sites[3:], {3: [Observation(None, False, "!ValueError")]}, raised)
    assert not isinstance(alone, str) and alone[0] == {3: "!ValueError"}


def test_a_blind_raises_that_held_is_narrowed_to_the_exception(
    project: Path, settings: Settings
) -> None:
    # `pytest.raises(Exception)` passes for any error: a project whose ruff has bugbear's
    # B017 rejects it (pluggy, in the corpus, every time). Oracle repair names the exception
    # the call raised, where that is a builtin; the user's own exception stays as written.
    with (project / "pyproject.toml").open("a") as config:
        config.write('\n[tool.ruff.lint]\nselect = ["B017"]\n')
    uncached = replace(settings, cache=False)  # the same function, asked twice
    code = (
        "import pytest\nfrom calc import check, parse\n\n\ndef test_parse():\n"
        "    assert parse('12') == 12\n"
        "    with pytest.raises(Exception):\n        parse('x')\n"
        "    with pytest.raises(Exception):\n        check(-1)\n"
    )
    report = run(project, uncached, "parse", fence(code))
    [result] = report.results
    test = result.test
    assert test.attempts[0].startswith("chat#0: style: ruff B017"), test.attempts
    assert test.attempts[1] == (
        "chat#0: oracle-repaired 0 assertions, named the exception of 1 blind pytest.raises"
        " -> style"
    )
    # The user's own exception keeps B017's finding: rejected, as before.
    assert test.status == "rejected" and test.reason == "style"
    code = code.replace("    with pytest.raises(Exception):\n        check(-1)\n", "")
    report = run(project, uncached, "parse", fence(code))
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.attempts[1].endswith("named the exception of 1 blind pytest.raises -> kept")
    assert test.code is not None
    assert (
        "    with pytest.raises(ValueError):  # recorded: model expected raises Exception\n"
        '        parse("x")\n'
    ) in test.code
    assert test.disagreements == ()


def test_a_kept_test_names_the_exception_of_its_blind_raises_too(
    project: Path, settings: Settings
) -> None:
    # No lint rejects it here, but a careful reviewer would not merge a block that passes
    # for any error: the kept test names the one the call raised.
    code = (
        "import pytest\nfrom calc import parse\n\n\ndef test_parse():\n"
        "    assert parse('12') == 12\n"
        "    with pytest.raises(Exception):\n        parse('x')\n"
    )
    report = run(project, settings, "parse", fence(code))
    [result] = report.results
    test = result.test
    assert test.status == "kept"
    assert test.attempts == (
        "chat#0: kept",
        "chat#0: oracle-repaired 0 assertions, named the exception of 1 blind pytest.raises"
        " -> kept",
    )
    assert test.code is not None
    assert "    with pytest.raises(ValueError):  # recorded: model expected raises Exception\n" in (
        test.code
    )
    # A blind block around the user's own exception stays as the model wrote it.
    own = code.replace("parse('x')", "parse('1') and check(-1)").replace(
        "parse\n", "check, parse\n"
    )
    report = run(project, replace(settings, cache=False), "parse", fence(own))
    [result] = report.results
    assert result.test.status == "kept" and result.test.attempts == ("chat#0: kept",)


def test_another_exception_of_the_users_is_not_repaired(project: Path, settings: Settings) -> None:
    # The test would need to import Oops: not a literal review-bot writes.
    code = (
        "import pytest\nfrom calc import check\n\n\ndef test_check():\n"
        "    assert check(1) == 1\n"
        "    with pytest.raises(ValueError):\n        check(-1)\n"
    )
    report = run(project, settings, "check", fence(code))
    [result] = report.results
    assert result.test.status == "rejected"
    assert result.test.attempts[1] == (
        "chat#0: oracle: not repaired: check(-1): no faithful literal for its result"
    )


def test_oracle_repair_can_be_turned_off(project: Path, settings: Settings) -> None:
    report = run(project, replace(settings, oracle_repair=False), "add", fence(WRONG))
    [result] = report.results
    assert result.test.status == "rejected" and len(result.test.attempts) == 1


# -- the three outputs --------------------------------------------------------------------------

ONE_WRONG = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 5\n"


def test_disagreements_in_the_console_and_json(project: Path, settings: Settings) -> None:
    report = run(project, settings, "add", fence(ONE_WRONG))
    text = to_text(report)
    assert "    disagreements (the model expected, the code returns):\n" in text
    assert "      add(2, 2): expected 5, got 4\n" in text
    [target] = to_json(report)["targets"]
    assert target["test"]["disagreements"] == [
        {"call": "add(2, 2)", "expected": "5", "actual": "4"}
    ]


def test_disagreements_in_suggest_json_from_the_command_line(
    project: Path, smollm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = ScriptedBackend(scripted_info(), [fence(ONE_WRONG)])
    monkeypatch.chdir(project)
    args = ["suggest", "calc.py", "--function", "add", "--model", str(smollm), "--json"]
    args += ["--strategy", "chat", "--runs", "2", "--no-docstrings"]
    result = CliRunner().invoke(
        cli, args, obj={"backend_factory": lambda path, bundled, s: backend}
    )
    assert result.exit_code == 0, result.output
    [target] = json.loads(result.stdout)["targets"]
    assert target["test"]["status"] == "kept"
    assert target["test"]["disagreements"] == [
        {"call": "add(2, 2)", "expected": "5", "actual": "4"}
    ]
    hidden = ScriptedBackend(scripted_info(), [fence(ONE_WRONG)])
    result = CliRunner().invoke(
        cli,
        [*args, "--no-disagreements", "--no-cache"],
        obj={"backend_factory": lambda path, bundled, s: hidden},
    )
    [target] = json.loads(result.stdout)["targets"]
    assert target["test"]["status"] == "kept" and target["test"]["disagreements"] == []


def test_disagreements_in_the_pr_review_as_one_collapsed_list() -> None:
    base = review_plan()
    [checked] = base.checked
    found = (Disagreement("add(2, 2)", "5", "4"), Disagreement("add(`x`)", "'a'", "'b'"))
    test = Decision("kept", None, ("chat#0: oracle-repaired 2 assertions -> kept",), found)
    reviewed = base._replace(checked=(checked._replace(test=test),))
    summary = render_summary(reviewed, set())
    assert summary.count("<details><summary>Disagreements (2)") == 1
    assert "- `a.f`: `add(2, 2)` returns `4`; the model expected `5`" in summary
    # A backtick in the call stays as it is, inside a longer code delimiter (issue 22).
    assert "- `a.f`: ``add(`x`)`` returns `'b'`; the model expected `'a'`" in summary
    assert "Disagreements" not in render_summary(base, set())
    # Through the plan the unprivileged job writes and the posting job reads.
    back = plan_from_json(json.loads(json.dumps(plan_to_json(reviewed))))
    assert back.checked[0].test.disagreements == found
    assert back == reviewed


def test_disagreements_setting(tmp_path: Path) -> None:
    assert reports_disagreements(None, None) is True
    assert reports_disagreements(Path("smollm2"), None) is False
    assert reports_disagreements(Path("smollm2"), True) is True
    assert reports_disagreements(None, False) is False
    root = make_project(tmp_path / "p", {})
    (root / "pyproject.toml").write_text(
        "[tool.review-bot]\ndisagreements = false\noracle-repair = false\n"
    )
    loaded = load_settings(root, {}, {})
    assert loaded.disagreements is False and loaded.oracle_repair is False
    env = load_settings(root, {}, {"REVIEW_BOT_DISAGREEMENTS": "1"})
    assert env.disagreements is True
    assert load_settings(make_project(tmp_path / "q", {}), {}, {}).disagreements is None


def test_cached_outcome_keeps_its_disagreements_and_smollm2_hides_them(
    project: Path, settings: Settings
) -> None:
    first = run(project, settings, "add", fence(ONE_WRONG))
    again = run(project, settings, "add")  # from the cache: no reply queued
    assert again.stats.model_calls == 0
    assert again.results[0].test.disagreements == first.results[0].test.disagreements != ()
    smoke = run(project, replace(settings, model=Path("smollm2")), "add", fence(ONE_WRONG))
    assert smoke.results[0].test.status == "kept"
    assert smoke.results[0].test.disagreements == ()


# -- real replies of the default model, captured once (bench/oracle_replies.py) -----------------

DATA = Path(__file__).resolve().parent / "data" / "oracle"
CAPTURED = json.loads((DATA / "replies.json").read_text())["replies"]
DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo" / "textutils.py"
# What becomes of each captured Qwen2.5-Coder-0.5B reply, and why.
EXPECTED = {
    # kept after oracle repair: the calls were sensible, the expected values wrong
    "word_count": "repaired",
    "chunked": "repaired",
    "ordinalize": "repaired",
    "bytes2human": "repaired",
    # the same, once its tests of the module's other functions are dropped (mechanical.py)
    "camel2under": "repaired",
    # pytest.raises blocks that do not raise (under2camel: after its legacy
    # `pytest.raises(E, f, x)` became `with` blocks) or raise another builtin exception
    # (slugify(None): AttributeError, not ValueError)
    "under2camel": "repaired",
    "slugify": "repaired",
    # right as written
    "is_palindrome": "kept",
    # mean([]) raises the ValueError of its own `raise`: the assertion becomes a raises block
    "mean": "repaired",
    # not repaired: an exception in a call outside pytest.raises that the function does not
    # raise on purpose (clamp("", 3, 7) compares a str with an int)
    "clamp": "not repaired",
}


@pytest.mark.parametrize("captured", CAPTURED, ids=[c["function"] for c in CAPTURED])
def test_captured_replies_of_the_default_model(
    tmp_path: Path, smollm: Path, captured: dict[str, object]
) -> None:
    source = DEMO if captured["module"] == "textutils.py" else DATA / "strutils.py"
    project = make_project(tmp_path / "proj", {source.name: source.read_text()})
    settings = Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=2,
        timeout_s=10,
        docstrings=False,
        strategy="chat",
        repair_attempts=0,
    )
    backend = ScriptedBackend(scripted_info(), [str(captured["reply"])])
    report = suggest(
        project / source.name,
        settings,
        functions=[str(captured["function"])],
        backend_factory=lambda path, bundled, s: backend,
    )
    [result] = report.results
    test = result.test
    expected = EXPECTED[str(captured["function"])]
    if expected == "repaired":
        assert test.status == "kept", test.attempts
        assert "oracle-repaired" in test.attempts[-1] and test.attempts[-1].endswith("-> kept")
        assert test.disagreements and test.code is not None
        assert test.code.count("# recorded: model expected") >= 1
        # Every disagreement's value is the code's: the recorded literal is in the kept test.
        assert all(d.actual.removeprefix("raises ") in test.code for d in test.disagreements)
    elif expected == "kept":
        assert test.status == "kept" and test.attempts == ("chat#0: kept",)
        assert test.disagreements == ()
    else:
        assert test.status == "rejected" and test.reason == "fail", test.attempts
        assert any(": oracle: not repaired: " in line for line in test.attempts)
        assert test.disagreements == ()


def test_disagreements_in_the_pull_request_review(tmp_path: Path, smollm: Path) -> None:
    from tests.helpers.github_stub import GitHubStub
    from tests.test_review_e2e import PR, TESTS, TOKEN, ok, scripted

    wrong = "from calc import scale\n\n\ndef test_scale():\n    assert scale(3, 4) == 7\n"
    with GitHubStub(token=TOKEN, prefix="/api/v3") as stub:
        pr = PR(tmp_path, stub, tmp_path / "home")
        ok(pr.review(smollm, backend=scripted(tests=TESTS | {"scale": wrong})))
        [summary] = stub.issue_comments
        [post] = stub.calls("POST", r"/pulls/7/reviews$")
    body = summary["body"]
    assert body.count("<details><summary>Disagreements (1):") == 1
    assert "- `calc.scale`: `scale(3, 4)` returns `12`; the model expected `7`" in body
    [scale_test] = [c for c in post.body["comments"] if "def test_scale" in c["body"]]
    assert "assert scale(3, 4) == 12  # recorded: model expected 7" in scale_test["body"]
