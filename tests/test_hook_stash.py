"""hook.stash: the paths pre-commit set aside before the hook ran."""

from __future__ import annotations

from review_bot.hook import stash


def test_framework_patch_paths() -> None:
    assert stash._header_paths(b"a/x y.py b/x y.py") == ["x y.py"]
    assert stash._header_paths(b'"a/t\\tab.py" "b/t\\tab.py"') == ["t\tab.py"]
    assert stash._header_paths(b"garbage") == []
    assert stash.framework_stashed_paths({}) == set()
