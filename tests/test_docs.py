"""What the README promises matches the code."""

from __future__ import annotations

import re
from pathlib import Path

from review_bot.records import REASONS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_reason_tables_are_the_reasons_the_code_gives() -> None:
    # One text per reason: the README's tables, the console and the PR review read the same.
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+?) \|$", README.read_text(), re.MULTILINE)
    documented = {code: text for code, text in rows if code in REASONS}
    assert documented == REASONS


def test_module_docstring_examples_run() -> None:
    # Module docstrings carry doctests of the rules they hold (darker's habit).
    import doctest
    import importlib

    for name in (
        "review_bot.paths",
        "review_bot.http",
        "review_bot.llm.threads",
        "review_bot.sandbox.interpreter",
        # issues 21 and 22: the screening policy, the project's style, the escapers
        "review_bot.sandbox.screen",
        "review_bot.style",
        "review_bot.progress",
        "review_bot.source",
        "review_bot.github.markdown",
        "review_bot.generate.docstrings.check",
        "review_bot.generate.search",
    ):
        module = importlib.import_module(name)
        failed, attempted = doctest.testmod(module, raise_on_error=False, verbose=False)
        assert attempted > 0 and failed == 0, name
