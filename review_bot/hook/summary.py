"""What the hook prints: one line per note, target and file, then the counts and the cost."""

from __future__ import annotations

from review_bot.config import Settings
from review_bot.hook.apply import ApplyReport
from review_bot.hook.plan import Plan, PlanOutcome
from review_bot.progress import terminal_safe

PREFIX = "review-bot: "


def _describe(outcome: PlanOutcome) -> str:
    text = outcome["status"]
    if outcome["reason"]:
        text += f" ({outcome['reason']})"
    return text


def summary(
    plan: Plan, report: ApplyReport, settings: Settings, seconds: float, memo_hit: bool
) -> list[str]:
    lines = [f"{PREFIX}{note}" for note in plan["notes"]]
    targets = plan["targets"]
    if not targets:
        if lines:
            lines.append(f"{PREFIX}no changed function to check")
        return lines
    files = sorted({t["file"] for t in targets})
    lines.append(
        f"{PREFIX}{len(targets)} changed function{'s' if len(targets) != 1 else ''} "
        f"in {', '.join(files)}"
    )
    for target in targets:
        parts = []
        if settings.tests:
            parts.append(f"test {_describe(target['test'])}")
        if settings.docstrings:
            parts.append(f"docstring {_describe(target['docstring'])}")
        lines.append(f"  {target['name']} (line {target['line']}): {'; '.join(parts)}")
        if target["test"]["status"] == "rejected":
            lines.extend(f"      - {attempt}" for attempt in target["test"]["attempts"])
    if plan["analysis_only"]:
        gaps = sum("missing" in (t["test"]["status"], t["docstring"]["status"]) for t in targets)
        if gaps:
            lines.append(f"{PREFIX}{gaps} of {len(targets)} lack a test or a docstring")
        return [*lines, f"{PREFIX}checked in {seconds:.1f} s"]
    for rel in report.staged:
        lines.append(f"{PREFIX}staged {rel}")
    for rel in report.already:
        lines.append(f"{PREFIX}{rel} already holds the kept tests")
    for rel in report.written:
        lines.append(f"{PREFIX}wrote {rel}: review it, `git add` it and commit again")
    for rel in report.unstaged:
        lines.append(
            f"{PREFIX}{rel} holds the kept tests but is not staged (this commit goes without them)"
        )
    for message in report.blocked:
        lines.append(f"{PREFIX}{message}")
    for rel in report.docstrings:
        lines.append(
            f"{PREFIX}inserted docstrings into {rel} (not staged): review, `git add` it "
            "and commit again"
        )
    for rel in report.docstrings_pending:
        lines.append(
            f"{PREFIX}{rel} has the kept docstrings in the working tree, not staged "
            "(this commit goes without them)"
        )
    for message in report.docstrings_blocked + report.warnings:
        lines.append(f"{PREFIX}{message}")
    kept = sum(t["test"]["status"] == "kept" for t in targets)
    rejected: dict[str, int] = {}
    for target in targets:
        if target["test"]["status"] == "rejected":
            reason = target["test"]["reason"] or "?"
            rejected[reason] = rejected.get(reason, 0) + 1
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(rejected.items()))
    docs = sum(t["docstring"]["status"] == "kept" for t in targets)
    counts = []
    if settings.tests:
        counts.append(
            f"{kept} tests kept, {sum(rejected.values())} rejected"
            + (f" ({reasons})" if reasons else "")
        )
    if settings.docstrings:
        counts.append(f"{docs} docstrings kept")
    cost = (
        "plan reused, no model call"
        if memo_hit
        else f"model {plan['model_s']:.1f} s in {plan['model_calls']} calls, "
        f"cache {plan['cache_hits']} hits, {plan['cache_misses']} misses, "
        f"jail {plan.get('jail') or 'not needed'}"
    )
    lines.append(f"{PREFIX}{', '.join(counts)}; {cost}; {seconds:.1f} s")
    return lines


def printable(line: str) -> str:
    """A line as the terminal may show it (progress.terminal_safe): control characters
    escaped, a file name that is not UTF-8 shown with U+FFFD, not a crash."""
    return terminal_safe(line)
