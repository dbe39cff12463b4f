"""The review in Markdown: fences and the summary comment."""

from __future__ import annotations

import re

from review_bot.github.markdown import fence, render_summary
from review_bot.github.records import MAX_BODY, SUMMARY_MARKER, Decision
from review_bot.records import ModelRef
from tests.helpers.github_plans import plan, suggestion


def test_fence_outgrows_backticks_in_the_content() -> None:
    assert fence("x = 1\n", "python") == "```python\nx = 1\n```"
    assert fence('"""Use ``` or ````."""', "suggestion").startswith("`````suggestion\n")


def test_summary_stays_under_githubs_limit() -> None:
    big = plan(*(suggestion(fingerprint=f"{n:020x}", content="x" * 5000) for n in range(30)))
    text = render_summary(big, set())
    assert len(text) <= MAX_BODY and "Truncated" in text and text.startswith(SUMMARY_MARKER)
    assert text.rstrip().endswith("</sub>")  # model and timings survive the cut


HOSTILE_NAME = "x`y @octocat <img src=x onerror=alert(1)> | z.py"


def _outside_code(body: str) -> str:
    """The body less its code spans and fenced blocks (as CommonMark delimits them)."""
    body = re.sub(r"(?ms)^\s*(`{3,})\w*\n.*?^\s*\1\s*$", "", body)
    return re.sub(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", "", body)


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_names_from_the_pull_request_cannot_break_out_of_the_summary() -> None:
    # Issue 22: a file name with backticks, `@octocat`, `<img ...>` and `|` (and the model
    # server's `arch`) broke out of inline code: live @-mentions and raw HTML on GitHub.
    base = plan(suggestion(path=HOSTILE_NAME, qualname="f`@octocat", inline=False))
    checked = base.checked[0]._replace(
        name="mod.f`@octocat", path=HOSTILE_NAME,
        test=Decision("rejected", "fail <b>@team</b> | *x*", ()),
    )  # fmt: skip
    stats = base.stats._replace(model=ModelRef("m`.gguf", "llama @octocat <script>", False))
    hostile = base._replace(checked=(checked,), notes=(f"{HOSTILE_NAME}: skipped",), stats=stats)
    body = render_summary(hostile, set())
    # Inside inline code GitHub renders no HTML and no mention: outside it, none may be.
    prose = _outside_code(body)
    assert "<img" not in prose and "<script>" not in prose and "<b>" not in prose
    assert not re.search(r"@(octocat|team)", prose)  # each @ has a zero-width space after
    [row] = [line for line in body.splitlines() if line.startswith("| ") and "octocat" in line]
    assert _unescaped_pipes(row) == 4  # three cells, whatever the name holds
    assert "``mod.f`@\u200boctocat``" not in body  # inside code the text is kept as is
    assert "``mod.f`@octocat``" in body


def test_a_summary_cut_to_size_closes_every_fence_and_block() -> None:
    # Issue 22: a 200 KB test was cut at 64,999 characters in the middle of a fence.
    huge = suggestion(kind="test", content="x = 1\n" * 40_000, inline=False, destination="t.py")
    body = render_summary(plan(huge), set())
    assert len(body) <= MAX_BODY and "Truncated" in body
    assert body.count("<details>") == body.count("</details>")
    fences = [line for line in body.splitlines() if re.fullmatch(r"\s*`{3,}\w*", line)]
    assert len(fences) % 2 == 0
    assert body.rstrip().endswith("</sub>")
