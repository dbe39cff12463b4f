from __future__ import annotations

import ast
import difflib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.errors import FatalError
from review_bot.paths import generated_test_path
from review_bot.write.docstrings import insert_docstring
from review_bot.write.files import OutsideRoot, atomic_write
from review_bot.write.tests import (
    GENERATED_HEADER,
    MergeConflictError,
    merge_generated_tests,
    merge_kept_tests,
    unclash,
    write_tests,
)

# -- insert_docstring -----------------------------------------------------------------------

ODD = """\
#!/usr/bin/env python3
# -*- coding: utf-8 -*-
import os, sys   # two imports on one line

X = {'a':1,
     'b' : 2}  # odd formatting that must survive


def   spaced( a,b ) :   # comment on the def line

    # comment on the first statement
    return a+b ; pass


class K( object ):
  '''Two-space indentation.'''
  @staticmethod
  def m(x):
      y = x  # six spaces here
      return y
"""


def _changes(old: str, new: str) -> list[tuple[str, list[str], list[str]]]:
    """The edits that turn `old` into `new`, line by line, ignoring equal runs."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [
        (tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def test_insertion_changes_only_the_inserted_lines() -> None:
    new = insert_docstring(ODD, "K.m", "Return x.\n\nArgs:\n    x: The value.")
    assert _changes(ODD, new) == [
        (
            "insert",
            [],
            [
                '      """Return x.\n',
                "\n",
                "      Args:\n",
                "          x: The value.\n",
                '      """\n',
            ],
        )
    ]
    compile(new, "odd.py", "exec")


def test_blank_lines_before_the_body_go_but_its_comment_stays() -> None:
    # A blank line between a docstring and the code is a lint error (D202).
    new = insert_docstring(ODD, "spaced", "Add.")
    assert _changes(ODD, new) == [("replace", ["\n"], ['    """Add."""\n'])]
    assert '    """Add."""\n    # comment on the first statement\n' in new


def test_a_one_line_function_becomes_a_block() -> None:
    source = "import os\n\n\ndef same(x): return x  # keep me\n\n\nY = 1\n"
    new = insert_docstring(source, "same", "Return x.\n\nArgs:\n    x: The value.")
    assert new == (
        "import os\n\n\ndef same(x):\n"
        '    """Return x.\n\n    Args:\n        x: The value.\n    """\n'
        "    return x  # keep me\n\n\nY = 1\n"
    )


def test_a_one_line_method_is_indented_under_its_class() -> None:
    source = "class A:\n    def f(self): return 1; \n"
    new = insert_docstring(source, "A.f", "One.")
    assert new == 'class A:\n    def f(self):\n        """One."""\n        return 1; \n'


NESTED = "def outer():\n    def inner(z):\n        return z\n    return inner\n"
NESTED_DOC = (
    'def outer():\n    def inner(z):\n        """Doc."""\n        return z\n    return inner\n'
)


@pytest.mark.parametrize(
    ("source", "qualname", "expected"),
    [
        (NESTED, "outer.inner", NESTED_DOC),
        (NESTED, "outer.<locals>.inner", NESTED_DOC),
        (
            "async def fetch(url):\n    return url\n",
            "fetch",
            'async def fetch(url):\n    """Doc."""\n    return url\n',
        ),
        (
            "@a\n@b(1)\ndef f():\n    pass\n",
            "f",
            '@a\n@b(1)\ndef f():\n    """Doc."""\n    pass\n',
        ),
        (
            "if True:\n    def f():\n        pass\n",  # inside a block that is not a scope
            "f",
            'if True:\n    def f():\n        """Doc."""\n        pass\n',
        ),
        (
            "class A:\n\tdef m(self):\n\t\tpass\n",
            "A.m",
            'class A:\n\tdef m(self):\n\t\t"""Doc."""\n\t\tpass\n',
        ),
    ],
)
def test_insertion_finds_every_kind_of_function(source: str, qualname: str, expected: str) -> None:
    assert insert_docstring(source, qualname, "Doc.") == expected


def test_multi_line_docstrings_follow_tabs_and_crlf() -> None:
    source = "class A:\r\n\tdef m(self):\r\n\t\tpass\r\n"
    new = insert_docstring(source, "A.m", "Doc.\n\nMore.")
    assert (
        new
        == 'class A:\r\n\tdef m(self):\r\n\t\t"""Doc.\r\n\r\n\t\tMore.\r\n\t\t"""\r\n\t\tpass\r\n'
    )


