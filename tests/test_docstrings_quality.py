"""The prose checks (docstrings/quality.py) and the code checks (docstrings/truth.py) on real text.

The rejected docstrings are what SmolLM2-135M, the bundled smoke model, wrote for
examples/demo/textutils.py (`review-bot suggest --no-tests`, default settings and at
temperatures 0.6 to 1.2); every one of them passed pydocstyle and named every parameter,
so the checks before this module kept them. The accepted ones are plain, correct docstrings
in the style of real projects: none of them may be rejected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.generate.docstrings.check import check_docstring
from review_bot.generate.docstrings.quality import prose_of, quality_problem
from tests.test_docstrings import make_target

TEXTUTILS = """\
def slugify(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)


def clamp(value: int, low: int, high: int) -> int:
    if low > high:
        raise ValueError("low must not exceed high")
    if value < low:
        return low
    if value > high:
        return high
    return value


def word_count(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def is_palindrome(text: str) -> bool:
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]
"""

# (function, docstring as SmolLM2 wrote it, reason, a fragment of the detail)
REAL_BAD = [
    (
        "word_count",
        "Return [value] for each word in the input text.\n\nArgs:\n    text: Compute "
        "[word_count].\n\nReturns:\n    The computed value is returned by the function.",
        "placeholder",
        "[value]",
    ),
    (
        "is_palindrome",
        "Is_palindrome: Returns True if the given text is a reversed version of itself, False "
        "otherwise.\n\nArgs:\n    text: This function accepts a single string as an argument. It"
        " takes\n        one of the following arguments to be.\n\nReturns:\n    The returned "
        "result from this function will return True when the\n    input is a palindrome and "
        "False for.",
        "truncated",
        "arguments to be.",
    ),
    (
        "is_palindrome",
        "Is_palindrome: Returns True if the given text is a reversed version of itself, False "
        "otherwise.\n\nArgs:\n    text: A string that may read the same backwards.\n\nReturns:"
        "\n    True for a palindrome, False otherwise.",
        "restates-name",
        "function's name",
    ),
    (
        "clamp",
        "Return value is a concise expression that describes the type of output to be "
        "produced, and it can be.\n\nArgs:\n    value: Low must not exceed high.\n    low: "
        "High must never equal low.\n    high: Upper than high.\n\nReturns:\n    The value "
        "returned is a function with parameters that may have\n    optional arguments.",
        "truncated",
        "it can be.",
    ),
    (
        "slugify",
        "Return a string with the given text, which is converted to lowercase and joined by "
        "spaces.\n\nArgs:\n    text: Value.\n\nReturns:\n    The result of applying the "
        "function on the input data.",
        "filler",
        "text: Value.",
    ),
    (
        "clamp",
        "Return value is a function that returns a new value based on some logic.\n\nArgs:\n"
        "    value: The return type of the returned function is.\n    low: A low-level "
        "function call to lower it, which may have\n        unintended behavior.\n    high: "
        "An upper-level function call to higher this range of possible\n        values while "
        "keeping a certain amount.\n\nReturns:\n    Return value is a function that returns a"
        " new value based on some\n    logic.\n\nRaises:\n    ValueError: If }].",
        "truncated",
        "unbalanced",
    ),
    (
        "word_count",
        "Calculate the number of words in a given text with multiple consecutive ones.\n\n"
        "Args:\n    text: The original input is provided by the user. In this example,\n"
        "        it is used as an argument to perform an.\n\nReturns:\n    The result.",
        "truncated",
        "perform an.",
    ),
    (
        "is_palindrome",
        "This function is designed to detect palindromes in a string.\n\nArgs:\n    text: "
        "Is_palindrome().\n\nReturns:\n    {.",
        "truncated",
        "unbalanced {",
    ),
]


@pytest.mark.parametrize(("function", "text", "reason", "detail"), REAL_BAD)
def test_real_smollm2_docstrings_are_rejected(
    function: str, text: str, reason: str, detail: str
) -> None:
    target = make_target(TEXTUTILS, function)
    verdict = check_docstring(target, text, "google")
    assert (verdict.kept, verdict.reason) == (False, reason), verdict.detail
    assert detail in verdict.detail


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Return <name> of the text.", "placeholder"),
        ("Return: {returns_true}, Compute: {}.", "placeholder"),  # SmolLM2 on boltons
        ("Return the slug. TODO: say more.", "placeholder"),
        ("Return the slug, the words and ...", "placeholder"),
        ("Return the slug.\n\nXXX check this.", "placeholder"),
        # boltons, the default model: an exception's message copied with its format slot,
        # and a parameter described by its sentinel default.
        ("Make a slug.\n\nRaises:\n    ValueError: If expected text, not %r.", "placeholder"),
        ("Make a slug.\n\nArgs:\n    text: _UNSET.", "placeholder"),
        # A value where a description belongs: the field filled as an argument, from the
        # calls shown ("range_delim": "-", "lower": "True", a Returns of pairs).
        ("Make a slug.\n\nArgs:\n    text: -.", "placeholder"),
        ("Make a slug.\n\nArgs:\n    text: True.", "placeholder"),
        ("Make a slug.\n\nReturns:\n    (1, 2), (4, 3).", "placeholder"),
        ("Return the slug.\n\nArgs:\n    text: The text to turn into", "truncated"),
        ("Return the slug.\n\nArgs:\n    text: The text (without the.", "truncated"),
        ("Return the slug.\n\nArgs:\n    text: The text.", "restates-name"),
        ("Return the slug.\n\nArgs:\n    text: Text.", "restates-name"),
        ("`slugify` returns the slug.", "restates-name"),
        ("slugify - make a slug of the text.", "restates-name"),
        ("This function makes a slug.", "filler"),
        ("Subtract b from the.", "truncated"),
        ("Return the slug.\n\nArgs:\n    text: The value to.", "truncated"),
        ("Return the result.", "filler"),
        ("Make a slug.\n\nReturns:\n    The computed value is returned by the function.", "filler"),
        ("Make a slug.\n\nThe function is called with a string.", "filler"),
    ],
)
def test_each_quality_reason(text: str, reason: str) -> None:
    problem = quality_problem("slugify", ["text"], text)
    assert problem is not None and problem[0] == reason, problem


def test_a_percent_sign_or_a_constant_inside_prose_is_no_placeholder() -> None:
    text = "Make a slug.\n\nArgs:\n    text: At most 50% of it, or all of it when _UNSET is given."
    assert quality_problem("slugify", ["text"], text) is None
    # Values inside prose, and a Raises condition that is only a comparison, are no values.
    text = "Make a slug.\n\nArgs:\n    text: The words to join, or None (the default: '-')."
    assert quality_problem("slugify", ["text"], text) is None
    text = "Make a slug.\n\nArgs:\n    text: The words to join.\n\nRaises:\n    ValueError: 1 > 0."
    assert quality_problem("slugify", ["text"], text) is None


def test_a_sentence_may_end_on_a_verbs_preposition() -> None:
    # Issue 21: a real project's "ndigits: The number of decimal places to round to." was
    # rejected as cut off.
    text = "Round the percentage.\n\nArgs:\n    ndigits: The number of decimal places to round to."
    assert quality_problem("percent", ["ndigits"], text) is None


# Plain, correct docstrings in the style of real projects (the Google style guide's own
# examples, requests, attrs, numpy's guide): none may be rejected.
GOOD = [
    (
        "def fetch_rows(table_handle, keys, require_all_keys=False):\n"
        "    if require_all_keys and not keys:\n"
        "        raise IOError('no keys')\n"
        "    return {key: table_handle.get(key) for key in keys}\n",
        "fetch_rows",
        "google",
        "Fetch rows from a Smalltable.\n\n"
        "Retrieves rows pertaining to the given keys from the Table instance\n"
        "represented by table_handle. String keys will be UTF-8 encoded.\n\n"
        "Args:\n"
        "    table_handle: An open smalltable.Table instance.\n"
        "    keys: A sequence of strings representing the key of each table row to\n"
        "        fetch. String keys will be UTF-8 encoded.\n"
        "    require_all_keys: If True only rows with values set for all keys will be\n"
        "        returned.\n\n"
        "Returns:\n"
        "    A dict mapping keys to the corresponding table row data fetched. Each row\n"
        "    is represented as a tuple of strings.\n\n"
        "Raises:\n"
        "    IOError: An error occurred accessing the smalltable.",
    ),
    (
        "from .models import Request\n\n\ndef get(url, params=None, **kwargs):\n"
        "    return request('get', url, params=params, **kwargs)\n",
        "get",
        "google",
        "Send a GET request.\n\n"
        "Args:\n"
        "    url: URL for the new `Request` object.\n"
        "    params: Dictionary, list of tuples or bytes to send in the query string.\n"
        "    **kwargs: Optional arguments that `request` takes.\n\n"
        "Returns:\n"
        "    The server's response to the request.",
    ),
    (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    if low > high:\n        raise ValueError('low must not exceed high')\n"
        "    return max(low, min(value, high))\n",
        "clamp",
        "numpy",
        "Clamp a value to a closed interval.\n\n"
        "Parameters\n----------\n"
        "value : int\n    The number to bring into range.\n"
        "low : int\n    The smallest allowed result.\n"
        "high : int\n    The largest allowed result.\n\n"
        "Returns\n-------\nint\n"
        "    `value` if it lies between `low` and `high`, else the nearer bound.\n\n"
        "Raises\n------\nValueError\n    If low is greater than high.",
    ),
    (
        "def chunks(items, size):\n    for start in range(0, len(items), size):\n"
        "        yield items[start : start + size]\n",
        "chunks",
        "google",
        "Split a sequence into pieces of equal length.\n\n"
        "Args:\n    items: The sequence to split.\n    size: How many items each piece holds.\n\n"
        "Yields:\n    Consecutive slices of items; the last one may be shorter.",
    ),
    (
        "def is_palindrome(text: str) -> bool:\n"
        "    cleaned = [c.lower() for c in text if c.isalnum()]\n"
        "    return cleaned == cleaned[::-1]\n",
        "is_palindrome",
        "pep257",
        "Tell whether text reads the same backwards, ignoring case and punctuation.\n\n"
        "Arguments:\n    text -- The string to examine.\n\n"
        "Returns:\n    True for a palindrome such as 'A man, a plan', False otherwise.",
    ),
]


@pytest.mark.parametrize(("source", "function", "convention", "text"), GOOD)
def test_good_docstrings_are_kept(source: str, function: str, convention: str, text: str) -> None:
    verdict = check_docstring(make_target(source, function), text, convention)
    assert verdict.kept, f"{verdict.reason}: {verdict.detail}"


def test_a_parameter_named_like_an_article_ends_a_sentence() -> None:
    text = "Subtract b from a.\n\nArgs:\n    a: What to subtract from.\n    b: How much."
    assert quality_problem("sub", ["a", "b"], text) is None


def test_examples_sections_are_code_not_prose() -> None:
    text = "Make a slug.\n\nExamples:\n    >>> slugify('a b')\n    'a-b'\n    >>> ...\n"
    assert [where for where, _ in prose_of(text)] == ["summary"]
    assert quality_problem("slugify", [], text) is None


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Join the words with `SEPARATOR`.", "names not in the code: SEPARATOR"),
        ("Join the words with make_slug().", "names not in the code: make_slug"),
        ("Join the words via wordList.", "names not in the code: wordList"),
    ],
)
def test_names_the_code_does_not_have_are_a_mismatch(text: str, detail: str) -> None:
    target = make_target(TEXTUTILS, "slugify")
    full = f"{text}\n\nArgs:\n    text: What to turn into a slug.\n\nReturns:\n    The slug."
    verdict = check_docstring(target, full, "google")
    assert (verdict.reason, verdict.detail) == ("mismatch", detail)


def test_the_names_of_case_styles_are_prose() -> None:
    target = make_target(TEXTUTILS, "slugify")
    text = (
        "Turn camelCase or PascalCase words into snake_case.\n\n"
        "Args:\n    text: What to turn into a slug.\n\nReturns:\n    The slug."
    )
    assert check_docstring(target, text, "google").kept
    # Still one letter off is a name the code does not have.
    verdict = check_docstring(target, text.replace("snake_case", "snake_cases"), "google")
    assert (verdict.reason, verdict.detail) == ("mismatch", "names not in the code: snake_cases")


def test_names_the_code_uses_are_fine() -> None:
    target = make_target(TEXTUTILS, "slugify")
    text = (
        "Lower-case `text`, keep what `str.isalnum` accepts and join the words with '-'.\n\n"
        "Args:\n    text: What to turn into a slug.\n\nReturns:\n    The slug."
    )
    assert check_docstring(target, text, "google").kept


_VALUE = "    value: What to bring into range.\n"
_LOW = "    low: The least result.\n"
_HIGH = "    high: The greatest result.\n"
_RETURNS = "\nReturns:\n    The number in range.\n"
_RAISES = "\nRaises:\n    ValueError: If low is over high.\n"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Raises must list what the body raises, no more and no less.
        ("Args:\n" + _VALUE + _LOW + _HIGH + _RETURNS, "DOC501"),
        ("Args:\n" + _VALUE + _LOW + _HIGH + _RETURNS + _RAISES + "    KeyError: Never.", "DOC503"),
        # The order of the parameters.
        ("Args:\n" + _LOW + _VALUE + _HIGH + _RETURNS + _RAISES, "DOC104"),
        # A value is returned: Returns is required.
        ("Args:\n" + _VALUE + _LOW + _HIGH + _RAISES, "DOC201"),
    ],
)
def test_pydoclint_structure_is_a_mismatch(text: str, code: str) -> None:
    whole = "Clamp it.\n\n" + "Args:\n" + _VALUE + _LOW + _HIGH + _RETURNS + _RAISES
    assert check_docstring(make_target(TEXTUTILS, "clamp"), whole.rstrip(), "google").kept
    target = make_target(TEXTUTILS, "clamp")
    verdict = check_docstring(target, "Clamp it.\n\n" + text.rstrip(), "google")
    assert verdict.reason == "mismatch"
    assert verdict.detail.startswith(code), verdict.detail


def test_a_returns_section_without_a_value_is_a_mismatch() -> None:
    source = "def log(message: str) -> None:\n    print(message)\n"
    text = "Print a message.\n\nArgs:\n    message: What to print.\n\nReturns:\n    Nothing."
    verdict = check_docstring(make_target(source, "log"), text, "google")
    assert (verdict.reason, verdict.detail) == (
        "mismatch",
        "a Returns section, but the function returns no value",
    )


def test_a_generator_needs_yields() -> None:
    source = "def count_up(n):\n    yield from range(n)\n"
    target = make_target(source, "count_up")
    text = "Count from zero.\n\nArgs:\n    n: Where to stop, exclusive."
    verdict = check_docstring(target, text, "google")
    assert (verdict.reason, verdict.detail[:6]) == ("mismatch", "DOC402")
    verdict = check_docstring(target, text + "\n\nYields:\n    Each number below n.", "google")
    assert verdict.kept, verdict.detail


def test_a_summary_over_the_line_limit_is_lint() -> None:
    target = make_target("class A:\n    def m(self):\n        pass\n", "A.m")
    text = "Do " + "a thing and " * 8 + "stop."
    verdict = check_docstring(target, text, "google")
    assert verdict.reason == "lint"
    assert verdict.detail.startswith("the summary line is ")


def test_a_docstring_line_that_doctest_would_run_is_refused() -> None:
    # Issue 22: a long description that wraps so that a line starts with `>>>` was kept,
    # and `pytest --doctest-modules` then ran it.
    target = make_target("def add(a, b):\n    return a + b\n", "add")
    text = (
        "Add two numbers.\n\nThe sum is returned as it is; see the shell\n"
        ">>> x=__import__('os').system('touch /tmp/pwned')\n\n"
        "Args:\n    a: The first number.\n    b: The second number.\n\n"
        "Returns:\n    The sum of a and b.\n"
    )
    verdict = check_docstring(target, text, "google")
    assert (verdict.kept, verdict.reason) == (False, "ast"), verdict.detail
    assert "reads as code to doctest" in verdict.detail
    directive = text.replace(
        ">>> x=__import__('os').system('touch /tmp/pwned')", ".. include:: /etc/passwd"
    )
    assert check_docstring(target, directive, "google").reason == "ast"


def test_a_file_name_that_reads_as_options_is_still_checked(tmp_path: Path) -> None:
    # Issue 22: a file named `-rf.py` made ruff's --stdin-filename fail and stopped the
    # whole hook run.
    target = make_target("def add(a, b):\n    return a + b\n", "add", tmp_path / "-rf.py")
    text = (
        "Add two numbers.\n\nArgs:\n    a: The first.\n    b: The second.\n\n"
        "Returns:\n    The sum.\n"
    )
    verdict = check_docstring(target, text, "google")
    assert verdict.kept, verdict.detail
