"""Share of docstrings kept before and after the quality checks (issue 11), on the bench's
functions, with the bundled smoke model (or --model).

    .venv/bin/python bench/docstrings.py                 # every bench function
    .venv/bin/python bench/docstrings.py --functions 3   # a quick check

For each function the model is asked as `review-bot suggest` asks it (same schema, prompt,
seeds and temperatures, 1 + repair_attempts calls at most), and every rendered candidate is
judged twice: by the checks review-bot made before (`check_docstring(quality=False)`: the
code unchanged, the parameters, pydocstyle) and by today's (`quality=True`). A function's
docstring is "kept" when one of its attempts passes. Prints a Markdown table and the
reasons of the rejections; writes the figures as JSON with --json-out.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import core

from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.generate.docstrings import render as docstrings
from review_bot.generate.docstrings.check import check_docstring
from review_bot.generate.docstrings.strategy import ask_model, model_schema
from review_bot.targets import targets_in_source


def judge(engine: Engine, target: Any, convention: str, attempts: int) -> dict[str, Any]:
    """Each attempt's verdict before and after; the first kept attempt of each."""
    schema = model_schema(target, engine.session)
    rows: list[dict[str, Any]] = []
    for attempt in range(attempts):
        temperature = engine.settings.temperature + 0.3 * attempt
        data = ask_model(target, engine.session, engine.prompts, schema, attempt, temperature)
        if data is None:
            rows.append({"before": "empty", "after": "empty", "text": ""})
            continue
        text = docstrings.render_docstring(target, data, convention)
        before = check_docstring(target, text, convention, quality=False)
        after = check_docstring(target, text, convention)
        after_reason = after.reason
        if after.kept and docstrings.cut_fields(target, data):
            after_reason = "truncated"
        rows.append(
            {
                "before": before.reason or "kept",
                "after": after_reason or "kept",
                "detail": after.detail,
                "text": text,
            }
        )
    return {
        "name": target.display,
        "attempts": rows,
        "kept_before": any(r["before"] == "kept" for r in rows),
        "kept_after": any(r["after"] == "kept" for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=None, help="only the first N")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file")
    parser.add_argument("--convention", default="google")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    chosen = core.select_functions(args.functions)
    with tempfile.TemporaryDirectory(prefix="rb-bench-doc-") as tmp:
        base = Path(tmp)
        package = core.install_library(base / "lib")
        modules = sorted({module for module, _ in chosen})
        paths = core.build_project(package, base / "project", modules)
        targets = []
        for path in paths:
            found = targets_in_source(base / "project", path, path.read_text("utf-8"))
            wanted = {name for module, name in chosen if module == path.stem}
            targets += [t for t in found if t.qualname in wanted]
        settings = Settings(
            model=args.model, convention=args.convention, cache=False, home=base / "home"
        )
        engine = Engine(base / "project", settings)
        started = time.perf_counter()
        try:
            results = [
                judge(engine, t, args.convention, settings.repair_attempts + 1) for t in targets
            ]
        finally:
            engine.close()
        seconds = time.perf_counter() - started
    report(results, seconds)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def report(results: list[dict[str, Any]], seconds: float) -> None:
    n = len(results)
    candidates = [row for r in results for row in r["attempts"]]
    kept_before = sum(r["kept_before"] for r in results)
    kept_after = sum(r["kept_after"] for r in results)
    print(f"{n} functions, {len(candidates)} candidates, {seconds:.0f} s\n")
    print("| | before | after |\n|---|---|---|")
    print(f"| functions with a kept docstring | {kept_before}/{n} | {kept_after}/{n} |")
    passed_before = sum(row["before"] == "kept" for row in candidates)
    passed_after = sum(row["after"] == "kept" for row in candidates)
    total = len(candidates)
    print(f"| candidates that pass | {passed_before}/{total} | {passed_after}/{total} |")
    reasons = collections.Counter(row["after"] for row in candidates if row["after"] != "kept")
    print("\nreasons now: " + ", ".join(f"{r} {c}" for r, c in reasons.most_common()))
    for r in results:
        if r["kept_before"] and not r["kept_after"]:
            last = r["attempts"][-1]
            print(f"- {r['name']}: {last['after']}: {last.get('detail', '')}")


if __name__ == "__main__":
    sys.exit(main())
