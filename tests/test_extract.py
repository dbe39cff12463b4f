from __future__ import annotations

import ast
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review_bot.generate.extract import extract_code
from review_bot.generate.repair import drop_redefinitions, fix_imports

TESTS = """\
import pytest

from example import slugify


def test_spaces():
    assert slugify("a b") == "a-b"


def test_empty():
    with pytest.raises(ValueError):
        slugify("")
"""

FUNCTION = """\
import re


def slugify(text):
    if not text:
        raise ValueError("empty")
    return re.sub(r"\\s+", "-", text.lower())
"""


def compiles(code: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "\d" in a string must not fail under -W error
        try:
            compile(code, "<test>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def parses(code: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(code)
        except (SyntaxError, ValueError):
            return False
    return True


# --- extract_code: realistic replies -------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            f"Here is the test:\n\n```python\n{TESTS}```\n\nIt checks both cases.", id="python"
        ),
        pytest.param(f"```py\n{TESTS}```", id="py"),
        pytest.param(f"Sure!\n```Python\n{TESTS}```\n", id="Python"),
        pytest.param(f"```python3\n{TESTS}```", id="python3"),
        pytest.param(f"```\n{TESTS}```", id="plain"),
        pytest.param(f"~~~python\n{TESTS}~~~\n", id="tilde"),
        pytest.param(f"Tests:\n\n````python\n{TESTS}````\n", id="four-backticks"),
        pytest.param(
            "1. The tests:\n\n   ```python\n"
            + "".join(f"   {line}" if line.strip() else line for line in TESTS.splitlines(True))
            + "   ```\n",
            id="fence-indented-in-a-list",
        ),
        pytest.param(f"```python\n\n\n{TESTS}\n\n```", id="blank-lines-around"),
    ],
)
def test_extract_a_fenced_block(reply: str) -> None:
    assert extract_code(reply) == TESTS


def test_extract_keeps_the_tests_and_drops_the_repeated_function() -> None:
    reply = (
        f"Here is the function again:\n\n```python\n{FUNCTION}```\n\n"
        f"And here are the tests:\n\n```python\n{TESTS}```\n"
    )
    assert extract_code(reply) == TESTS


def test_extract_keeps_a_separate_imports_block_the_tests_need() -> None:
    reply = (
        "First the imports:\n```python\nimport pytest\nfrom example import slugify\n```\n"
        "Then the test:\n```python\ndef test_spaces():\n    assert slugify('a b') == 'a-b'\n```\n"
    )
    assert extract_code(reply) == (
        "import pytest\nfrom example import slugify\n\n\n"
        "def test_spaces():\n    assert slugify('a b') == 'a-b'\n"
    )


def test_extract_keeps_a_fixture_block() -> None:
    fixture = "import pytest\n\n@pytest.fixture\ndef words():\n    return ['a', 'b']\n"
    tests = "def test_words(words):\n    assert len(words) == 2\n"
    reply = f"```python\n{fixture}```\n\n```python\n{tests}```"
    assert extract_code(reply) == fixture + "\n\n" + tests


def test_extract_keeps_the_repeated_function_when_the_tests_do_not_import_it() -> None:
    # Without it the tests would hit a NameError; drop_redefinitions() and fix_imports() turn
    # it into an import afterwards.
    tests = "def test_spaces():\n    assert slugify('a b') == 'a-b'\n"
    reply = f"```python\n{FUNCTION}```\n\n```python\n{tests}```"
    code = extract_code(reply)
    assert code == FUNCTION + "\n\n" + tests
    code = drop_redefinitions(code, {"slugify"})
    code, added = fix_imports(code, "example", {"slugify"})
    assert added == ["from example import slugify"]
    assert "def slugify" not in code


