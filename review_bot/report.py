"""Reports: console text, and the JSON object documented in the README."""

from __future__ import annotations

import difflib
from typing import Any

from review_bot.records import Outcome, TargetResult
from review_bot.suggest import SuggestReport
from review_bot.write.docstrings import insert_docstring


def to_json(report: SuggestReport) -> dict[str, Any]:
    stats = report.stats

    def test(outcome: Outcome) -> dict[str, Any]:
        return {
            "status": outcome.status,
            "reason": outcome.reason,
            "code": outcome.code,
            "attempts": list(outcome.attempts),
            "disagreements": [d._asdict() for d in outcome.disagreements],
            "mutation": mutation_json(outcome.mutation),
        }

    def doc(outcome: Outcome) -> dict[str, Any]:
        return {
            "status": outcome.status,
            "reason": outcome.reason,
            "text": outcome.code,
            "attempts": list(outcome.attempts),
        }

    return {
        "targets": [
            {"name": r.target.display, "test": test(r.test), "docstring": doc(r.docstring)}
            for r in report.results
        ],
        "model": None
        if stats.model is None
        else {"path": stats.model.path, "arch": stats.model.arch},
        "timings": {"model_s": round(stats.model_s, 3), "total_s": round(stats.total_s, 3)},
        "cache": {"hits": stats.cache_hits, "misses": stats.cache_misses},
        "model_calls": stats.model_calls,
        "jail": stats.jail,
        "written": [str(p) for p in report.written],
    }


def mutation_json(score: tuple[int, int] | None) -> dict[str, int] | None:
    """`{"killed": k, "total": n}`, or None when the test was not scored."""
    return None if score is None else {"killed": score[0], "total": score[1]}


def mutation_text(score: tuple[int, int] | None) -> str:
    """ "kills 3 of 4 mutants (75 %)", "" when the test was not scored."""
    if score is None:
        return ""
    killed, total = score
    if total == 0:
        return "no mutant to kill"
    return f"kills {killed} of {total} mutants ({100 * killed // total} %)"


def docstring_diff(report: SuggestReport, result: TargetResult) -> str:
    """The unified diff that inserting this one docstring makes to the file."""
    assert result.docstring.code is not None
    after = insert_docstring(report.original_source, result.target.qualname, result.docstring.code)
    name = result.target.relpath
    return "".join(
        difflib.unified_diff(
            report.original_source.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def to_text(report: SuggestReport) -> str:
    out: list[str] = []
    said: set[str] = set()  # an `import` line is the module's: said once, not per function
    for result in report.results:
        out.append(f"== {result.target.display} (line {result.target.def_lineno})")
        test = result.test
        label = f"  test: {test.status}" + (f" ({test.reason})" if test.reason else "")
        if test.status == "kept" and test.mutation is not None:
            label += f", {mutation_text(test.mutation)}"
        out.append(label)
        for line in test.attempts:
            if test.reason == "import" and line in said:
                out.append(f"    - (as above: {result.target.module} cannot be imported)")
                continue
            said.add(line)
            out.append(f"    - {line}")
        if test.disagreements:
            out.append("    disagreements (the model expected, the code returns):")
            out += [
                f"      {d.call}: expected {d.expected}, got {d.actual}" for d in test.disagreements
            ]
        if test.status == "kept" and test.code:
            out.append(_indent(test.code.rstrip("\n")))
        doc = result.docstring
        out.append(f"  docstring: {doc.status}" + (f" ({doc.reason})" if doc.reason else ""))
        if doc.status == "rejected":
            for line in doc.attempts:
                out.append(f"    - {line}")
        if doc.status == "kept" and doc.code is not None:
            out.append(_indent(docstring_diff(report, result).rstrip("\n")))
        out.append("")
    out.append(summary(report))
    return "\n".join(out) + "\n"


def summary(report: SuggestReport) -> str:
    stats = report.stats
    tests = [r.test for r in report.results]
    docs = [r.docstring for r in report.results]
    kept_tests = sum(t.status == "kept" for t in tests)
    rejected = [t.reason or "?" for t in tests if t.status == "rejected"]
    kept_docs = sum(d.status == "kept" for d in docs)
    reasons = ""
    if rejected:
        counts: dict[str, int] = {}
        for reason in rejected:
            counts[reason] = counts.get(reason, 0) + 1
        reasons = " (" + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) + ")"
    parts = [
        f"{len(report.results)} functions: {kept_tests} tests kept, "
        f"{len(rejected)} rejected{reasons}, {kept_docs} docstrings kept",
        f"model {stats.model_s:.1f} s in {stats.model_calls} calls, total {stats.total_s:.1f} s",
        f"cache {stats.cache_hits} hits, {stats.cache_misses} misses",
        f"jail {stats.jail or 'not needed'}",
    ]
    scores = [t.mutation for t in tests if t.status == "kept" and t.mutation is not None]
    if scores:
        killed, total = sum(s[0] for s in scores), sum(s[1] for s in scores)
        parts.insert(1, f"kept tests kill {killed} of {total} mutants")
    if report.written:
        parts.append("wrote " + ", ".join(str(p) for p in report.written))
    return "; ".join(parts)