@pytest.mark.parametrize(
    "old",
    ["'old'", '"""Old\n    text."""', "r'raw'", "'con' 'cat'", "u'old'"],
)
def test_an_existing_docstring_is_replaced(old: str) -> None:
    source = f"def f():\n    {old}  # why\n    return 1\n"
    new = insert_docstring(source, "f", "New.")
    assert new == 'def f():\n    """New."""  # why\n    return 1\n'


def test_a_string_that_is_not_a_docstring_is_kept() -> None:
    source = "def f():\n    b'bytes'\n"
    assert insert_docstring(source, "f", "New.") == 'def f():\n    """New."""\n    b\'bytes\'\n'


def test_same_names_are_told_apart_by_line() -> None:
    source = (
        "class A:\n"
        "    @property\n"
        "    def x(self):\n"
        "        return 1\n"
        "\n"
        "    @x.setter\n"
        "    def x(self, value):\n"
        "        pass\n"
    )
    getter = insert_docstring(source, "A.x", "Get.")
    assert getter.splitlines()[3] == '        """Get."""'
    setter = insert_docstring(source, "A.x", "Set.", lineno=7)
    assert setter.splitlines()[7] == '        """Set."""'
    by_decorator = insert_docstring(source, "A.x", "Set.", lineno=6)
    assert by_decorator == setter


def test_overload_stubs_are_skipped() -> None:
    source = (
        "from typing import overload\n"
        "@overload\ndef f(x: int) -> int: ...\n"
        "@overload\ndef f(x: str) -> str: ...\n"
        "def f(x):\n    return x\n"
    )
    new = insert_docstring(source, "f", "Doc.")
    assert new.endswith('def f(x):\n    """Doc."""\n    return x\n')


@pytest.mark.parametrize(
    ("qualname", "lineno"), [("missing", None), ("A", None), ("f.g", None), ("f", 99)]
)
def test_an_unknown_function_is_a_key_error(qualname: str, lineno: int | None) -> None:
    source = "class A:\n    pass\n\n\ndef f():\n    pass\n"
    with pytest.raises(KeyError):
        insert_docstring(source, qualname, "Doc.", lineno=lineno)


# -- atomic_write ---------------------------------------------------------------------------


def test_atomic_write_replaces_content_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_bytes(b"old\n")
    path.chmod(0o751)
    atomic_write(path, "new\r\nline\n", root=tmp_path)
    assert path.read_bytes() == b"new\r\nline\n"  # newlines exactly as given
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mod.py"]


def test_atomic_write_creates_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new.py"
    atomic_write(path, "héllo\n", root=tmp_path)
    assert path.read_text(encoding="utf-8") == "héllo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_writes_never_leave_the_root_or_go_through_a_link(tmp_path: Path) -> None:
    # Issue 22: a committed link sent a generated test, or a docstring, outside the
    # repository.
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "real.py").write_text("old\n")
    (root / "link.py").symlink_to(outside / "real.py")
    (root / "build").symlink_to(outside)
    for path in (root / "link.py", root / "build" / "test_x.py", root / "build" / "new" / "t.py"):
        with pytest.raises(OutsideRoot, match="a symbolic link; review-bot writes only inside"):
            atomic_write(path, "new\n", root=root)
    with pytest.raises(OutsideRoot, match="outside the repository"):
        atomic_write(root / ".." / "outside" / "x.py", "new\n", root=root)
    assert sorted(p.name for p in outside.iterdir()) == ["real.py"]
    assert (outside / "real.py").read_text() == "old\n"
    atomic_write(root / "tests" / "deep" / "t.py", "ok\n", root=root)  # made as directories
    assert (root / "tests" / "deep" / "t.py").read_text() == "ok\n"


def test_a_failed_write_leaves_the_original_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text("original\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(path, "lone surrogate \ud800\n", root=tmp_path)
    assert path.read_text() == "original\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mod.py"]


# -- generated tests ------------------------------------------------------------------------


def test_generated_test_path(tmp_path: Path) -> None:
    path = generated_test_path(tmp_path, "tests", "pkg.util")
    assert path == tmp_path / "tests" / "test_pkg_util_generated.py"


FIRST = """\
import pytest

from pkg.util import slugify


def test_slugify_joins_words():
    assert slugify("a b") == "a-b"


def test_slugify_rejects_empty():
    with pytest.raises(ValueError):
        slugify("")
"""

