"""The review in Markdown: fences and the summary comment."""

from __future__ import annotations

from review_bot.github.markdown import fence, render_summary
from review_bot.github.records import MAX_BODY, SUMMARY_MARKER
from tests.helpers.github_plans import plan, suggestion


def test_fence_outgrows_backticks_in_the_content() -> None:
    assert fence("x = 1\n", "python") == "```python\nx = 1\n```"
    assert fence('"""Use ``` or ````."""', "suggestion").startswith("`````suggestion\n")


def test_summary_stays_under_githubs_limit() -> None:
    big = plan(*(suggestion(fingerprint=f"{n:020x}", content="x" * 5000) for n in range(30)))
    text = render_summary(big, set())
    assert len(text) <= MAX_BODY and "Truncated" in text and text.startswith(SUMMARY_MARKER)
    assert text.rstrip().endswith("</sub>")  # model and timings survive the cut
