"""hook.unclash: new generated tests never replace an earlier one of the same name."""

from __future__ import annotations

from review_bot.hook.unclash import unclash


def test_unclash_renames_only_what_differs() -> None:
    existing = "def test_add():\n    assert 1\n\n\nCASES = [1]\n"
    same = "def test_add():\n    assert 1\n"
    assert unclash(existing, same) == same
    new = "CASES = [2]\n\n\ndef test_add():\n    assert CASES and obj.CASES\n"
    renamed = unclash(existing, new)
    assert renamed == "CASES_2 = [2]\n\n\ndef test_add_2():\n    assert CASES_2 and obj.CASES\n"
    # Already merged under the suffixed names: recognised, not renamed again.
    assert unclash(existing + "\n\n" + renamed, new) == renamed
