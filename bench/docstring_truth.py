"""Docstrings with and without recorded calls (issue 25), for a hand review.

    .venv/bin/python bench/docstring_truth.py --out docstring-truth.json
    .venv/bin/python bench/docstring_truth.py --labels labels.json --out docstring-truth.json

The bench's 32 boltons functions, 17 more functions of the same modules, and the 12 of the
string-inflection module of a real project from the package index (`inflection`): 61
functions none of review-bot's tests use, stripped of their docstrings. Each function's
docstring is written twice with the default model and default settings, as
`suggest --no-tests` writes it: "before" without recorded calls (the prompt shows the code
only, no claim is checked), "after" as review-bot does now (calls made without a model,
shown in the prompt; a contradicted candidate rejected). Writes both texts beside the
code, as JSON and as Markdown to read (`--out`, `.md` beside it); `--examples` then adds
the verified examples to the kept "after" texts. `--after-only` writes the "after" side
alone, to compare with an earlier run's (bench/docstring_review.json and
bench/docstring_review_2.json hold the texts read by hand, with their labels).

`--labels FILE` (JSON: {"function": {"before": label, "after": label, "examples": label,
"why": "..."}}, a label being "mergeable", "vague" or "wrong", "examples" the "after" text
read with its examples) prints the shares per side instead of running anything.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import core

from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.generate.docstrings import write_docstring
from review_bot.records import Outcome, Target
from review_bot.targets import targets_in_source

REAL_PROJECT = "inflection"
REAL_VERSION = "0.5.1"
REAL_FUNCTIONS = (
    "camelize",
    "dasherize",
    "humanize",
    "ordinal",
    "ordinalize",
    "parameterize",
    "pluralize",
    "singularize",
    "tableize",
    "titleize",
    "transliterate",
    "underscore",
)
# More functions of the bench's modules that no bench or test of review-bot uses.
EXTRA_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("strutils", "indent"),
    ("strutils", "is_uuid"),
    ("strutils", "args2sh"),
    ("strutils", "complement_int_list"),
    ("strutils", "int_ranges_from_int_list"),
    ("strutils", "multi_replace"),
    ("strutils", "removeprefix"),
    ("iterutils", "is_collection"),
    ("iterutils", "lstrip"),
    ("iterutils", "rstrip"),
    ("iterutils", "strip"),
    ("iterutils", "windowed"),
    ("iterutils", "frange"),
    ("iterutils", "backoff"),
    ("iterutils", "partition"),
    ("iterutils", "redundant"),
    ("iterutils", "same"),
)
LABELS = ("mergeable", "vague", "wrong")


def real_module(dest: Path, project: Path) -> Path:
    """The real project's module, stripped of docstrings, copied into `project`."""
    core.install_target(dest, f"{REAL_PROJECT}=={REAL_VERSION}")
    package = project / REAL_PROJECT
    package.mkdir()
    source = (dest / REAL_PROJECT / "__init__.py").read_text(encoding="utf-8")
    path = package / "__init__.py"
    path.write_text(core.strip_docstrings(source), encoding="utf-8")
    shutil.copy(dest / REAL_PROJECT / "py.typed", package / "py.typed")
    return path


def outcome_json(outcome: Outcome, seconds: float) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "text": outcome.code,
        "attempts": list(outcome.attempts),
        "seconds": round(seconds, 1),
    }


def build(base: Path) -> tuple[Path, list[Target]]:
    """The project (boltons' bench modules and the real module, stripped) and its targets."""
    chosen = core.select_functions(None)
    package = core.install_library(base / "lib")
    project = base / "project"
    core.build_project(package, project, sorted({m for m, _ in chosen}))
    targets = core.load_targets(project, [*chosen, *EXTRA_FUNCTIONS])
    path = real_module(base / "real", project)
    found = {t.name: t for t in targets_in_source(project, path, path.read_text("utf-8"))}
    return project, targets + [found[name] for name in REAL_FUNCTIONS]


def with_examples(out: Path) -> None:
    """Add to each kept "after" docstring of a finished run its verified examples, taken
    from the same calls (no model call): the texts with and without, to read. A text that
    has them (examples are on by default since issue 25) is left as it is."""
    data = json.loads(out.read_text("utf-8"))
    with tempfile.TemporaryDirectory(prefix="rb-bench-truth-") as tmp:
        project, targets = build(Path(tmp))
        by_name = {t.display: t for t in targets}
        engine = Engine(project, Settings(tests=False, cache=False))
        try:
            for record in data["functions"]:
                after = record["after"]
                if after["status"] != "kept":
                    continue
                if "\nExamples:\n" in after["text"]:
                    # Examples are on by default: the run already added and ran them.
                    print(f"{record['name']}: has its examples already", flush=True)
                    continue
                target = by_name[record["name"]]
                recorded = [c.result for c in engine.docstring_calls(target)]
                text, note = engine.examples(target, after["text"], recorded)
                after["examples"] = {"text": text, "note": note}
                print(f"{record['name']}: {note}", flush=True)
        finally:
            engine.close()
    out.write_text(json.dumps(data, indent=2), "utf-8")
    out.with_suffix(".md").write_text(markdown(data["functions"]), "utf-8")


