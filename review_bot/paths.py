"""What is a test file, what is a source file worth testing, and where generated tests go:
the one answer for every front end.

>>> generated_test_relpath("tests", "pkg.util")
'tests/test_pkg_util_generated.py'
>>> is_source("src/pkg/util.py", "tests"), is_source("tests/helpers.py", "tests")
(True, False)
>>> is_source("pkg/test_util.py", "tests"), is_source("conftest.py", "tests")
(False, False)
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

_GENERATED_NAME = re.compile(r"test_.+_generated\.py")


def is_test_file(name: str) -> bool:
    """A file pytest collects by default (`python_files = test_*.py *_test.py`)."""
    name = posixpath.basename(name)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def tests_dir_posix(tests_dir: str) -> str:
    """The `tests_dir` setting as a normalised repository-relative POSIX path ("." for the
    top)."""
    return posixpath.normpath(tests_dir.replace(os.sep, "/")).strip("/") or "."


def is_source(path: str, tests_dir: str) -> bool:
    """A Python module whose functions get tests and docstrings: not a test file, not a
    conftest.py, not under the tests directory (`path` is repository-relative, POSIX)."""
    name = posixpath.basename(path)
    if not name.endswith(".py") or name == "conftest.py" or is_test_file(name):
        return False
    top = tests_dir_posix(tests_dir)
    return top == "." or not (path + "/").startswith(top + "/")


def generated_test_relpath(tests_dir: str, module: str) -> str:
    """Where the generated tests of `module` go, relative to the project root (POSIX)."""
    name = f"test_{module.replace('.', '_')}_generated.py"
    top = tests_dir_posix(tests_dir)
    return name if top == "." else f"{top}/{name}"


def generated_test_path(root: Path, tests_dir: str, module: str) -> Path:
    return root / generated_test_relpath(tests_dir, module)


def is_generated_path(path: str, tests_dir: str) -> bool:
    """Whether a repository-relative POSIX path is where generated tests live."""
    directory, name = posixpath.split(path)
    return (directory or ".") == tests_dir_posix(tests_dir) and bool(
        _GENERATED_NAME.fullmatch(name)
    )