def test_extract_prefers_a_later_improved_version_of_the_same_tests() -> None:
    first = "def test_spaces():\n    assert slugify('a b') == 'a b'\n"
    second = "def test_spaces():\n    assert slugify('a b') == 'a-b'\n"
    reply = f"```python\n{first}```\nOops, fixed:\n```python\n{second}```"
    assert extract_code(reply) == second


def test_extract_ignores_blocks_in_other_languages() -> None:
    reply = (
        f"Install:\n```bash\npip install pytest\n```\n```python\n{TESTS}```\n```text\n2 passed\n```"
    )
    assert extract_code(reply) == TESTS


def test_extract_hands_over_fenced_code_without_tests_when_unsure() -> None:
    reply = "```python\nimport example\n\nCASES = [('a b', 'a-b')]\n```"
    assert extract_code(reply) == "import example\n\nCASES = [('a b', 'a-b')]\n"


def test_extract_a_future_import_in_a_later_block_still_compiles() -> None:
    reply = (
        "```python\nimport pytest\n```\n"
        "```python\nfrom __future__ import annotations\n\ndef test_a() -> None:\n    assert 1\n```"
    )
    code = extract_code(reply)
    assert compiles(code)
    assert "def test_a() -> None:" in code


def test_extract_skips_prose_inside_a_fence() -> None:
    reply = (
        "```python\nimport pytest\n\ndef test_a():\n    assert f(1) == 2\n\n"
        "Now the edge case:\n\ndef test_b():\n    assert f(0) == 0\n```"
    )
    assert extract_code(reply) == (
        "import pytest\n\ndef test_a():\n    assert f(1) == 2\n\n\n"
        "def test_b():\n    assert f(0) == 0\n"
    )


def test_extract_a_closing_fence_glued_to_the_last_line() -> None:
    reply = "```python\ndef test_a():\n    assert f() == 1```\nDone."
    assert extract_code(reply) == "def test_a():\n    assert f() == 1\n"


def test_extract_a_test_class() -> None:
    code = "class TestSlugify:\n    def test_a(self):\n        assert slugify('a') == 'a'\n"
    reply = f"```python\n{code}```"
    assert extract_code(reply) == code


def test_extract_keeps_code_that_only_warns() -> None:
    # "\d" is a DeprecationWarning/SyntaxWarning; under -W error a naive compile() rejects it.
    code = 'import re\n\ndef test_digits():\n    assert re.match("\\d+", "12")\n'
    assert extract_code(f"```python\n{code}```") == code


def test_extract_drops_an_unguarded_pytest_main() -> None:
    # Run while pytest imports the file, it would start a second test session.
    reply = f"```python\n{TESTS}\n\npytest.main()\n```"
    assert extract_code(reply) == TESTS


def test_extract_keeps_a_guarded_main() -> None:
    code = TESTS + '\n\nif __name__ == "__main__":\n    pytest.main()\n'
    assert extract_code(f"```python\n{code}```") == code


# --- extract_code: truncated by max_tokens -------------------------------------------------


def test_extract_truncated_fence_drops_the_cut_test_and_keeps_earlier_ones() -> None:
    reply = (
        "```python\nimport pytest\n\ndef test_a():\n    assert f(1) == 2\n\n"
        "def test_b():\n    result = f(2)\n    assert result =="
    )
    assert extract_code(reply) == "import pytest\n\ndef test_a():\n    assert f(1) == 2\n"


def test_extract_truncated_fence_cut_inside_a_call() -> None:
    reply = (
        "```python\ndef test_a():\n    assert f(1) == 2\n\n"
        "def test_b():\n    assert f(\n        2,\n"
    )
    assert extract_code(reply) == "def test_a():\n    assert f(1) == 2\n"


def test_extract_truncated_fence_distrusts_a_last_line_that_happens_to_parse() -> None:
    # "assert f(3) == 1" may have been going to be "== 10": the cut line is never kept.
    reply = "```python\ndef test_a():\n    assert f(1) == 2\n\ndef test_b():\n    assert f(3) == 1"
    assert extract_code(reply) == "def test_a():\n    assert f(1) == 2\n"