SECOND = """\
from __future__ import annotations

import pytest

from pkg.util import parse, slugify

# parsed cases, checked by hand
CASES = [("1", 1), ("2", 2)]


@pytest.mark.parametrize(("text", "value"), CASES)
def test_parse(text, value):
    assert parse(text) == value


def test_slugify_joins_words():
    assert slugify("a  b") == "a-b"
"""


def _test_names(code: str) -> list[str]:
    tree = ast.parse(code)
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]


def _ruff_format_check(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "check_format.py"
    path.write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--no-cache", "--diff", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_merge_starts_a_file_with_the_header(tmp_path: Path) -> None:
    merged = merge_generated_tests(None, FIRST)
    # The imports form one block: the merger cannot know how the user groups them.
    assert merged == f"{GENERATED_HEADER}\n" + FIRST.replace("pytest\n\nfrom", "pytest\nfrom")
    assert _ruff_format_check(tmp_path, merged).returncode == 0


def test_merge_replaces_tests_by_name_and_deduplicates_imports(tmp_path: Path) -> None:
    merged = merge_generated_tests(merge_generated_tests(None, FIRST), SECOND)
    assert merged == (
        f"{GENERATED_HEADER}\n"
        "from __future__ import annotations\n"
        "import pytest\n"
        "from pkg.util import slugify, parse\n"
        "\n\n"
        "def test_slugify_rejects_empty():\n"
        "    with pytest.raises(ValueError):\n"
        '        slugify("")\n'
        "\n\n"
        "# parsed cases, checked by hand\n"
        'CASES = [("1", 1), ("2", 2)]\n'
        "\n\n"
        '@pytest.mark.parametrize(("text", "value"), CASES)\n'
        "def test_parse(text, value):\n"
        "    assert parse(text) == value\n"
        "\n\n"
        "def test_slugify_joins_words():\n"
        '    assert slugify("a  b") == "a-b"\n'
    )
    result = _ruff_format_check(tmp_path, merged)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "code",
    [
        '"""Tests."""\n\n\ndef test_a():\n    pass\n',
        '"""Tests."""\nimport os\n\n\ndef test_a():\n    assert os\n',
        "X = 1\nY = 2\n\n\ndef test_a():\n    assert X < Y\n",
        "from a.very.long.module.path import first_function, second_function, third_one\n"
        "\n\ndef test_a():\n    assert first_function\n",
    ],
)
def test_merged_modules_are_stable_under_ruff_format(tmp_path: Path, code: str) -> None:
    merged = merge_generated_tests(merge_generated_tests(None, FIRST), code)
    result = _ruff_format_check(tmp_path, merged)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merge_keeps_file_level_pragmas() -> None:
    existing = merge_generated_tests(None, "# ruff: noqa: E501\nimport os\n")
    merged = merge_generated_tests(existing, "# mypy: ignore-errors\nimport os\n")
    assert merged.splitlines() == [
        GENERATED_HEADER,
        "# ruff: noqa: E501",
        "# mypy: ignore-errors",
        "import os",
    ]


def test_merging_the_same_code_again_changes_nothing() -> None:
    once = merge_generated_tests(merge_generated_tests(None, FIRST), SECOND)
    assert merge_generated_tests(once, SECOND) == once
    assert merge_generated_tests(once, FIRST).count("def test_slugify_joins_words") == 1


def test_merge_keeps_a_helper_that_kept_tests_use() -> None:
    existing = merge_generated_tests(None, SECOND)
    new = "CASES = [('3', 3)]\n\n\ndef test_other():\n    assert CASES\n"
    with pytest.raises(MergeConflictError, match="CASES"):
        merge_generated_tests(existing, new)


def test_merge_replaces_a_helper_no_kept_test_uses() -> None:
    existing = merge_generated_tests(None, SECOND)
    # The new code replaces test_parse too, so the old CASES has no user left.
    new = (
        "import pytest\n\nfrom pkg.util import parse\n\nCASES = [('3', 3)]\n\n\n"
        "@pytest.mark.parametrize(('text', 'value'), CASES)\n"
        "def test_parse(text, value):\n    assert parse(text) == value\n"
    )
    merged = merge_generated_tests(existing, new)
    assert merged.count("CASES = ") == 1
    assert "CASES = [('3', 3)]" in merged
    assert _test_names(merged) == ["test_slugify_joins_words", "test_parse"]


def test_merge_sees_fixtures_requested_by_parameter() -> None:
    existing = (
        "import pytest\n\n\n@pytest.fixture\ndef data():\n    return 1\n\n\n"
        "def test_uses(data):\n    assert data == 1\n"
    )
    new = "import pytest\n\n\n@pytest.fixture\ndef data():\n    return 2\n"
    with pytest.raises(MergeConflictError, match="data"):
        merge_generated_tests(existing, new)


