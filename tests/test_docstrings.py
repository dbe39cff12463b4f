from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review_bot.errors import FatalError
from review_bot.generate.docstrings import check as docstring_check
from review_bot.generate.docstrings.check import check_docstring
from review_bot.generate.docstrings.documents import documented_params, raise_guards
from review_bot.generate.docstrings.render import (
    docstring_schema,
    parse_reply,
    render_docstring,
)
from review_bot.records import Param, Target
from review_bot.write.docstrings import insert_docstring

# -- a Target from source text, independent of review_bot.targets ---------------------------

_Def = ast.FunctionDef | ast.AsyncFunctionDef


def _find(body: list[ast.stmt], parts: list[str], in_class: bool) -> tuple[_Def, bool]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name != parts[0]:
                continue
            if len(parts) == 1:
                assert not isinstance(node, ast.ClassDef)
                return node, in_class
            return _find(node.body, parts[1:], isinstance(node, ast.ClassDef))
    raise LookupError(parts)


def _text(node: ast.expr | None) -> str | None:
    return None if node is None else ast.unparse(node)


def make_target(source: str, qualname: str, path: Path | None = None) -> Target:
    path = path or Path("/project/pkg/example.py")
    node, is_method = _find(ast.parse(source).body, qualname.split("."), False)
    args = node.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    params: list[Param] = []
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind: Literal["positional_only", "positional"] = (
            "positional_only" if i < len(args.posonlyargs) else "positional"
        )
        params.append(Param(arg.arg, _text(arg.annotation), _text(default), kind))
    if args.vararg:
        params.append(Param(args.vararg.arg, _text(args.vararg.annotation), None, "vararg"))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(Param(arg.arg, _text(arg.annotation), _text(kw_default), "keyword_only"))
    if args.kwarg:
        params.append(Param(args.kwarg.arg, _text(args.kwarg.annotation), None, "varkw"))
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    function_source = textwrap.dedent("\n".join(source.splitlines()[first - 1 : end]))
    return Target(
        root=path.parent.parent,
        path=path,
        module=f"{path.parent.name}.{path.stem}",
        qualname=qualname,
        lineno=first,
        def_lineno=node.lineno,
        end_lineno=end,
        source=function_source + "\n",
        module_source=source,
        params=tuple(params),
        returns=_text(node.returns),
        docstring=ast.get_docstring(node),
        is_method=is_method,
        is_async=isinstance(node, ast.AsyncFunctionDef),
    )


# A module with an undocumented neighbour and no module docstring: D100/D103 reported for
# them must not count against the docstring under test.
MODULE = """\
import re


def slugify(text: str, sep: str = "-", *parts: str, lower: bool = True, **extra: int) -> str:
    if not text:
        raise ValueError("empty text")
    words = re.findall(r"\\w+", text)
    return sep.join(w.lower() if lower else w for w in words)


def helper(x):
    return x


class Registry:
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def add(self, item: str) -> None:
        self.items.append(item)

    @classmethod
    def make(cls, name: str) -> "Registry":
        return cls(name)

    @staticmethod
    def valid(name: str) -> bool:
        return bool(name)
"""

GOOD: dict[str, Any] = {
    "summary": "turns text into a URL slug",
    "description": "Words are runs of letters and digits.",
    "params": {
        "text": "the text to convert",
        "sep": "the separator between words",
        "*parts": "ignored extra parts",
        "lower": "whether to lower-case the words",
        "**extra": "ignored options",
    },
    "returns": "the slug",
    "raises": [{"exception": "ValueError", "when": "text is empty"}],
}