def test_extract_truncated_single_test_keeps_its_complete_checks() -> None:
    reply = "```python\ndef test_a():\n    assert f(1) == 2\n    assert f(2) == 3\n    assert f(3"
    assert extract_code(reply) == "def test_a():\n    assert f(1) == 2\n    assert f(2) == 3\n"


def test_extract_truncated_single_test_that_checks_nothing_yet_is_dropped() -> None:
    # What is left would pass without checking anything.
    reply = "```python\ndef test_a():\n    result = f(1)\n    assert result =="
    assert extract_code(reply) == ""


def test_extract_truncated_test_class_keeps_its_complete_methods() -> None:
    reply = (
        "```python\nclass TestF:\n    def test_a(self):\n        assert f(1) == 2\n\n"
        "    def test_b(self):\n        value = f(2)\n        assert value =="
    )
    assert extract_code(reply) == "class TestF:\n    def test_a(self):\n        assert f(1) == 2\n"


def test_extract_truncated_at_a_line_end_keeps_everything() -> None:
    reply = "```python\ndef test_a():\n    assert f(1) == 2\n"
    assert extract_code(reply) == "def test_a():\n    assert f(1) == 2\n"


# --- extract_code: unfenced replies --------------------------------------------------------


def test_extract_unfenced_strips_prose_before_and_after() -> None:
    reply = f"Here is the test:\n\n{TESTS}\nThis test checks spaces and the empty string."
    assert extract_code(reply) == TESTS


@pytest.mark.parametrize(
    ("before", "after"),
    [("Tests", "Explanation"), ("This is it", "Result: passed"), ("Output", "...")],
)
def test_extract_unfenced_strips_prose_that_happens_to_parse(before: str, after: str) -> None:
    assert extract_code(f"{before}\n\n{TESTS}\n{after}\n") == TESTS


def test_extract_unfenced_code_indented_as_in_markdown() -> None:
    reply = "Here it is:\n\n    def test_a():\n        assert f() == 1\n\nHope this helps!"
    assert extract_code(reply) == "def test_a():\n    assert f() == 1\n"


def test_extract_unfenced_indented_code_after_prose_that_looks_like_a_header() -> None:
    reply = "with the following test:\n\n    def test_a():\n        assert f() == 1\n"
    assert extract_code(reply) == "def test_a():\n    assert f() == 1\n"


def test_extract_unfenced_tests_split_by_prose() -> None:
    reply = (
        "First:\nimport pytest\n\ndef test_a():\n    assert f(1) == 2\n"
        "Second, the error case:\n"
        "def test_b():\n    with pytest.raises(ValueError):\n        f(-1)\n"
    )
    assert extract_code(reply) == (
        "import pytest\n\ndef test_a():\n    assert f(1) == 2\n\n\n"
        "def test_b():\n    with pytest.raises(ValueError):\n        f(-1)\n"
    )


def test_extract_unfenced_drops_a_test_broken_in_the_middle() -> None:
    # The line after "x = f(1)" belongs to test_a but does not parse: what is left of
    # test_a would pass without checking anything.
    reply = (
        "def test_a():\n    x = f(1)\n    assert x is well-formed!\n\n"
        "def test_b():\n    assert f(2) == 3\n"
    )
    assert extract_code(reply) == "def test_b():\n    assert f(2) == 3\n"


def test_extract_unfenced_code_without_tests_is_nothing() -> None:
    assert extract_code(FUNCTION) == ""


def test_extract_unfenced_finds_tests_in_an_oddly_labelled_fence() -> None:
    reply = f"```test_example.py\n{TESTS}```"
    assert extract_code(reply) == TESTS


