"""Mutation analysis: the mutants (pure), their scoring in the real sandbox, the keep rule,
and the score in every output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from review_bot.config import Settings, load_settings
from review_bot.errors import FatalError
from review_bot.github.markdown import log_lines, render_summary
from review_bot.github.plan_json import plan_from_json, plan_to_json
from review_bot.github.records import Checked, Decision
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.mutation import (
    Mutant,
    all_mutants,
    judge,
    kills,
    mutants,
    score,
    select,
    shortest_cover,
)
from review_bot.records import Candidate, MutationScore, Target, Verdict
from review_bot.report import to_json, to_text
from review_bot.sandbox import Limits, Sandbox
from review_bot.suggest import suggest
from review_bot.targets import targets_in_source
from tests.helpers.github_plans import plan
from tests.helpers.projects import make_project


def target_of(tmp_path: Path, source: str, qualname: str) -> Target:
    path = tmp_path / "mod.py"
    path.write_text(source)
    found = [t for t in targets_in_source(tmp_path, path, source) if t.qualname == qualname]
    assert found, qualname
    return found[0]


def descriptions(target: Target) -> list[str]:
    return [m.description for m in all_mutants(target)]


# -- the operators -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # comparison
        ("return a == b", "line 2: `==` -> `!=`"),
        ("return a != b", "line 2: `!=` -> `==`"),
        ("return a < b", "line 2: `<` -> `<=`"),
        ("return a <= b", "line 2: `<=` -> `<`"),
        ("return a > b", "line 2: `>` -> `>=`"),
        ("return a >= b", "line 2: `>=` -> `>`"),
        ("return a is b", "line 2: `is` -> `is not`"),
        ("return a not in b", "line 2: `not in` -> `in`"),
        # arithmetic
        ("return a + b", "line 2: `+` -> `-`"),
        ("return a - b", "line 2: `-` -> `+`"),
        ("return a * b", "line 2: `*` -> `/`"),
        ("return a / b", "line 2: `/` -> `*`"),
        ("return a // b", "line 2: `//` -> `/`"),
        ("return a % b", "line 2: `%` -> `/`"),
        ("return a ** b", "line 2: `**` -> `*`"),
        ("a += b\n    return a", "line 2: `+=` -> `-=`"),
        ("return -a", "line 2: `-` -> `+`"),
        # boolean
        ("return a and b", "line 2: `and` -> `or`"),
        ("return a or b", "line 2: `or` -> `and`"),
        ("return not a", "line 2: `not a` -> `a`"),
        # constants
        ("return a + 7", "line 2: `7` -> `8`"),
        ("return a * 1.5", "line 2: `1.5` -> `2.5`"),
        ("return True", "line 2: `True` -> `False`"),
        ("return 'x' + a", "line 2: `'x'` -> `'XXxXX'`"),
        # return value
        ("b = a\n    return b", "line 3: `return b` -> `return None`"),
        # condition negation
        ("if a:\n        return b\n    return a", "line 2: `if a` -> `if not (a)`"),
        ("while a:\n        a -= 1\n    return a", "line 2: `while a` -> `while not (a)`"),
        # loop control
        ("for x in a:\n        break\n    return b", "line 3: `break` -> `continue`"),
    ],
)
def test_each_operator_makes_its_mutant(tmp_path: Path, body: str, expected: str) -> None:
    source = f"def f(a, b):\n    {body}\n"
    target = target_of(tmp_path, source, "f")
    made = all_mutants(target)
    assert expected in [m.description for m in made]
    mutant = next(m for m in made if m.description == expected)
    assert mutant.source != source
    compile(mutant.source, "mutant.py", "exec")


def test_a_mutant_is_the_source_with_one_span_changed(tmp_path: Path) -> None:
    # Odd spacing, a comment, a statement over two lines: all kept as written.
    source = (
        "def f(a, b):\n"
        "    if a  <  b and not (a):  # keep\n"
        "        x = -a ; return x\n"
        "    a  +=  1\n"
        "    while (a >\n"
        "           b):\n"
        "        break\n"
        "    return a ** 2\n"
    )
    made = {m.description: m.source for m in all_mutants(target_of(tmp_path, source, "f"))}
    expected = [
        source.replace("a  <  b", "a  <=  b"),
        source.replace("if a  <  b and not (a):", "if not (a  <  b and not (a)):"),
        source.replace("and not (a)", "and (a)"),
        source.replace("x = -a ; return x", "x = +a ; return x"),
        source.replace("x = -a ; return x", "x = -a ; return None"),
        source.replace("a  +=  1", "a  -=  1"),
        source.replace("while (a >", "while (not (a >").replace(
            "\n           b):", "\n           b)):"
        ),
        source.replace("(a >\n", "(a >=\n"),
        source.replace("break", "continue"),
        source.replace("a ** 2", "a * 2"),
        "def f(a, b):\n    return None\n",
    ]
    for text in expected:
        assert text in made.values(), text
    for text in made.values():
        compile(text, "mutant.py", "exec")


def test_only_the_target_function_changes(tmp_path: Path) -> None:
    source = (
        '"""Module."""\n'
        "import functools\n"
        "LIMIT = 10\n\n\n"
        "def before(a):\n    return a + 1 < LIMIT\n\n\n"
        "class Box:\n"
        "    @functools.lru_cache(maxsize=128)\n"
        "    def target(self, a: int = 3, b: bool = True) -> int:\n"
        '        """Add 2 when a is small."""\n'
        "        if a < 5 and b:\n"
        "            return a + 2\n"
        "        return a\n\n\n"
        "def after(a):\n    return a * 2 == 4\n"
    )
    target = target_of(tmp_path, source, "Box.target")
    made = all_mutants(target)
    assert len(made) >= 8
    lines = source.splitlines()
    head, tail = lines[: target.def_lineno], lines[target.end_lineno :]
    for mutant in made:
        changed = mutant.source.splitlines()
        # Above the def (decorator, defaults, annotations: import-time code) and below the
        # function, every line is the original's.
        assert changed[: len(head)] == head, mutant.description
        assert changed[len(changed) - len(tail) :] == tail, mutant.description
        assert '"""Add 2 when a is small."""' in mutant.source
        line = int(mutant.description.split(":")[0].removeprefix("line "))
        assert target.def_lineno < line <= target.end_lineno


def test_stubs_return_constants_of_the_annotated_type(tmp_path: Path) -> None:
    source = (
        "def flag(x: str) -> bool:\n    return x == x[::-1]\n\n\n"
        "def count(x: str) -> int:\n    return len(x)\n\n\n"
        "def loose(x):\n    return x\n\n\n"
        "def nothing(x: list[int]) -> None:\n    x.append(1)\n\n\n"
        "def gen(x: int):\n    yield x + 1\n"
    )

    def stubs(name: str) -> list[str]:
        return [m.description for m in all_mutants(target_of(tmp_path, source, name)) if m.stub]

    assert stubs("flag") == ["line 2: body -> `return True`", "line 2: body -> `return False`"]
    assert stubs("count") == ["line 6: body -> `return 0`"]
    # `return x` -> `return None` is the same source as the stub: made once, as the stub.
    assert stubs("loose") == ["line 10: body -> `return None`"]
    assert descriptions(target_of(tmp_path, source, "loose")) == stubs("loose")
    assert stubs("nothing") == [] and stubs("gen") == []


def test_mutants_that_do_not_compile_are_dropped(tmp_path: Path) -> None:
    # `case -1:` -> `case +1:` is a SyntaxError (a pattern takes no unary plus); `-1` in an
    # expression may become `+1`.
    source = "def f(a):\n    match a:\n        case -1:\n            return a - -1\n    return 0\n"
    target = target_of(tmp_path, source, "f")
    made = descriptions(target)
    assert "line 4: `-` -> `+`" in made  # the unary minus in the return
    for mutant in all_mutants(target):
        compile(mutant.source, "mutant.py", "exec")
        assert "case +1:" not in mutant.source
    assert "line 3: `1` -> `2`" in made  # the pattern's number mutates, its sign cannot


def test_mutants_are_distinct(tmp_path: Path) -> None:
    # Dropping either `not` of `not not a` gives the same function: one mutant.
    target = target_of(tmp_path, "def f(a):\n    return not not a\n", "f")
    sources = [m.source for m in all_mutants(target)]
    assert len(sources) == len(set(sources))
    assert sum("return not a\n" in s for s in sources) == 1


def test_the_cap_keeps_the_stubs_and_spreads_over_the_function(tmp_path: Path) -> None:
    body = "".join(f"    a = a + {n} * (b - {n})\n" for n in range(1, 9))
    source = f"def f(a: int, b: int) -> int:\n{body}    return a\n"
    target = target_of(tmp_path, source, "f")
    found = all_mutants(target)
    assert len(found) > 40
    chosen = mutants(target, 10)
    assert len(chosen) == 10
    assert chosen == mutants(target, 10)  # deterministic
    assert chosen[0].stub and chosen[0].description == "line 2: body -> `return 0`"
    lines = [m.line for m in chosen[1:]]
    assert lines == sorted(lines) and lines[0] == 2 and lines[-1] >= 8
    assert select(found, 100) == found


def test_shortest_cover_keeps_every_kill_with_fewer_sets() -> None:
    kills = [frozenset({0, 1}), frozenset({1}), frozenset({2, 3, 4}), frozenset({0, 4})]
    assert shortest_cover(kills) == [0, 2]
    assert shortest_cover([frozenset(), frozenset({1})]) == [1]
    assert shortest_cover([]) == []


# -- the keep rule -------------------------------------------------------------------


def verdict_for(target: Target) -> Verdict:
    candidate = Candidate(target, "chat", "def test_f():\n    pass\n", 0)
    return Verdict(candidate, True, None, "passed 2 of 2 runs", 1, 2, frozenset({2}), frozenset())


def test_judge_rejects_no_kill_and_low_scores(tmp_path: Path) -> None:
    verdict = verdict_for(target_of(tmp_path, "def f(a):\n    return a + 1\n", "f"))
    none = judge(verdict, MutationScore(0, 3, ("line 2: `+` -> `-`",)), 0.0)
    assert (none.kept, none.reason) == (False, "no-kill")
    assert "kills 0 of 3 mutants" in none.detail and "line 2: `+` -> `-`" in none.detail
    stub = judge(verdict, MutationScore(2, 3, ("x",), "line 2: body -> `return False`"), 0.0)
    assert (stub.kept, stub.reason) == (False, "no-kill")
    assert "passes when the body of f is only `return False`" in stub.detail
    low = judge(verdict, MutationScore(1, 3, ("a", "b")), 0.5)
    assert (low.kept, low.reason) == (False, "low-mutation")
    kept = judge(verdict, MutationScore(2, 3, ("a",)), 0.5)
    assert kept.kept and kept.mutation == MutationScore(2, 3, ("a",))
    assert kept.detail.endswith("kills 2 of 3 mutants")
    # Nothing to mutate: nothing to judge on.
    assert judge(verdict, MutationScore(0, 0), 0.5).kept
    # A rejected verdict stays what it was.
    failed = verdict._replace(kept=False, reason="fail")
    assert judge(failed, MutationScore(0, 3), 0.0).reason == "fail"


# -- scoring in the real sandbox -----------------------------------------------------

PALINDROME = """\
def is_palindrome(text: str) -> bool:
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]