EXPECTED = {
    "google": """\
Turn text into a URL slug.

Words are runs of letters and digits.

Args:
    text: The text to convert.
    sep: The separator between words.
    *parts: Ignored extra parts.
    lower: Whether to lower-case the words.
    **extra: Ignored options.

Returns:
    The slug.

Raises:
    ValueError: If not text.""",
    "numpy": """\
Turn text into a URL slug.

Words are runs of letters and digits.

Parameters
----------
text : str
    The text to convert.
sep : str, optional
    The separator between words.
*parts : str
    Ignored extra parts.
lower : bool, optional
    Whether to lower-case the words.
**extra : int
    Ignored options.

Returns
-------
str
    The slug.

Raises
------
ValueError
    If not text.""",
    "pep257": """\
Turn text into a URL slug.

Words are runs of letters and digits.

Arguments:
    text -- The text to convert.
    sep -- The separator between words (default '-').
    *parts -- Ignored extra parts.
    lower -- Whether to lower-case the words (default True).
    **extra -- Ignored options.

Returns:
    The slug.

Raises:
    ValueError -- If not text.""",
}


@pytest.fixture
def slugify() -> Target:
    return make_target(MODULE, "slugify")


# -- parameters and schema ------------------------------------------------------------------


def test_documented_params_of_a_function(slugify: Target) -> None:
    assert documented_params(slugify) == ["text", "sep", "*parts", "lower", "**extra"]


@pytest.mark.parametrize(
    ("qualname", "expected"),
    [
        ("Registry.__init__", ["name"]),
        ("Registry.make", ["name"]),  # cls is left out like self
        ("Registry.valid", ["name"]),  # a staticmethod has no self to leave out
    ],
)
def test_documented_params_of_methods(qualname: str, expected: list[str]) -> None:
    assert documented_params(make_target(MODULE, qualname)) == expected


def test_staticmethod_keeps_its_first_parameter() -> None:
    source = "class A:\n    @staticmethod\n    def pair(a, b):\n        return a, b\n"
    assert documented_params(make_target(source, "A.pair")) == ["a", "b"]


def _keywords(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key == "properties":
                for sub in value.values():
                    yield from _keywords(sub)
            elif key == "items":
                yield from _keywords(value)


def test_schema_requires_every_key_and_uses_only_grammar_keywords(slugify: Target) -> None:
    schema = docstring_schema(slugify)
    assert schema["required"] == ["summary", "description", "params", "returns", "raises"]
    assert schema["additionalProperties"] is False
    params = schema["properties"]["params"]
    assert params["required"] == ["text", "sep", "*parts", "lower", "**extra"]
    assert set(params["properties"]) == set(params["required"])
    assert params["additionalProperties"] is False
    # Only what llama.cpp's json-schema-to-grammar honours; it skips the rest silently.
    allowed = {
        "type",
        "properties",
        "required",
        "items",
        "maxItems",
        "minItems",  # honoured too (the cases schema relies on it)
        "minLength",
        "maxLength",
        "additionalProperties",
        "enum",
    }
    assert set(_keywords(schema)) <= allowed
    json.dumps(schema)  # plain JSON, ready for a server


def test_schema_offers_only_the_exceptions_the_function_raises(slugify: Target) -> None:
    raises = docstring_schema(slugify)["properties"]["raises"]
    assert raises["items"]["properties"]["exception"]["enum"] == ["ValueError"]
    assert raises["maxItems"] == 1
    assert raises["minItems"] == 1  # the body raises it: the docstring must say so
    helper = docstring_schema(make_target(MODULE, "helper"))["properties"]["raises"]
    assert helper["maxItems"] == 0


@pytest.mark.parametrize(
    ("qualname", "returns"),
    [
        ("slugify", True),
        ("helper", True),  # no annotation, but it returns a value
        ("Registry.__init__", False),
        ("Registry.add", False),  # -> None
    ],
)
def test_schema_asks_for_returns_only_when_there_is_a_value(qualname: str, returns: bool) -> None:
    schema = docstring_schema(make_target(MODULE, qualname))
    assert ("returns" in schema["properties"]) is returns
    assert ("returns" in schema["required"]) is returns


def test_no_return_value_when_only_a_nested_function_returns() -> None:
    source = "def outer(x):\n    def inner():\n        return x\n    print(inner)\n    return\n"
    assert "returns" not in docstring_schema(make_target(source, "outer"))["properties"]


# -- parsing replies ------------------------------------------------------------------------


def test_parse_reply_skips_prose_and_code_fences() -> None:
    reply = (
        'Sure! Here is the JSON:\n```json\n{"summary": "Add two numbers.", "description": "",'
        ' "params": {"a": "first"}, "returns": "the sum", "raises": []}\n```\nHope it helps {'
    )
    assert parse_reply(reply) == {
        "summary": "Add two numbers.",
        "description": "",
        "params": {"a": "first"},
        "returns": "the sum",
        "raises": [],
    }


def test_parse_reply_drops_fields_of_the_wrong_type() -> None:
    reply = json.dumps(
        {
            "summary": "Do it.",
            "description": 3,
            "params": {"a": "first", "b": 2},
            "returns": ["no"],
            "raises": [{"exception": "ValueError", "when": "bad"}, {"exception": 1}, "x"],
        }
    )
    assert parse_reply(reply) == {
        "summary": "Do it.",
        "description": "",
        "params": {"a": "first"},
        "raises": [{"exception": "ValueError", "when": "bad"}],
    }


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "no json here",
        '{"summary": "cut off by max_tokens',
        '["summary", "a list"]',
        '{"summary": ""}',
        '{"summary": 3}',
        '{"description": "no summary"}',
    ],
)
def test_parse_reply_rejects_unusable_replies(reply: str) -> None:
    assert parse_reply(reply) is None