# --- extract_code: chat artefacts and line endings -----------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(f"<start_of_turn>model\n```python\n{TESTS}```<end_of_turn>", id="gemma"),
        pytest.param(
            f"<start_of_turn>model\n{TESTS}<end_of_turn>\n<start_of_turn>user\nThanks!\n",
            id="gemma-continues",
        ),
        pytest.param(f"[/INST] ```python\n{TESTS}```</s>", id="llama"),
        pytest.param(f"<s>[INST] Write tests [/INST]\n{TESTS}</s>", id="echoed-prompt"),
        pytest.param(
            f"<|im_start|>assistant\n```python\n{TESTS}```<|im_end|>\n<|endoftext|>", id="chatml"
        ),
        pytest.param(f"{TESTS}<EOT>", id="codellama-fim"),
        pytest.param(f"{TESTS}<|file_separator|>\nimport other\n", id="codegemma-fim"),
        pytest.param(f"```python\n{TESTS}```\n<|endoftext|>Human: more please", id="endoftext"),
    ],
)
def test_extract_removes_chat_artefacts(reply: str) -> None:
    assert extract_code(reply) == TESTS


@pytest.mark.parametrize(
    "code",
    [
        'def test_strip():\n    assert strip_tags("<s>x</s>") == "x"\n',
        'def test_prompt():\n    assert prompt("hi") == "<s>[INST] hi [/INST]"\n',
        'def test_turn():\n    assert turn("hi").startswith("<start_of_turn>user")\n',
    ],
)
def test_extract_keeps_chat_tokens_that_are_test_data(code: str) -> None:
    assert extract_code(f"```python\n{code}```") == code


def test_extract_normalises_crlf_and_keeps_tabs() -> None:
    reply = "```python\r\ndef test_a():\r\n\tassert f(1) == 2\r\n```\r\n"
    assert extract_code(reply) == "def test_a():\n\tassert f(1) == 2\n"


def test_extract_ends_with_exactly_one_newline() -> None:
    assert extract_code("```python\ndef test_a():\n    assert 1   \n\n\n\n```") == (
        "def test_a():\n    assert 1\n"
    )


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param("", id="empty"),
        pytest.param("   \n\n\t\n", id="whitespace"),
        pytest.param("I'm sorry, I can't write tests for this function.", id="prose"),
        pytest.param("The function returns a slug. You could test it with pytest.", id="prose-2"),
        pytest.param("```\n```", id="empty-fence"),
        pytest.param("```\nhello\n```", id="a-word-in-a-fence"),
        pytest.param("```python\ndef test_a(:\n    assert\n```", id="broken"),
        pytest.param("```bash\npytest -q\n```", id="shell-only"),
        pytest.param("<start_of_turn>model\n<end_of_turn>", id="empty-turn"),
        pytest.param("\x00\x01\x02 ``` ~~~ [/INST] </s>", id="garbage"),
    ],
)
def test_extract_nothing_usable_is_empty(reply: str) -> None:
    assert extract_code(reply) == ""