def count_up(n: int) -> int:
    i = 0
    while i < n:
        i += 1
    return i
"""

ALL_FALSE = """\
import pytest

from textutils import is_palindrome


@pytest.mark.parametrize(("text", "expected"), [("ab", False), ("abc", False), ("xy", False)])
def test_is_palindrome_returns(text, expected):
    assert is_palindrome(text) == expected
"""

GOOD = ALL_FALSE.replace('("xy", False)', '("xy", False), ("Racecar!", True)')
NO_ASSERT = "from textutils import is_palindrome\n\n\ndef test_runs():\n    is_palindrome('ab')\n"
GENERATED = "tests/test_textutils_generated.py"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    project = make_project(tmp_path_factory.mktemp("mut") / "proj", {"textutils.py": PALINDROME})
    with Sandbox(project, Limits(timeout_s=20.0, memory_mb=2048, cpu_s=20)) as box:
        yield box


def palindrome(sandbox: Sandbox) -> Target:
    path = sandbox.root / "textutils.py"
    [target] = [
        t
        for t in targets_in_source(sandbox.root, path, path.read_text())
        if t.name == "is_palindrome"
    ]
    return target


def test_a_test_with_only_false_inputs_is_rejected_no_kill(sandbox: Sandbox) -> None:
    # The issue's example: three inputs that all return False; `return False` passes it.
    target = palindrome(sandbox)
    made = mutants(target)
    candidate = Candidate(target, "cases", ALL_FALSE, 0)
    result = score(sandbox, candidate, made, test_relpath=GENERATED)
    assert result.total == len(made) == 6
    assert result.stub_survived == "line 2: body -> `return False`"
    assert 0 < result.killed < result.total
    verdict = judge(verdict_for(target)._replace(candidate=candidate), result, 0.0)
    assert (verdict.kept, verdict.reason) == (False, "no-kill")


def test_a_test_with_a_palindrome_kills_every_mutant(sandbox: Sandbox) -> None:
    target = palindrome(sandbox)
    made = mutants(target)
    result = score(sandbox, Candidate(target, "cases", GOOD, 0), made, test_relpath=GENERATED)
    assert (result.killed, result.total, result.survived) == (6, 6, ())
    # And a test that asserts nothing kills none of them.
    idle = score(sandbox, Candidate(target, "chat", NO_ASSERT, 0), made, test_relpath=GENERATED)
    assert (idle.killed, idle.total) == (0, 6)
    assert judge(verdict_for(target), idle, 0.0).reason == "no-kill"


def test_kills_seen_by_the_cut_are_checked_once_and_the_rest_run(sandbox: Sandbox) -> None:
    # Issue 23: a cases test's rows already ran on every mutant (the cut); its score runs
    # the test on one of those kills as a check and on the mutants no row was seen to kill.
    target = palindrome(sandbox)
    made = mutants(target)
    plain = score(sandbox, Candidate(target, "cases", ALL_FALSE, 0), made, test_relpath=GENERATED)
    killed = frozenset(i for i, m in enumerate(made) if m.description not in plain.survived)
    runs: list[int] = []

    def counted(code: str, seen: frozenset[int]) -> MutationScore:
        runs.clear()
        candidate = Candidate(target, "cases", code, 0, seen_kills=seen)
        return score(
            sandbox, candidate, made, test_relpath=GENERATED, progress=lambda i, _: runs.append(i)
        )

    assert counted(ALL_FALSE, killed) == plain
    assert len(runs) == 1 + len(made) - len(killed) < len(made)
    # Kills the calls saw but the test does not make: the check fails, every mutant runs.
    assert counted(NO_ASSERT, frozenset(range(len(made)))).killed == 0
    assert len(runs) == len(made)
    # A kill no call saw still counts: the unseen mutants run.
    assert counted(GOOD, frozenset({0})) == (6, 6, (), None)
    assert len(runs) == len(made)


def test_a_mutant_that_never_ends_counts_as_killed(sandbox: Sandbox) -> None:
    path = sandbox.root / "textutils.py"
    [target] = [
        t for t in targets_in_source(sandbox.root, path, PALINDROME) if t.name == "count_up"
    ]
    [endless] = [m for m in all_mutants(target) if m.description == "line 9: `+=` -> `-=`"]
    test = "from textutils import count_up\n\n\ndef test_count():\n    assert count_up(3) == 3\n"
    candidate = Candidate(target, "chat", test, 0)
    assert kills(sandbox, candidate, endless, test_relpath=GENERATED, timeout_s=2.0)
    # The original module is untouched: the same test passes against a harmless mutant's
    # twin, the original itself.
    same = Mutant(0, "the original", PALINDROME)
    assert not kills(sandbox, candidate, same, test_relpath=GENERATED, timeout_s=20.0)


# -- through the core: the cases strategy, the reports, the settings -----------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"textutils.py": PALINDROME})


@pytest.fixture
def settings(tmp_path: Path, smollm: Path) -> Settings:
    return Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=2,
        timeout_s=20,
        docstrings=False,
        strategy="cases",
        repair_attempts=1,
        cache=False,
    )


def factory(backend: ScriptedBackend):  # type: ignore[no-untyped-def]
    return lambda path, bundled, settings: backend


FALSE_CASES = '{"cases": [{"text": "ab"}, {"text": "abc"}, {"text": "xy"}]}'
MORE_CASES = '{"cases": [{"text": "Racecar!"}, {"text": "noon"}, {"text": "ba"}]}'


def test_cases_asks_again_while_a_stub_survives_and_keeps_the_shortest_set(
    project: Path, settings: Settings
) -> None:
    backend = ScriptedBackend(scripted_info())
    backend.enqueue(FALSE_CASES)
    backend.enqueue(MORE_CASES)
    report = suggest(
        project / "textutils.py",
        replace(settings, case_search=False),  # the model's cases alone
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.attempts[0].startswith("cases#0: no-kill: passes when the body of is_palindrome")
    assert test.attempts[1] == "cases#1: kept"
    assert test.attempts[2] == "cases#1: kept 2 cases of the 6 proposed, killing 6 mutants"
    assert test.mutation == (6, 6)
    code = test.code or ""
    # One palindrome and one other input kill all six mutants.
    assert "('Racecar!', True)," in code and code.count(", False),") == 1
    assert len(backend.calls) == 2
    # The second request named the mutants the first cases missed.
    assert "would not notice these changes" not in backend.calls[0].prompt
    assert "- line 2: body -> `return False`" in backend.calls[1].prompt
    out = to_json(report)["targets"][0]["test"]
    assert out["mutation"] == {"killed": 6, "total": 6}
    text = to_text(report)
    assert "  test: kept, kills 6 of 6 mutants (100 %)" in text
    assert "kept tests kill 6 of 6 mutants" in text
    json.dumps(to_json(report))


@pytest.mark.parametrize(("improve_calls", "calls"), [(None, 2), (1, 2), (0, 1)])
def test_improve_calls_caps_the_calls_a_kept_test_gets(
    project: Path, settings: Settings, improve_calls: int | None, calls: int
) -> None:
    # Issue 23: a kept test with a surviving mutant cost two more model calls and two more
    # verifications per function in every commit. The hook sets improve_calls = 0.
    backend = ScriptedBackend(scripted_info())
    backend.enqueue('{"cases": [{"text": "ab"}, {"text": "x"}, {"text": "cd"}]}')  # 5 of 6
    backend.enqueue(MORE_CASES)
    report = suggest(
        project / "textutils.py",
        replace(settings, improve_calls=improve_calls, case_search=False),
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    assert result.test.status == "kept", result.test.attempts
    assert len(backend.calls) == calls
    assert result.test.mutation == ((5, 6) if calls == 1 else (6, 6))


@pytest.mark.parametrize("fruitless", [True, False])
def test_an_improve_call_that_adds_no_kill_or_line_is_not_verified_and_the_last(
    project: Path, settings: Settings, fruitless: bool
) -> None:
    # Issue 23: 19 of 23 improve calls on the peer bench gained nothing, and each still
    # paid a verification and a mutation score for a test that could not beat the kept one.
    backend = ScriptedBackend(scripted_info())
    backend.enqueue('{"cases": [{"text": "ab"}, {"text": "x"}, {"text": "cd"}]}')  # 5 of 6
    if fruitless:
        backend.enqueue('{"cases": [{"text": "ef"}, {"text": "z"}]}')  # the same ways again
    backend.enqueue(MORE_CASES)  # the odd palindrome that kills the sixth
    report = suggest(
        project / "textutils.py",
        replace(settings, repair_attempts=2, case_search=False),
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    attempts = result.test.attempts
    assert result.test.status == "kept", attempts
    skipped = "cases#1: no mutant or line the kept test misses: not verified, no more calls"
    if fruitless:
        assert len(backend.calls) == 2, attempts
        assert skipped in attempts
        assert not any(line.startswith("cases#1: kept") for line in attempts), attempts
        assert result.test.mutation == (5, 6)
    else:
        # A call that does add a kill is verified as before, and its test wins.
        assert len(backend.calls) == 2 and skipped not in attempts
        assert "cases#1: kept" in attempts
        assert result.test.mutation == (6, 6)


def test_the_search_kills_what_the_models_cases_miss_without_another_call(
    project: Path, settings: Settings
) -> None:
    # Issue 24: the model proposed three words that are not palindromes, so `return False`
    # survived (no-kill) and another call was needed. Their neighbours ("", "a", "abab",
    # ...) hold palindromes: one call, a kept test killing 5 of 6 (what survives, `[::-1]`
    # -> `[::-2]`, needs an odd palindrome such as "aba", which no neighbour is).
    backend = ScriptedBackend(scripted_info())
    backend.enqueue(FALSE_CASES)
    report = suggest(
        project / "textutils.py",
        replace(settings, repair_attempts=0),
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert len(backend.calls) == 1 and test.mutation == (5, 6)
    assert "1 of them found by the search of the 3 proposed" in test.attempts[-1]
    code = test.code or ""
    # The model's word comes first; the search adds only what it lacks.
    rows = [line.strip() for line in code.splitlines() if line.strip().startswith("('")]
    assert rows[0] == "('ab', False)," and len(rows) == 2 and rows[1].endswith(", True),")


def _kept_code(
    tmp_path: Path, settings: Settings, source: str, function: str, reply: str, **changes: Any
) -> str:
    """The kept test's code for `function` of a one-module project, from one scripted
    reply of cases and no repair attempt."""
    root = make_project(tmp_path / "one", {"one.py": source})
    backend = ScriptedBackend(scripted_info())
    backend.enqueue(reply)
    report = suggest(
        root / "one.py",
        replace(settings, repair_attempts=0, **changes),
        functions=[function],
        backend_factory=factory(backend),
    )
    [result] = report.results
    assert result.test.status == "kept", result.test.attempts
    return result.test.code or ""


WRONG_KIND = """\
def shout(text: str) -> str:
    return text.upper() + "!"