# -- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["google", "numpy", "pep257"])
def test_render_and_real_ruff_keep_a_good_docstring(slugify: Target, convention: str) -> None:
    text = render_docstring(slugify, GOOD, convention)
    assert text == EXPECTED[convention]
    verdict = check_docstring(slugify, text, convention)
    assert (verdict.kept, verdict.reason, verdict.detail) == (True, None, "")
    assert verdict.text == text


@pytest.mark.parametrize("convention", ["google", "numpy", "pep257"])
@pytest.mark.parametrize(
    ("source", "qualname"),
    [
        (MODULE, "Registry.__init__"),
        (MODULE, "Registry.make"),
        (
            "def outer(a):\n    def inner(b):\n        return a + b\n    return inner\n",
            "outer.inner",
        ),
        ("import functools\n\n\n@functools.cache\ndef twice(n):\n    return 2 * n\n", "twice"),
        ("async def fetch(url):\n    return url\n", "fetch"),
        ("def same(x): return x  # one line\n", "same"),
        # Tabs: ruff's D206 allows them only in one-line docstrings, which this one is.
        ("class A:\n\tdef m(self):\n\t\tself.v = 1\n", "A.m"),
    ],
)
def test_rendered_docstrings_are_kept_everywhere(
    source: str, qualname: str, convention: str
) -> None:
    target = make_target(source, qualname)
    data = {
        "summary": "Count the widgets",
        "params": {name: "Where the widgets come from." for name in documented_params(target)},
        "returns": "How many widgets there are.",
    }
    verdict = check_docstring(target, render_docstring(target, data, convention), convention)
    assert verdict.kept, verdict.detail


def test_render_normalises_the_summary(slugify: Target) -> None:
    data = {"summary": "  returns the\n slug  of text.  It is lower case", "params": {}}
    text = render_docstring(slugify, data, "google")
    first, blank, second = text.split("\n")[:3]
    assert (first, blank, second) == ("Return the slug of text.", "", "It is lower case.")


def test_render_names_a_quoted_newline(slugify: Target) -> None:
    # boltons' indent, the default model: "newline: ... (default is '\n')" came out as
    # "(default is '" and "')" on two lines (the newline became a blank, then a break).
    data = {**GOOD, "params": {**GOOD["params"], "sep": "The separator (default is '\n')."}}
    text = render_docstring(slugify, data, "google")
    assert "    sep: The separator (default is a newline)." in text.split("\n")
    assert check_docstring(slugify, text, "google").kept