_FRAGMENTS = [
    "```python",
    "```",
    "~~~",
    "```bash",
    "def test_a():",
    "def test_b(x):",
    "    assert f(1) == 2",
    "    assert x ==",
    "\tassert True",
    "import pytest",
    "from __future__ import annotations",
    "class TestX:",
    "    def test_m(self):",
    "        assert 1",
    "return 1",
    "assert os.sep and f(json)",
    "def f():",
    "Here is the test:",
    "This test checks it.",
    "Tests",
    "    ",
    "(",
    '"""',
    "<start_of_turn>model",
    "<end_of_turn>",
    "[/INST]",
    "</s>",
    "<|im_end|>",
    "\r",
    "\x0c",
    "\u2028",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("\n".join),
        st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=8)), max_size=20).map(
            "\n".join
        ),
    )
)
def test_extract_returns_nothing_or_code_that_compiles(text: str) -> None:
    code = extract_code(text)
    assert code == "" or (compiles(code) and code.endswith("\n") and not code.endswith("\n\n"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("\n".join))
def test_repairs_never_raise_and_keep_code_valid(text: str) -> None:
    code = extract_code(text)
    dropped = drop_redefinitions(code, {"f", "test_a"})
    fixed, added = fix_imports(dropped, "pkg.mod", {"f"})
    assert compiles(fixed)
    assert (fixed == dropped) == (added == [])
    # Code that does not parse comes back untouched.
    assert drop_redefinitions(text, {"f"}) == text or parses(text)
    assert fix_imports(text, "pkg.mod", {"f"}) == (text, []) or parses(text)


def test_extract_is_fast_on_a_long_reply() -> None:
    reply = "\n".join(
        f"Test number {n} checks input {n}:\ndef test_{n}():\n    assert f({n}) == {n}\n"
        for n in range(300)
    )
    code = extract_code(reply)
    tree = ast.parse(code)
    assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == [
        f"test_{n}" for n in range(300)
    ]


def test_extract_search_is_bounded_on_a_pathological_reply() -> None:
    # Every line could start code and none can end it; unbounded, this takes a minute.
    assert extract_code("(\n" * 3000) == ""


# --- drop_redefinitions --------------------------------------------------------------------


def test_drop_redefinitions_removes_the_pasted_function() -> None:
    code = (
        "import re\n\nfrom example import slugify\n\n\n"
        "def slugify(text):\n    return re.sub(' ', '-', text)\n\n\n"
        "def test_a():\n    assert slugify('a b') == 'a-b'\n"
    )
    assert drop_redefinitions(code, ["slugify"]) == (
        "import re\n\nfrom example import slugify\n\n\n"
        "def test_a():\n    assert slugify('a b') == 'a-b'\n"
    )


def test_drop_redefinitions_removes_decorators_async_and_classes() -> None:
    code = (
        "import functools\n\n"
        "@functools.lru_cache\ndef load(path):\n    return path\n\n"
        "async def fetch():\n    return 1\n\n"
        "class Parser:\n    def parse(self):\n        return 1\n\n"
        "def test_a():\n    assert Parser().parse() == 1\n"
    )
    assert drop_redefinitions(code, {"load", "fetch", "Parser.parse"}) == (
        "import functools\n\ndef test_a():\n    assert Parser().parse() == 1\n"
    )


def test_drop_redefinitions_removes_a_trailing_definition_without_leaving_blank_lines() -> None:
    code = "def test_a():\n    assert f() == 1\n\n\ndef f():\n    return 1\n"
    assert drop_redefinitions(code, {"f"}) == "def test_a():\n    assert f() == 1\n"


def test_drop_redefinitions_keeps_nested_definitions_and_other_names() -> None:
    code = (
        "def test_a():\n    def slugify(x):\n        return x\n    assert slugify('a') == 'a'\n\n"
        "def helper():\n    return 1\n"
    )
    assert drop_redefinitions(code, {"slugify"}) is code


def test_drop_redefinitions_keeps_crlf_line_endings() -> None:
    code = (
        "import os\r\n\r\ndef f():\r\n    return 1\r\n\r\ndef test_a():\r\n    assert f() == 1\r\n"
    )
    assert (
        drop_redefinitions(code, {"f"})
        == "import os\r\n\r\ndef test_a():\r\n    assert f() == 1\r\n"
    )


def test_drop_redefinitions_unparseable_code_is_unchanged() -> None:
    code = "def f(:\n    pass\n"
    assert drop_redefinitions(code, {"f"}) is code


def test_drop_redefinitions_without_a_match_is_unchanged() -> None:
    code = "def f():\n    return 1\n"
    assert drop_redefinitions(code, {"g"}) is code
    assert drop_redefinitions(code, ()) is code


# --- fix_imports ---------------------------------------------------------------------------


def test_fix_imports_adds_a_missing_stdlib_module_after_the_imports() -> None:
    code = "import pytest\n\n\ndef test_a(tmp_path):\n    assert os.path.exists(tmp_path)\n"
    fixed, added = fix_imports(code, "example", {"slugify"})
    assert added == ["import os"]
    assert fixed == (
        "import pytest\nimport os\n\n\ndef test_a(tmp_path):\n    assert os.path.exists(tmp_path)\n"
    )


def test_fix_imports_adds_pytest_and_the_function_under_test_at_the_top() -> None:
    code = "def test_a():\n    with pytest.raises(ValueError):\n        slugify('')\n"
    fixed, added = fix_imports(code, "example", {"slugify", "CONSTANT"})
    assert added == ["import pytest", "from example import slugify"]
    assert fixed == "import pytest\nfrom example import slugify\n\n" + code


def test_fix_imports_combines_names_from_the_module_on_one_sorted_line() -> None:
    code = "def test_a():\n    assert slugify(SEPARATOR) == Slug(SEPARATOR)\n"
    fixed, added = fix_imports(code, "pkg.util", ["slugify", "Slug", "SEPARATOR", "other"])
    assert added == ["from pkg.util import SEPARATOR, Slug, slugify"]
    assert fixed.startswith("from pkg.util import SEPARATOR, Slug, slugify\n\ndef test_a")


@pytest.mark.parametrize(
    ("module", "code", "expected"),
    [
        ("example", "def test_a():\n    assert example.slugify('a') == 'a'\n", ["import example"]),
        (
            "pkg.util",
            "def test_a():\n    assert pkg.util.slugify('a') == 'a'\n",
            ["import pkg.util"],
        ),
        (
            "pkg.util",
            "def test_a():\n    assert util.slugify('a') == 'a'\n",
            ["from pkg import util"],
        ),
    ],
)
def test_fix_imports_the_module_used_through_its_name(
    module: str, code: str, expected: list[str]
) -> None:
    fixed, added = fix_imports(code, module, {"slugify"})
    assert added == expected
    assert fixed == f"{expected[0]}\n\n{code}"


def test_fix_imports_a_stdlib_submodule() -> None:
    code = (
        "def test_a():\n    with unittest.mock.patch('os.getcwd'):\n        pass\n"
        "    assert xml.etree.ElementTree.fromstring('<a/>').tag == 'a'\n"
        "    assert collections.OrderedDict() == {}\n"
    )
    _, added = fix_imports(code, "example", set())
    assert added == ["import collections", "import unittest.mock", "import xml.etree.ElementTree"]


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("def test_a():\n    for os in [1]:\n        assert os\n", id="for"),
        pytest.param(
            "def test_a():\n    with open('x') as json:\n        assert json\n", id="with-as"
        ),
        pytest.param(
            "def test_a():\n    try:\n        pass\n"
            "    except Exception as re:\n        assert re\n",
            id="except-as",
        ),
        pytest.param("def test_a():\n    assert [os for os in range(3)]\n", id="comprehension"),
        pytest.param(
            "def test_a():\n    assert {k: v for k, v in {}.items()} == {}\n", id="dict-comp"
        ),
        pytest.param("def test_a():\n    if (os := 1):\n        assert os\n", id="walrus"),
        pytest.param("def test_a(os, *json, slugify=1, **re):\n    assert os\n", id="params"),
        pytest.param("def test_a():\n    f = lambda os: os\n    assert f(1)\n", id="lambda"),
        pytest.param(
            "class TestA:\n    os = 1\n\n    def test_a(self):\n        assert TestA.os\n",
            id="class-attr",
        ),
        pytest.param("def test_a():\n    global os\n    assert os\n", id="global"),
        pytest.param(
            "def test_a():\n    match 1:\n        case [*os] | {**os}:\n            assert os\n"
            "        case json:\n            assert json\n",
            id="match",
        ),
        pytest.param(
            "import os.path\nimport json as js\n\ndef test_a():\n    assert os.path and js\n",
            id="dotted-import",
        ),
        pytest.param(
            "def test_a():\n    assert slugify('a')\n\ndef slugify(x):\n    return x\n", id="def"
        ),
        pytest.param(
            "def test_a():\n    assert __file__ and print and len\n", id="builtins-dunders"
        ),
        pytest.param("def test_a():\n    assert np.zeros(3).sum() == 0\n", id="not-stdlib"),
        pytest.param(
            "from example import *\n\ndef test_a():\n    assert slugify('a')\n", id="star"
        ),
    ],
)
def test_fix_imports_leaves_bound_and_unknown_names_alone(code: str) -> None:
    assert fix_imports(code, "example", {"slugify"}) == (code, [])


