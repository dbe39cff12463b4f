"""hook.apply, in part: docstrings inserted only where the function reads as staged (the
rest of applying a plan is tested through run_hook in test_hook.py)."""

from __future__ import annotations

from pathlib import Path

from review_bot.hook.apply import insert_where_unchanged
from review_bot.hook.plan import PlanDocItem


def test_insert_where_unchanged(tmp_path: Path) -> None:
    staged = "def f(x):\n    return x\n\n\ndef g(y):\n    return y\n"
    working = "import os\n\n\n" + staged.replace("return y", "return y + 1")
    items = [
        PlanDocItem(qualname="f", source="def f(x):\n    return x\n", docstring="Do f."),
        PlanDocItem(qualname="g", source="def g(y):\n    return y\n", docstring="Do g."),
    ]
    text, missing = insert_where_unchanged(tmp_path / "m.py", working, items)
    assert missing == ["g"]
    assert text == working.replace("def f(x):\n", 'def f(x):\n    """Do f."""\n')
    assert insert_where_unchanged(tmp_path / "m.py", "def (", items)[1] == ["f", "g"]