def test_render_keeps_only_known_params_and_exceptions(slugify: Target) -> None:
    data = dict(GOOD)
    data["params"] = {"text": "the text", "invented": "a parameter the model made up"}
    data["raises"] = [
        {"exception": "KeyError", "when": "never, it is invented"},
        {"exception": "`ValueError`", "when": "when text is empty"},
    ]
    text = render_docstring(slugify, data, "google")
    assert "invented" not in text
    assert "KeyError" not in text
    # The guard clause `if not text: raise ValueError(...)` says when, not the model.
    assert "    ValueError: If not text." in text.split("\n")


def test_render_drops_a_return_value_the_function_does_not_have() -> None:
    target = make_target(MODULE, "Registry.add")
    text = render_docstring(target, {"summary": "Add it.", "returns": "nothing"}, "numpy")
    assert "Returns" not in text


def test_render_removes_control_characters(slugify: Target) -> None:
    text = render_docstring(slugify, {"summary": "Make\x00 a\tslug\x1b\u2028now"}, "pep257")
    assert text.split("\n")[0] == "Make a slug now."


def test_render_gives_nothing_for_a_useless_summary(slugify: Target) -> None:
    assert render_docstring(slugify, {"summary": "slugify"}, "google") == ""
    assert render_docstring(slugify, {"summary": "   "}, "google") == ""
    assert check_docstring(slugify, "", "google").reason == "empty"


def test_render_escapes_what_would_end_the_string(slugify: Target) -> None:
    data = {"summary": 'Split on "\\n" and """ quotes', "params": {}}
    text = render_docstring(slugify, data, "google")
    new = insert_docstring(MODULE, "slugify", text)
    node = ast.parse(new).body[1]
    assert isinstance(node, ast.FunctionDef)
    assert ast.get_docstring(node) == 'Split on "\\n" and """ quotes.'


def test_unknown_convention_is_an_error(slugify: Target) -> None:
    with pytest.raises(ValueError, match="convention"):
        render_docstring(slugify, GOOD, "sphinx")


# -- verification ---------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["google", "numpy"])
def test_a_missing_param_is_rejected(slugify: Target, convention: str) -> None:
    data = dict(GOOD, params={k: v for k, v in GOOD["params"].items() if k != "sep"})
    verdict = check_docstring(slugify, render_docstring(slugify, data, convention), convention)
    assert (verdict.kept, verdict.reason) == (False, "mismatch")
    assert verdict.detail.startswith("DOC101 ")  # pydoclint: fewer arguments than the signature
    assert "sep" in verdict.detail


def test_a_missing_param_is_rejected_in_pep257(slugify: Target) -> None:
    text = "Turn text into a slug.\n\nArguments:\n    text -- What to turn into a slug."
    verdict = check_docstring(slugify, text, "pep257")
    assert verdict.reason == "mismatch"
    assert verdict.detail.split("; ") == [
        "missing: sep, *parts, lower, **extra",
        "the function returns a value, but there is no Returns section",
        "Raises lists [], the body raises [ValueError]",
    ]


def test_an_unknown_param_is_rejected() -> None:
    target = make_target(MODULE, "helper")
    text = (
        "Return x.\n\nArgs:\n    x: What to give back.\n    y: Not in the signature at all.\n\n"
        "Returns:\n    The argument unchanged."
    )
    verdict = check_docstring(target, text, "google")
    assert verdict.reason == "mismatch"
    assert verdict.detail.startswith("DOC102 ")  # more arguments than the signature
    assert "[y: ]" in verdict.detail