def test_fix_imports_correct_code_is_unchanged_byte_for_byte() -> None:
    code = (
        "import os\r\nfrom example import slugify  \r\n\r\n"
        "def test_a():\r\n    assert slugify(os.sep)"
    )
    fixed, added = fix_imports(code, "example", {"slugify"})
    assert (fixed, added) == (code, [])
    assert fixed is code


def test_fix_imports_unparseable_code_is_unchanged() -> None:
    code = "def test_a(:\n    assert os.sep\n"
    assert fix_imports(code, "example", {"slugify"}) == (code, [])


def test_fix_imports_goes_after_the_docstring_and_future_import() -> None:
    code = '"""Tests."""\nfrom __future__ import annotations\n\ndef test_a():\n    assert os.sep\n'
    fixed, added = fix_imports(code, "example", set())
    assert added == ["import os"]
    assert fixed == (
        '"""Tests."""\nfrom __future__ import annotations\nimport os\n\n'
        "def test_a():\n    assert os.sep\n"
    )
    assert compiles(fixed)


def test_fix_imports_after_a_docstring_alone() -> None:
    code = '"""Tests."""\ndef test_a():\n    assert os.sep\n'
    fixed, _ = fix_imports(code, "example", set())
    assert fixed == '"""Tests."""\n\nimport os\n\ndef test_a():\n    assert os.sep\n'


