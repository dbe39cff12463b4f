"""The review in Markdown: the summary comment, and the job log's lines."""

from __future__ import annotations

import re

from review_bot import __version__
from review_bot.github.records import MAX_BODY, SUMMARY_MARKER, Decision, ReviewPlan, Suggestion
from review_bot.records import REASONS


def fence(content: str, info: str) -> str:
    """A fenced block that no backtick run inside `content` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{content.rstrip(chr(10))}\n{ticks}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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
                f"| `{_cell(c.name)}` `{_cell(c.path)}:{c.line}` "
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
        out += ["", *[f"- {note}" for note in plan.notes]]
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
        text = "\n".join(out + details + footer) + "\n"
        if len(text) <= MAX_BODY:
            return text
        out += ["", "(The attempts are too long for a comment; the review step's log has them.)"]
    text = "\n".join(out + footer) + "\n"
    if len(text) > MAX_BODY:
        cut = "\n\n(Truncated: the review step's log has every result.)\n"
        text = text[: MAX_BODY - len(cut) - len(footer[1]) - 2] + cut + footer[1] + "\n"
    return text


def _disagreements(plan: ReviewPlan) -> list[str]:
    """One collapsed list of the expected values the model wrote and the code contradicts."""
    rows = [
        f"- `{c.name}`: `{_code(d.call)}` returns `{_code(d.actual)}`; "
        f"the model expected `{_code(d.expected)}`"
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


def _code(text: str) -> str:
    # Inline code cannot hold a backtick; a newline would end the list item.
    return text.replace("`", "'").replace("\n", " ")


def _suggestion_markdown(s: Suggestion) -> str:
    if s.kind == "docstring":
        lines = f"lines {s.start_line}-{s.line}" if s.start_line else f"line {s.line}"
        return (
            f"- docstring for `{s.qualname}`: replace {lines} of `{s.path}` with\n\n"
            f"{_indent(fence(s.content, 'python'))}\n"
        )
    return (
        f"- test for `{s.qualname}` (`{s.path}:{s.line}`), for `{s.destination}`\n\n"
        f"  <details><summary>Test for <code>{s.qualname}</code></summary>\n\n"
        f"{_indent(fence(s.content, 'python'))}\n\n  </details>\n"
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.split("\n"))


def _model_line(plan: ReviewPlan) -> str:
    stats = plan.stats
    model = f"model `{stats.model.path}` ({stats.model.arch})" if stats.model else "no model needed"
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