@pytest.mark.parametrize(
    ("convention", "code"), [("google", "D415"), ("numpy", "D400"), ("pep257", "D400")]
)
def test_bad_formatting_is_rejected_by_ruff(convention: str, code: str) -> None:
    target = make_target(MODULE, "Registry.add")
    text = "Add an item\n\nArgs:\n    item: What to append."  # no period after the summary
    if convention == "pep257":
        text = "Add an item\n\nitem -- what to append."
    if convention == "numpy":
        text = "Add an item\n\nParameters\n----------\nitem : str\n    What to append."
    verdict = check_docstring(target, text, convention)
    assert (verdict.kept, verdict.reason) == (False, "lint")
    assert verdict.detail.startswith(code)


def test_lint_ignores_problems_outside_the_function() -> None:
    # The neighbour's docstring breaks D415 and D202; that is not this docstring's fault.
    source = 'def bad():\n    """No period"""\n\n    return 1\n\n\ndef good(x):\n    return x\n'
    target = make_target(source, "good")
    text = "Return x.\n\nArgs:\n    x: What to give back.\n\nReturns:\n    The argument unchanged."
    verdict = check_docstring(target, text, "google")
    assert verdict.kept, verdict.detail


@pytest.mark.parametrize(
    "text",
    [
        'Close early.""" + """Then open again.',  # the docstring becomes an expression
        'Run code."""; import os; """Really.',  # a statement smuggled in
    ],
)
def test_text_that_changes_code_is_rejected(slugify: Target, text: str) -> None:
    verdict = check_docstring(slugify, text, "google")
    assert (verdict.kept, verdict.reason) == (False, "ast")


def test_text_that_breaks_the_module_is_rejected(slugify: Target) -> None:
    verdict = check_docstring(slugify, 'Unbalanced """ quote.', "google")
    assert (verdict.reason, verdict.detail.split(":")[0]) == (
        "ast",
        "the module does not compile with it",
    )


def test_a_target_that_is_not_in_its_module_is_rejected(slugify: Target) -> None:
    stale = slugify._replace(qualname="renamed")
    assert check_docstring(stale, "Do it.", "google").reason == "ast"