def test_fix_imports_keeps_a_shebang_and_coding_line_first() -> None:
    code = "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\ndef test_a():\n    assert os.sep\n"
    fixed, _ = fix_imports(code, "example", set())
    assert fixed == (
        "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nimport os\n\n"
        "def test_a():\n    assert os.sep\n"
    )


def test_fix_imports_keeps_crlf_and_a_missing_final_newline() -> None:
    code = "import sys\r\ndef test_a():\r\n    assert os.sep and sys"
    fixed, _ = fix_imports(code, "example", set())
    assert fixed == "import sys\r\nimport os\r\n\r\ndef test_a():\r\n    assert os.sep and sys"
    assert fix_imports("import sys\nos", "example", set())[0] == "import sys\nimport os\n\nos"
    assert fix_imports("import sys", "example", set()) == ("import sys", [])


def test_fix_imports_a_whole_model_reply_end_to_end() -> None:
    reply = (
        "<start_of_turn>model\nHere are the tests:\n```python\n"
        "def slugify(text):\n    return text.replace(' ', '-')\n\n"
        "@pytest.mark.parametrize('text', ['a b', 'c d'])\n"
        "def test_slugify(text):\n    assert ' ' not in slugify(text)\n"
        "    assert os.sep not in slugify(text)\n```<end_of_turn>"
    )
    code = drop_redefinitions(extract_code(reply), {"slugify"})
    fixed, added = fix_imports(code, "example", {"slugify"})
    assert added == ["import os", "import pytest", "from example import slugify"]
    assert fixed == (
        "import os\nimport pytest\nfrom example import slugify\n\n"
        "@pytest.mark.parametrize('text', ['a b', 'c d'])\n"
        "def test_slugify(text):\n    assert ' ' not in slugify(text)\n"
        "    assert os.sep not in slugify(text)\n"
    )
