"""hook.select: which staged files the hook looks at, where generated tests go."""

from __future__ import annotations

from review_bot.config import Settings
from review_bot.hook import select


def test_generated_and_candidate_paths() -> None:
    settings = Settings(tests_dir="./tests/")
    assert select.generated_relpath(settings, "pkg.mod") == "tests/test_pkg_mod_generated.py"
    assert select.is_generated_path(settings, "tests/test_pkg_mod_generated.py")
    assert not select.is_generated_path(settings, "other/test_x_generated.py")
    assert select.is_source_candidate(settings, "src/pkg/mod.py")
    for path in ("tests/helpers.py", "test_x.py", "x_test.py", "conftest.py", "x.pyi"):
        assert not select.is_source_candidate(settings, path)
    flat = Settings(tests_dir=".")
    assert select.generated_relpath(flat, "m") == "test_m_generated.py"
    assert select.is_source_candidate(flat, "m.py")