def test_ast_check_sees_edits_elsewhere(slugify: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    # An insertion bug that touched other code must be caught by the AST comparison.
    real = insert_docstring

    def sloppy(source: str, qualname: str, text: str, *, lineno: int | None = None) -> str:
        return real(source, qualname, text, lineno=lineno).replace("return x", "return -x")

    monkeypatch.setattr(docstring_check, "insert_docstring", sloppy)
    text = render_docstring(slugify, GOOD, "google")
    verdict = check_docstring(slugify, text, "google")
    assert (verdict.reason, verdict.detail) == (
        "ast",
        "the text changes the code, not only the docstring",
    )


def test_existing_docstring_is_replaced_and_checked() -> None:
    source = "def f(x):\n    'old'\n    return x\n"
    target = make_target(source, "f")
    text = "Return x.\n\nArgs:\n    x: What to give back.\n\nReturns:\n    The argument unchanged."
    verdict = check_docstring(target, text, "google")
    assert verdict.kept, verdict.detail


def test_the_ruff_command_is_isolated_from_user_configuration() -> None:
    cmd = docstring_check.ruff_command("example.py", "numpy")
    assert cmd[1:4] == ["-m", "ruff", "check"]
    assert "--isolated" in cmd
    assert "lint.pydocstyle.convention = 'numpy'" in cmd


def test_a_ruff_failure_is_reported_with_its_command() -> None:
    with pytest.raises(FatalError, match=r"ruff failed: .* check --isolated"):
        docstring_check.run_ruff_pydocstyle("x = 1\n", "example.py", "no-such-convention")


# -- property: insertion never changes code -------------------------------------------------

PROPERTY_MODULE = '''\
"""Module."""
import os  # a comment


@property
def first(a, b=1, *rest, **options):  # trailing comment
    return a + b


class Box:
    def method(self, value):
        def nested(x): return x

        return nested(value)
'''

_prose = st.text(
    alphabet=st.characters(codec="utf-8"),  # anything a source file can hold
    min_size=1,
    max_size=80,
)


@settings(max_examples=50, deadline=None, database=None)
@given(
    qualname=st.sampled_from(["first", "Box.method", "Box.method.nested"]),
    convention=st.sampled_from(["google", "numpy", "pep257"]),
    summary=_prose,
    description=_prose,
    param_text=_prose,
)
def test_inserting_a_rendered_docstring_changes_only_the_docstring(
    qualname: str, convention: str, summary: str, description: str, param_text: str
) -> None:
    target = make_target(PROPERTY_MODULE, qualname)
    data = {
        "summary": summary,
        "description": description,
        "params": {name: param_text for name in documented_params(target)},
        "returns": param_text,
    }
    text = render_docstring(target, data, convention)
    if not text:
        return  # nothing usable to insert; check_docstring reports "empty"
    new = insert_docstring(PROPERTY_MODULE, qualname, text)
    new_tree = ast.parse(new)  # still compiles
    old_tree = ast.parse(PROPERTY_MODULE)
    found = []
    for node in ast.walk(new_tree):
        if isinstance(node, ast.FunctionDef) and node.name == qualname.rsplit(".", 1)[-1]:
            docstring = ast.get_docstring(node, clean=False)
            assert docstring is not None
            assert docstring.split("\n")[0].strip()  # the summary line survived
            node.body = node.body[1:]
            found.append(node)
    assert len(found) == 1
    assert ast.dump(new_tree) == ast.dump(old_tree)


def test_description_fragments_from_small_models_are_dropped(slugify: Target) -> None:
    data = {**GOOD, "description": "It can be.\n\n, and it also has a parameter.\n\nWords join."}
    text = render_docstring(slugify, data, "google")
    assert "It can be" not in text and ", and it also" not in text
    assert "Words join" not in text  # three words: too short to say anything
    data = {**GOOD, "description": "Runs of letters and digits become words."}
    assert "Runs of letters and digits become words." in render_docstring(slugify, data, "google")


GUARDS = """\
def clamp(value: int, low: int, high: int) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    if value < low:
        return low
    return min(value, high)


def after_a_return(x):
    if x is None:
        return 0
    if x > 10:
        raise ValueError("big")
    return x


def elif_and_later(x):
    if x < 0:
        raise ValueError("negative")
    elif x > 10:
        raise KeyError("big")
    if x == 5:
        raise TypeError("five")
    return x


def rebound(x):
    x = abs(x)
    if x > 3:
        raise ValueError("big")
    return x


def twice(x):
    if x < 0:
        raise ValueError("negative")
    if x > 9:
        raise ValueError("big")
    return x


def nested(items):
    for item in items:
        if item:
            raise ValueError("truthy")
"""


@pytest.mark.parametrize(
    ("qualname", "expected"),
    [
        ("clamp", {"ValueError": "low > high"}),
        ("after_a_return", {}),  # reaching the raise also needs x is not None
        ("elif_and_later", {}),  # an else branch, then a raise after a raise
        ("rebound", {}),  # x is no longer the argument
        ("twice", {}),  # two conditions raise it
        ("nested", {}),  # inside a loop
    ],
)
def test_raise_guards_only_where_the_test_alone_decides(
    qualname: str, expected: dict[str, str]
) -> None:
    assert raise_guards(make_target(GUARDS, qualname)) == expected


def test_a_guard_clause_says_when_instead_of_the_models_guess() -> None:
    # Qwen2.5-Coder-0.5B on the demo's clamp: a fluent Raises line that the code contradicts.
    data = {
        "summary": "Clamp a value to a range.",
        "params": {
            "value": "The number to limit.",
            "low": "The lower bound.",
            "high": "The upper bound.",
        },
        "returns": "The value within the range.",
        "raises": [
            {"exception": "ValueError", "when": "value is less than low or greater than high"}
        ],
    }
    target = make_target(GUARDS, "clamp")
    text = render_docstring(target, data, "google")
    assert text.endswith("Raises:\n    ValueError: If low > high.")
    assert "less than low" not in text
    assert check_docstring(target, text, "google").kept