def run(out: Path, limit: int | None, *, before: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="rb-bench-truth-") as tmp:
        project, targets = build(Path(tmp))
        targets = targets[:limit] if limit else targets
        settings = Settings(tests=False, cache=False)
        engine = Engine(project, settings)
        records: list[dict[str, Any]] = []
        started = time.perf_counter()
        try:
            for target in targets:
                records.append(one(engine, target, before=before))
                r = records[-1]
                print(
                    f"{target.display}: before {r['before']['status']}"
                    f" ({r['before']['reason']}), after {r['after']['status']}"
                    f" ({r['after']['reason']})",
                    flush=True,
                )
        finally:
            engine.close()
        seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "functions": records}, indent=2), "utf-8")
    out.with_suffix(".md").write_text(markdown(records), "utf-8")
    kept = collections.Counter(
        (side, r[side]["status"]) for r in records for side in ("before", "after")
    )
    n = len(records)
    print(f"\n{n} functions, {seconds:.0f} s")
    for side in ("before", "after"):
        print(f"- {side}: a docstring kept for {kept[(side, 'kept')]} of {n}")


def one(engine: Engine, target: Target, *, before: bool = True) -> dict[str, Any]:
    settings = engine.settings
    started = time.perf_counter()
    ungrounded = (
        write_docstring(
            target,
            engine.session,
            engine.prompts,
            convention=settings.convention,
            repair_attempts=settings.repair_attempts,
            temperature=settings.temperature,
        )
        if before
        else Outcome("skipped", "--after-only", None)
    )
    middle = time.perf_counter()
    after = engine.docstring_outcome(target)
    ended = time.perf_counter()
    return {
        "name": target.display,
        "code": target.source,
        "before": outcome_json(ungrounded, middle - started),
        "after": outcome_json(after, ended - middle),
    }


def markdown(records: list[dict[str, Any]]) -> str:
    out = ["# Docstrings before and after recorded calls, to read against the code", ""]
    for r in records:
        out += [f"## {r['name']}", "", "```python", r["code"].rstrip(), "```", ""]
        for side in ("before", "after"):
            o = r[side]
            out.append(f"**{side}**: {o['status']}" + (f" ({o['reason']})" if o["reason"] else ""))
            if o["text"]:
                out += ["", "```", o["text"].rstrip(), "```"]
            examples = o.get("examples") or {}
            if examples.get("text"):
                added = examples["text"][len(o["text"]) :]
                out += ["", "with examples:", "", "```", added.strip("\n"), "```"]
            out += ["", *(f"- {line}" for line in o["attempts"]), ""]
    return "\n".join(out) + "\n"


def summarise(labels_path: Path, out: Path) -> None:
    """The hand review's shares: of the kept docstrings of each side, how many were
    labelled mergeable, vague, wrong; "after + examples" is the kept "after" docstrings
    read with their verified examples (label "examples")."""
    labels: dict[str, dict[str, str]] = json.loads(labels_path.read_text("utf-8"))
    records = json.loads(out.read_text("utf-8"))["functions"]
    n = len(records)
    print("| | docstring kept | mergeable | vague | wrong |\n|---|---|---|---|---|")
    rows = (("before", "before"), ("after", "after"), ("after + examples", "examples"))
    for title, key in rows:
        side = "after" if key == "examples" else key
        kept = [r for r in records if r[side]["status"] == "kept"]
        counts = collections.Counter(labels[r["name"]][key] for r in kept)
        unknown = set(counts) - set(LABELS)
        if unknown:
            raise SystemExit(f"unknown labels: {sorted(unknown)}")
        k = len(kept)
        cells = [f"{counts[label]} ({100 * counts[label] / max(k, 1):.0f}%)" for label in LABELS]
        print(f"| {title} | {k} of {n} ({100 * k / n:.0f}%) | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON written or read")
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--functions", type=int, default=None, help="only the first N")
    parser.add_argument(
        "--examples", action="store_true", help="add examples to a finished run's texts"
    )
    parser.add_argument(
        "--after-only",
        action="store_true",
        help="write only the 'after' side (compared with an earlier run's, read by hand)",
    )
    args = parser.parse_args(argv)
    if args.labels:
        summarise(args.labels, args.out)
    elif args.examples:
        with_examples(args.out)
    else:
        run(args.out, args.functions, before=not args.after_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