def test_merge_rejects_code_that_does_not_parse() -> None:
    with pytest.raises(SyntaxError):
        merge_generated_tests(None, "def test_(:\n")


def test_write_tests_creates_then_merges(tmp_path: Path) -> None:
    path = write_tests(tmp_path, "tests", "pkg.util", [FIRST])
    assert path == tmp_path / "tests" / "test_pkg_util_generated.py"
    assert path.read_text().splitlines()[0] == GENERATED_HEADER
    write_tests(tmp_path, "tests", "pkg.util", [SECOND])
    # The earlier test of the same name stays; the new one is added under a new name.
    assert _test_names(path.read_text()) == [
        "test_slugify_joins_words",
        "test_slugify_rejects_empty",
        "test_parse",
        "test_slugify_joins_words_2",
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_pkg_util_generated.py"]


def test_write_tests_never_overwrites_a_hand_written_file(tmp_path: Path) -> None:
    path = generated_test_path(tmp_path, "tests", "pkg.util")
    path.parent.mkdir()
    path.write_text("# my own tests\ndef test_mine():\n    pass\n")
    with pytest.raises(FatalError, match="not generated by review-bot"):
        write_tests(tmp_path, "tests", "pkg.util", [FIRST])
    assert path.read_text() == "# my own tests\ndef test_mine():\n    pass\n"


def test_write_tests_refuses_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text(f"{GENERATED_HEADER}\n")
    path = generated_test_path(tmp_path, "tests", "pkg.util")
    path.parent.mkdir()
    path.symlink_to(elsewhere)
    with pytest.raises(FatalError, match="a symbolic link; review-bot writes only inside"):
        write_tests(tmp_path, "tests", "pkg.util", [FIRST])
    assert elsewhere.read_text() == f"{GENERATED_HEADER}\n"


def test_write_tests_reports_a_broken_generated_file(tmp_path: Path) -> None:
    path = generated_test_path(tmp_path, "tests", "pkg.util")
    path.parent.mkdir()
    path.write_text(f"{GENERATED_HEADER}\ndef test_(:\n")
    with pytest.raises(FatalError, match="cannot merge"):
        write_tests(tmp_path, "tests", "pkg.util", [FIRST])


def test_merged_tests_run_under_pytest(tmp_path: Path) -> None:
    (tmp_path / "util.py").write_text(
        "def slugify(text):\n    if not text:\n        raise ValueError(text)\n"
        "    return '-'.join(text.split())\n\n\ndef parse(text):\n    return int(text)\n"
    )
    write_tests(tmp_path, "tests", "util", [FIRST.replace("pkg.util", "util")])
    path = write_tests(tmp_path, "tests", "util", [SECOND.replace("pkg.util", "util")])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_unclash_renames_only_what_differs() -> None:
    existing = "def test_add():\n    assert 1\n\n\nCASES = [1]\n"
    same = "def test_add():\n    assert 1\n"
    assert unclash(existing, same) == same
    new = "CASES = [2]\n\n\ndef test_add():\n    assert CASES and obj.CASES\n"
    renamed = unclash(existing, new)
    assert renamed == "CASES_2 = [2]\n\n\ndef test_add_2():\n    assert CASES_2 and obj.CASES\n"
    # Already merged under the suffixed names: recognised, not renamed again.
    assert unclash(existing + "\n\n" + renamed, new) == renamed


def test_kept_tests_that_clash_are_renamed_never_dropped_or_replaced() -> None:
    # The one clash rule of every front end (suggest --write and the hook): two kept tests
    # of one run that share a helper name, and an earlier generated test of the same name.
    earlier = merge_kept_tests(None, ["def test_add():\n    assert add(1, 1) == 2\n"])
    first = "DATA = [1]\n\n\ndef test_add():\n    assert add(*DATA, 0) == 1\n"
    second = "DATA = [2]\n\n\ndef test_sub():\n    assert sub(*DATA, 0) == 2\n"
    merged = merge_kept_tests(earlier, [first, second])
    assert _test_names(merged) == ["test_add", "test_add_2", "test_sub"]
    assert "DATA = [1]" in merged and "DATA_2 = [2]" in merged
    assert "assert sub(*DATA_2, 0) == 2" in merged
    # Running again adds nothing.
    assert merge_kept_tests(merged, [first, second]) == merged
