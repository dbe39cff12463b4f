"""paths: test files, source files and generated test paths, one answer for every front end."""

from __future__ import annotations

from pathlib import Path

from review_bot import paths


def test_generated_and_source_paths() -> None:
    tests_dir = "./tests/"
    assert paths.generated_test_relpath(tests_dir, "pkg.mod") == "tests/test_pkg_mod_generated.py"
    assert paths.generated_test_path(Path("/p"), "tests", "m") == Path(
        "/p/tests/test_m_generated.py"
    )
    assert paths.is_generated_path("tests/test_pkg_mod_generated.py", tests_dir)
    assert not paths.is_generated_path("other/test_x_generated.py", tests_dir)
    assert paths.is_source("src/pkg/mod.py", tests_dir)
    for path in ("tests/helpers.py", "test_x.py", "x_test.py", "conftest.py", "x.pyi"):
        assert not paths.is_source(path, tests_dir)
    assert paths.generated_test_relpath(".", "m") == "test_m_generated.py"
    assert paths.is_source("m.py", ".")
    assert paths.is_test_file("a/b/test_x.py") and not paths.is_test_file("a/testing.py")
