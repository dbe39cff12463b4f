"""The review in Markdown: the summary comment, and the job log's lines."""

from __future__ import annotations

import html
import re

from review_bot import __version__
from review_bot.github.records import MAX_BODY, SUMMARY_MARKER, Decision, ReviewPlan, Suggestion
from review_bot.records import REASONS


def fence(content: str, info: str) -> str:
    """A fenced block that no backtick run inside `content` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{content.rstrip(chr(10))}\n{ticks}"


# Everything that comes from outside (file names of the pull request, qualnames, the
# model server's metadata, reasons, notes) reaches Markdown through `code` or `text`
# (issue 22: a file name with backticks, `@octocat` or `<img>` broke out of inline code).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def code(value: object) -> str:
    """`value` as inline code that nothing inside can end: a delimiter longer than any
    backtick run, newlines and control characters as spaces, `|` escaped (a table cell
    ends at one even inside code on GitHub).

    >>> code("a`b|c")
    '``a`b\\\\|c``'
    >>> code("@octocat <img src=x>")
    '`@octocat <img src=x>`'
    """
    content = _CONTROL.sub(" ", str(value)).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{ticks}{pad}{content}{pad}{ticks}"


def text(value: object) -> str:
    """`value` as plain Markdown text on one line: no emphasis, link, heading, table cell
    break, HTML or @-mention can come of it.

    >>> text("fail: *x* <b>@team</b> | [a](b)")
    'fail: \\\\*x\\\\* &lt;b&gt;@\u200bteam&lt;/b&gt; \\\\| \\\\[a\\\\](b)'
    """
    out = html.escape(_CONTROL.sub(" ", str(value)), quote=False)
    out = re.sub(r"([\\`*_\[\]#|~!])", r"\\\1", out)
    return out.replace("@", "@\u200b")  # a zero-width space: no mention, same look


def _cell(value: str) -> str:
    return text(value)


def _decision_cell(decision: Decision, placed: str | None) -> str:
    if decision.status == "kept":
        cell = f"kept ({placed})" if placed else "kept"
        score = decision.mutation
        if score is not None and score[1] > 0:
            cell += f", kills {score[0]}/{score[1]} mutants"
        return cell
    if decision.reason:
        return _cell(f"{decision.status}: {decision.reason}")
    return decision.status


def render_summary(plan: ReviewPlan, inline: set[str], *, heading_note: str | None = None) -> str:
    """The summary comment: what was checked, kept, rejected and why; model and timings.

    `inline` holds the fingerprints of suggestions that are (or will be) inline comments;
    every other suggestion is written out in full here.
    """
    short = f"`{plan.base[:7]}...{plan.head[:7]}`"
    out = [SUMMARY_MARKER, "### review-bot", ""]
    if heading_note:
        out += [heading_note, ""]
    functions = len(plan.checked)
    suggestions = len(plan.suggestions)
    below = [s for s in plan.suggestions if s.fingerprint not in inline]
    if not plan.checked:
        out.append(
            f"No changed Python function to check in {short} "
            f"({len(plan.files)} changed Python file{'s' if len(plan.files) != 1 else ''})."
        )
    else:
        out.append(
            f"Checked **{functions}** changed function{'s' if functions != 1 else ''} in "
            f"{len(plan.files)} file{'s' if len(plan.files) != 1 else ''} ({short}): "
            f"**{suggestions}** verified suggestion{'s' if suggestions != 1 else ''}, "
            f"{suggestions - len(below)} inline, {len(below)} below."
        )
        out += ["", "| function | test | docstring |", "|---|---|---|"]
        places: dict[str, dict[str, str]] = {}
        for s in plan.suggestions:
            places.setdefault(s.code, {})[s.kind] = "inline" if s.fingerprint in inline else "below"
        for c in plan.checked:
            place = places.get(c.code, {})
            out.append(
                f"| {code(c.name)} {code(f'{c.path}:{c.line}')} "
                f"| {_decision_cell(c.test, place.get('test'))} "
                f"| {_decision_cell(c.docstring, place.get('docstring'))} |"
            )
        found = {o.reason for c in plan.checked for o in (c.test, c.docstring) if o.reason}
        reasons = sorted(found & set(REASONS))
        if reasons:
            out += ["", "Reasons: " + "; ".join(f"*{r}*: {REASONS[r]}" for r in reasons) + "."]
    if below:
        out += ["", "#### Not placed inline", ""]
        out += ["These suggestions fall outside the diff's hunks, so they are listed here.", ""]
        for s in below:
            out.append(_suggestion_markdown(s))
    if plan.notes:
        out += ["", *[f"- {text(note)}" for note in plan.notes]]
    out += _disagreements(plan)
    attempts = [
        f"{c.name} {kind}: {line}"
        for c in plan.checked
        for kind, decision in (("test", c.test), ("docstring", c.docstring))
        for line in decision.attempts
    ]
    footer = ["", _model_line(plan)]
    if attempts:
        block = fence("\n".join(attempts), "")
        details = ["", "<details><summary>Attempts</summary>", "", block, "", "</details>"]
        body = "\n".join(out + details + footer) + "\n"
        if len(body) <= MAX_BODY:
            return body
        out += ["", "(The attempts are too long for a comment; the review step's log has them.)"]
    body = "\n".join(out + footer) + "\n"
    if len(body) > MAX_BODY:
        body = _closed_cut(out, footer)
    return body


def _closed_cut(out: list[str], footer: list[str]) -> str:
    """The summary cut to MAX_BODY at a whole line, never inside a fence, a details block
    or a table row (issue 22: a 200 KB test was cut in the middle of a fence), with a
    line that says so; the model line stays last."""
    cut = ["", "(Truncated: the review step's log has every result.)"]
    room = MAX_BODY - len("\n".join(cut + footer)) - 2
    kept: list[str] = []
    size = 0
    open_fence: str | None = None
    safe = 0  # how many lines of `kept` end outside any block
    for line in out:
        size += len(line) + 1
        if size > room:
            break
        kept.append(line)
        stripped = line.strip()
        ticks = re.match(r"`{3,}", stripped)
        if ticks and (open_fence is None or stripped == open_fence):
            open_fence = None if open_fence is not None else ticks.group()
        depth = sum(k.count("<details>") - k.count("</details>") for k in kept)
        if open_fence is None and depth == 0:
            safe = len(kept)
    return "\n".join(kept[:safe] + cut + footer) + "\n"


def _disagreements(plan: ReviewPlan) -> list[str]:
    """One collapsed list of the expected values the model wrote and the code contradicts."""
    rows = [
        f"- {code(c.name)}: {code(d.call)} returns {code(d.actual)}; "
        f"the model expected {code(d.expected)}"
        for c in plan.checked
        for d in c.test.disagreements
    ]
    if not rows:
        return []
    return [
        "",
        f"<details><summary>Disagreements ({len(rows)}): the model expected another value "
        "than the code returns; the kept tests record what the code returns</summary>",
        "",
        *rows,
        "",
        "</details>",
    ]


def _suggestion_markdown(s: Suggestion) -> str:
    if s.kind == "docstring":
        lines = f"lines {s.start_line}-{s.line}" if s.start_line else f"line {s.line}"
        return (
            f"- docstring for {code(s.qualname)}: replace {lines} of {code(s.path)} with\n\n"
            f"{_indent(fence(s.content, 'python'))}\n"
        )
    return (
        f"- test for {code(s.qualname)} ({code(f'{s.path}:{s.line}')}), "
        f"for {code(s.destination)}\n\n"
        f"  <details><summary>Test for <code>{html.escape(s.qualname)}</code></summary>\n\n"
        f"{_indent(fence(s.content, 'python'))}\n\n  </details>\n"
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.split("\n"))


def _model_line(plan: ReviewPlan) -> str:
    stats = plan.stats
    model = (
        f"model {code(stats.model.path)} ({text(stats.model.arch)})"
        if stats.model
        else "no model needed"
    )
    return (
        f"<sub>review-bot {__version__} · {model} · {stats.model_calls} model calls · "
        f"model {stats.model_s:.1f} s · total {stats.total_s:.1f} s · "
        f"cache {stats.cache_hits} hits, {stats.cache_misses} misses · "
        f"jail {stats.jail or 'not needed'}</sub>"
    )


def log_lines(plan: ReviewPlan) -> list[str]:
    """What was checked, for the job log: one line per function, then each attempt."""
    lines: list[str] = []
    for c in plan.checked:
        parts = []
        for kind, decision in (("test", c.test), ("docstring", c.docstring)):
            reason = f" ({decision.reason})" if decision.reason else ""
            score = decision.mutation
            if score is not None:
                reason += f" (kills {score[0]} of {score[1]} mutants)"
            parts.append(f"{kind} {decision.status}{reason}")
        lines.append(f"{c.path}:{c.line}: {c.name}: " + ", ".join(parts))
        lines += [f"    {line}" for o in (c.test, c.docstring) for line in o.attempts]
    lines += [f"note: {note}" for note in plan.notes]
    lines.append(
        f"{len(plan.checked)} functions checked, {len(plan.suggestions)} verified suggestions; "
        f"{plan.stats.model_calls} model calls, model {plan.stats.model_s:.1f} s, "
        f"total {plan.stats.total_s:.1f} s, jail {plan.stats.jail or 'not needed'}"
    )
    return lines
