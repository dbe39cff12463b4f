"""Mechanical fixes of a model's test before it is verified: pytest.raises used as a value,
a missing `import pytest`, calls the signature cannot take."""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.config import Settings
from review_bot.generate.mechanical import mechanical_fixes
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.records import Param
from review_bot.suggest import suggest
from tests.helpers.projects import make_project

PARAMS = (Param("a", None, None, "positional"), Param("b", None, "0", "positional"))


W = "with pytest.raises"


@pytest.mark.parametrize(
    ("statement", "block"),
    [
        ("assert pytest.raises(ValueError, f, 1, 2)", f"{W}(ValueError):\n        f(1, 2)"),
        (
            "pytest.raises(ValueError, f(3), match='x')",
            f"{W}(ValueError, match='x'):\n        f(3)",
        ),
        ("info = pytest.raises(ValueError, f, -1)", f"{W}(ValueError) as info:\n        f(-1)"),
        ("assert f(0) == pytest.raises(KeyError)", f"{W}(KeyError):\n        f(0)"),
        ("assert pytest.raises(KeyError) == f(0)", f"{W}(KeyError):\n        f(0)"),
    ],
)
def test_raises_used_as_a_value_becomes_a_with_block(statement: str, block: str) -> None:
    code = f"import pytest\nfrom m import f\n\n\ndef test_a():\n    # why\n    {statement}\n"
    fixed, fixes = mechanical_fixes(code, "f", PARAMS)
    assert fixed == f"import pytest\nfrom m import f\n\n\ndef test_a():\n    # why\n    {block}\n"
    assert fixes == ["pytest.raises used as a value -> with block (1)"]


def test_raises_as_a_decorator_wraps_the_body() -> None:
    code = "@pytest.raises(TypeError)\ndef test_b():\n    x = 1\n    f(None, x)\n"
    fixed, fixes = mechanical_fixes(code, "f", PARAMS)
    assert (
        fixed
        == "def test_b():\n    with pytest.raises(TypeError):\n        x = 1\n        f(None, x)\n"
    )
    assert fixes == ["pytest.raises used as a value -> with block (1)"]


def test_a_test_calling_with_the_wrong_arguments_is_dropped() -> None:
    code = (
        "def test_many():\n    assert f(1, 2, 3) == 4\n\n\n"
        "def test_missing():\n    assert f(b=1) == 2\n\n\n"
        "def test_unknown():\n    assert f(1, c=2) == 2\n\n\n"
        "def test_fine():\n    assert f(1) == 1\n    assert f(1, b=2) == 3\n\n\n"
        "def test_typeerror_is_the_point():\n    with pytest.raises(TypeError):\n        f()\n"
    )
    fixed, fixes = mechanical_fixes(code, "f", PARAMS)
    assert "def test_fine():" in fixed and "def test_typeerror_is_the_point():" in fixed
    assert "test_many" not in fixed and "test_missing" not in fixed and "test_unknown" not in fixed
    assert fixes == [
        "dropped test_many: f() called with 3 positional arguments, it takes at most 2",
        "dropped test_missing: f() called with no value for 'a'",
        "dropped test_unknown: f() called with unknown keyword argument 'c'",
    ]
    varargs = (*PARAMS, Param("rest", None, None, "vararg"), Param("kw", None, None, "varkw"))
    assert mechanical_fixes(code, "f", varargs)[1] == [
        "dropped test_missing: f() called with no value for 'a'"
    ]
    assert mechanical_fixes(code, "f", None) == (code, [])  # a method: no signature check


def test_nothing_to_fix_leaves_the_code_alone() -> None:
    code = "import pytest\n\ndef test_a():\n    with pytest.raises(ValueError):\n        f(1)\n"
    assert mechanical_fixes(code, "f", PARAMS) == (code, [])
    assert mechanical_fixes("def broken(:\n", "f", PARAMS) == ("def broken(:\n", [])


def test_fixed_reply_is_kept_on_the_real_sandbox(tmp_path: Path, smollm: Path) -> None:
    project = make_project(
        tmp_path / "proj", {"calc.py": "def parse(text: str) -> int:\n    return int(text)\n"}
    )
    reply = (
        "```python\nfrom calc import parse\n\n\ndef test_parse():\n"
        "    assert parse('12') == 12\n    assert pytest.raises(ValueError, parse, 'x')\n\n\n"
        "def test_parse_base():\n    assert parse('ff', 16) == 255\n```"
    )
    backend = ScriptedBackend(scripted_info(), [reply])
    settings = Settings(
        model=smollm,
        home=tmp_path / "home",
        runs=2,
        timeout_s=10,
        docstrings=False,
        strategy="chat",
        repair_attempts=0,
    )
    report = suggest(
        project / "calc.py", settings, backend_factory=lambda path, bundled, s: backend
    )
    [result] = report.results
    assert result.test.status == "kept", result.test.attempts
    assert result.test.attempts == (
        "chat#0: fixed without the model: added import pytest; pytest.raises used as a value "
        "-> with block (1); dropped test_parse_base: parse() called with 2 positional "
        "arguments, it takes at most 1",
        "chat#0: kept",
    )
    assert result.test.code is not None
    assert "    with pytest.raises(ValueError):\n        parse('x')\n" in result.test.code
    assert result.test.code.splitlines()[:2] == ["from calc import parse", "import pytest"]


def test_tests_of_other_functions_are_dropped_when_one_tests_the_target() -> None:
    code = (
        "def test_f():\n    assert f(1) == 1\n\n\n"
        "def test_g():\n    assert g(1) == 2\n\n\n"
        "def test_via_module():\n    assert m.f(2) == 2\n"
    )
    fixed, fixes = mechanical_fixes(code, "f", PARAMS)
    kept = "def test_f():\n    assert f(1) == 1\n\n\ndef test_via_module():\n"
    assert fixed == kept + "    assert m.f(2) == 2\n"
    assert fixes == ["dropped test_g: does not call f()"]
    # None names it (e.g. a fixture does the calling): nothing is dropped.
    only_g = "def test_g():\n    assert g(1) == 2\n"
    assert mechanical_fixes(only_g, "f", PARAMS) == (only_g, [])
