"""Workflow commands: the annotations written when the token cannot write."""

from __future__ import annotations

from review_bot.github.annotations import annotation, escape_data, escape_property
from tests.helpers.github_plans import suggestion


def test_workflow_command_escaping() -> None:
    assert escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    s = suggestion(path="dir,x/a:b.py", start_line=2, line=4, content="l1\nl2")
    assert annotation(s, "error") == (
        "::error file=dir%2Cx/a%3Ab.py,line=2,endLine=4,title=review-bot%3A docstring for f"
        "::Suggested replacement for lines 2-4:%0Al1%0Al2"
    )