def checked(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    return text.strip()
"""


@pytest.mark.parametrize(
    ("function", "reply", "kept_error"),
    [
        # Python refusing an int where the code calls .upper(): not a finding.
        ("shout", '{"cases": [{"text": "hi"}, {"text": 5}, {"text": null}]}', False),
        # The code's own `raise TypeError`: what it promises, a row worth keeping.
        ("checked", '{"cases": [{"text": " hi "}, {"text": 5}, {"text": "x"}]}', True),
    ],
)
def test_a_type_error_python_raises_on_a_wrong_argument_is_not_a_row(
    tmp_path: Path, settings: Settings, function: str, reply: str, kept_error: bool
) -> None:
    code = _kept_code(tmp_path, settings, WRONG_KIND, function, reply)
    assert ("TypeError" in code) is kept_error
    assert "AttributeError" not in code


RAISES = """\
def ratio(part: int, whole: int) -> float:
    if whole == 0:
        raise ValueError(f"whole must not be zero (part {part})")
    return part / whole


def tagged(n: int) -> int:
    if n < 0:
        raise ValueError(f"negative {object()}")
    return n + 1
"""


def test_a_raises_row_states_the_functions_own_message_whole(
    tmp_path: Path, settings: Settings
) -> None:
    # Issue 24: a mutant of the message (`"XXwhole must ...XX"`) passed `pytest.raises(E)`;
    # the row now states the message, anchored, and the cut counts that kill.
    root = make_project(tmp_path / "one", {"one.py": RAISES})
    backend = ScriptedBackend(scripted_info())
    backend.enqueue('{"cases": [{"part": 1, "whole": 2}, {"part": 3, "whole": 0}]}')
    report = suggest(
        root / "one.py",
        replace(settings, repair_attempts=0, case_search=False),
        functions=["ratio"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    assert result.test.status == "kept", result.test.attempts
    code = result.test.code or ""
    assert '(3, 0, ValueError, r"^whole must not be zero \\(part 3\\)$"),' in code, code
    assert "with pytest.raises(error, match=match):" in code
    killed, total = result.test.mutation or (0, 0)
    assert killed == total, result.test.attempts  # the message's mutant among them
    # A message that differs between calls (an object's address) is not stated.
    reply = '{"cases": [{"n": 1}, {"n": -1}]}'
    code = _kept_code(tmp_path, settings, RAISES, "tagged", reply, case_search=False)
    assert "(-1, ValueError)," in code and "with pytest.raises(error):" in code, code


GREET = """\
def greet(name: str, greeting: str = "Hello") -> str:
    return f"{greeting}, {name}!"
"""


def test_an_argument_every_row_gives_its_default_is_left_out(
    tmp_path: Path, settings: Settings
) -> None:
    reply = '{"cases": [{"name": "Ann", "greeting": "Hello"}, {"name": "Bo"}]}'
    code = _kept_code(tmp_path, settings, GREET, "greet", reply, case_search=False)
    assert "assert greet(name) == expected" in code and "greeting" not in code, code


WARNS = """\
import warnings


def double(flag: int) -> int:
    if flag == 1:
        warnings.warn("flag 1 is deprecated", DeprecationWarning)
    return flag * 2
"""


def test_a_case_that_emits_a_warning_is_not_a_row(tmp_path: Path, settings: Settings) -> None:
    # Issue 24: rows that passed `re.TEMPLATE` emitted DeprecationWarnings; under a project's
    # `-W error` such a test fails, and no reviewer wants it.
    reply = '{"cases": [{"flag": 1}, {"flag": 2}, {"flag": 3}]}'
    code = _kept_code(tmp_path, settings, WARNS, "double", reply, case_search=False)
    assert "(1, 2)," not in code and ("(2, 4)," in code or "(3, 6)," in code), code


def test_without_mutation_the_weak_test_is_kept_unscored(project: Path, settings: Settings) -> None:
    backend = ScriptedBackend(scripted_info())
    backend.enqueue(FALSE_CASES)
    report = suggest(
        project / "textutils.py",
        replace(settings, mutation=False),
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    assert (result.test.status, result.test.mutation) == ("kept", None)
    assert to_json(report)["targets"][0]["test"]["mutation"] is None
    assert "mutants" not in to_text(report)


def test_min_mutation_score_rejects_a_test_under_it(project: Path, settings: Settings) -> None:
    backend = ScriptedBackend(scripted_info())
    # Kills every mutant but `[::-1]` -> `[::-2]`: one letter reads the same either way,
    # and `ab` or `cd` stepped back by two is one letter, not the word: 5 of 6.
    backend.enqueue('{"cases": [{"text": "ab"}, {"text": "x"}, {"text": "cd"}]}')
    report = suggest(
        project / "textutils.py",
        replace(settings, repair_attempts=0, min_mutation_score=1.0, case_search=False),
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = report.results
    assert (result.test.status, result.test.reason) == ("rejected", "low-mutation")
    assert result.test.attempts[0].startswith(
        "cases#0: low-mutation: kills 5 of 6 mutants, under min_mutation_score 1; "
        "survivors: line 3: `1` -> `2`"
    )


def test_mutation_settings_from_every_layer(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {})
    (root / "pyproject.toml").write_text(
        "[tool.review-bot]\nmin-mutation-score = 0.5\nmax_mutants = 7\n"
    )
    loaded = load_settings(root, {}, {})
    assert (loaded.mutation, loaded.max_mutants, loaded.min_mutation_score) == (True, 7, 0.5)
    assert not load_settings(root, {}, {"REVIEW_BOT_MUTATION": "0"}).mutation
    assert not load_settings(root, {"mutation": False}, {}).mutation
    with pytest.raises(FatalError, match="min_mutation_score"):
        load_settings(root, {}, {"REVIEW_BOT_MIN_MUTATION_SCORE": "50"})
    with pytest.raises(FatalError, match="max_mutants"):
        load_settings(root, {}, {"REVIEW_BOT_MAX_MUTANTS": "0"})


def test_no_mutation_flag_turns_it_off() -> None:
    from review_bot.commands.options import settings_flags

    assert settings_flags({"no_mutation": True}) == {"mutation": False}
    assert settings_flags({"no_mutation": False}) == {}


# -- the PR review -------------------------------------------------------------------


def test_the_review_shows_the_score_and_keeps_it_through_the_plan_json() -> None:
    base = plan()
    checked = Checked(
        "a.f",
        "a.py",
        3,
        "abcdef0123456789abcd",
        Decision("kept", None, ("cases#0: kept",), mutation=(5, 6)),
        Decision("skipped", "has a docstring", ()),
    )
    reviewed = base._replace(checked=(checked,))
    summary = render_summary(reviewed, set())
    assert "| kept, kills 5/6 mutants |" in summary
    assert "a.py:3: a.f: test kept (kills 5 of 6 mutants)" in log_lines(reviewed)[0]
    data = json.loads(json.dumps(plan_to_json(reviewed)))
    assert data["checked"][0]["test"]["mutation"] == {"killed": 5, "total": 6}
    assert plan_from_json(data).checked[0].test.mutation == (5, 6)
    # A plan written before the field existed still reads.
    del data["checked"][0]["test"]["mutation"]
    assert plan_from_json(data).checked[0].test.mutation is None
    data["checked"][0]["test"]["mutation"] = {"killed": 7, "total": 6}
    with pytest.raises(FatalError, match="mutation"):
        plan_from_json(data)


# -- the real model --------------------------------------------------------------------

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo" / "textutils.py"


@pytest.mark.model
def test_the_real_model_gets_a_cases_test_with_its_mutation_score(
    tmp_path: Path, smollm: Path
) -> None:
    project = make_project(tmp_path / "proj", {"textutils.py": DEMO.read_text()})
    settings = Settings(
        model=smollm,
        home=tmp_path / "home",
        strategy="cases",
        runs=2,
        docstrings=False,
        cache=False,
        timeout_s=30,
    )
    report = suggest(project / "textutils.py", settings, functions=["clamp"])
    [result] = report.results
    test = result.test
    assert test.status == "kept", test.attempts
    assert test.mutation is not None
    killed, total = test.mutation
    # clamp's mutants: 1 stub, 3 conditions, 3 comparisons, 3 returns, 1 string.
    assert total == 11 and 0 < killed <= total
    assert to_json(report)["targets"][0]["test"]["mutation"] == {"killed": killed, "total": total}
    assert f"kills {killed} of {total} mutants" in to_text(report)


def chat_fence(code: str) -> str:
    return f"Here is the test:\n```python\n{code}```\n"


def test_chat_is_told_the_survivors_and_the_score_is_cached(
    project: Path, settings: Settings
) -> None:
    backend = ScriptedBackend(scripted_info())
    backend.enqueue(chat_fence(ALL_FALSE))
    backend.enqueue(chat_fence(GOOD))
    chat = replace(settings, strategy="chat", cache=True)
    first = suggest(
        project / "textutils.py",
        chat,
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    [result] = first.results
    assert result.test.attempts[0].startswith("chat#0: no-kill: passes when the body of")
    assert (result.test.status, result.test.mutation) == ("kept", (6, 6))
    # The repair request named the mutants instead of a pytest failure.
    repair = backend.calls[1].prompt
    assert "would pass just as well if `is_palindrome` had one of these bugs" in repair
    assert "- line 2: body -> `return False`" in repair
    # From the cache: the same score, no model call.
    again = suggest(
        project / "textutils.py",
        chat,
        functions=["is_palindrome"],
        backend_factory=factory(backend),
    )
    assert again.stats.model_calls == 0 and again.stats.cache_hits == 1
    assert again.results[0].test == result.test
