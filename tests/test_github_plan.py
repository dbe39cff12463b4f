"""The plan's suggestions: which files are reviewed, and the lines a docstring replaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.github.plan import docstring_change, is_reviewed
from review_bot.records import Target
from review_bot.targets import targets_in_source


def test_test_files_get_no_tests_of_their_own() -> None:
    assert is_reviewed("pkg/mod.py") and is_reviewed("contest.py")
    assert not is_reviewed("tests/test_mod.py") and not is_reviewed("mod_test.py")
    assert not is_reviewed("conftest.py") and not is_reviewed("mod.pyi")


def target(source: str, qualname: str) -> Target:
    path = Path("/nonexistent/mod.py")
    return next(t for t in targets_in_source(path.parent, path, source) if t.qualname == qualname)


@pytest.mark.parametrize(
    ("source", "qualname", "expected"),
    [
        (
            "import os\n\n\ndef f(x):\n    return x\n",
            "f",
            (4, 4, ["def f(x):", '    """Do it."""']),
        ),
        (
            "@deco\ndef f(\n    x,\n    y,\n):\n\n    return x\n",
            "f",
            # The blank line after the signature goes too (a docstring must not precede it).
            (2, 6, ["def f(", "    x,", "    y,", "):", '    """Do it."""']),
        ),
        ("def f(x): return x\n", "f", (1, 1, ["def f(x):", '    """Do it."""', "    return x"])),
        (
            "class C:\n    def m(self) -> int:\n        return 1\n",
            "C.m",
            (2, 2, ["    def m(self) -> int:", '        """Do it."""']),
        ),
    ],
)
def test_docstring_change_replaces_the_signature_lines(
    source: str, qualname: str, expected: tuple[int, int, list[str]]
) -> None:
    assert docstring_change(source, target(source, qualname), "Do it.") == expected
