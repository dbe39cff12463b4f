"""Benchmark of the two in-process runtimes on the same model and prompts.

    .venv/bin/python bench/runtimes.py                        # default model, all demo functions
    .venv/bin/python bench/runtimes.py --model m.gguf --functions 2 --max-tokens 32

Runtime A is xllamacpp (the default), runtime B llama-cpp-python (the optional extra,
which `./dev bench` installs). Each is driven through review-bot's own backend
(llm/xllamacpp.py, llm/llamacpp.py) with the prompts review-bot sends for each function of
the demo file (a chat test prompt, a grammar-constrained cases prompt, a grammar-
constrained docstring prompt; bench/server.py builds them), greedy decoding, one seed.

Per runtime: the model load (s); per prompt the time to first token (a 1-token request
on a prompt neither runtime has seen: prompt evaluation plus one token), then the full
generation (its prompt is now cached by both runtimes, which both reuse a matching
prefix), whose tokens per second are the decode rate; the total per function is the sum
of its prompts' first-token and full-generation times. A runtime that is not installed
is reported as such and skipped. Prints Markdown; `--output` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server import Call, review_bot_calls

from review_bot.config import default_home
from review_bot.llm import Backend
from review_bot.llm.models import describe, resolve_model, stop_tokens
from review_bot.llm.runtime import LLAMA_CPP_PYTHON, XLLAMACPP, install_hint, installed

RUNTIMES = {"A": XLLAMACPP, "B": LLAMA_CPP_PYTHON}


def make_backend(runtime: str, model: Path, n_ctx: int, threads: int) -> Backend:
    options: dict[str, Any] = {"n_ctx": n_ctx, "gpu_layers": 0, "n_threads": threads}
    if runtime == XLLAMACPP:
        from review_bot.llm.xllamacpp import XllamacppBackend

        return XllamacppBackend(model, **options)
    from review_bot.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(model, **options)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def measure(
    runtime: str, model: Path, calls: list[Call], args: argparse.Namespace
) -> dict[str, Any]:
    backend = make_backend(runtime, model, args.n_ctx, args.threads)
    stops = stop_tokens(backend.info())

    def run(call: Call, max_tokens: int) -> Any:
        return backend.complete(
            call.prompt,
            max_tokens=max_tokens,
            temperature=0.0,
            stop=stops,
            json_schema=call.json_schema,
            seed=args.seed,
        )

    # The first request loads the model (lazily, as in a real run); timed by the backend.
    backend.complete("Hello", max_tokens=1, temperature=0.0)
    rows = []
    for call in calls:
        ttft, _ = timed(lambda call=call: run(call, 1))  # type: ignore[misc]
        total, done = timed(lambda call=call: run(call, call.max_tokens))  # type: ignore[misc]
        tokens = done.completion_tokens
        rows.append(
            {
                "target": call.target,
                "kind": call.kind,
                "ttft_s": ttft,
                "generate_s": total,
                "tokens": tokens,
                "decode_tps": tokens / total if total > 0 else 0.0,
            }
        )
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    per_function: dict[str, float] = {}
    for row in rows:
        per_function[row["target"]] = (
            per_function.get(row["target"], 0.0) + row["ttft_s"] + row["generate_s"]
        )
    from review_bot.llm.gpu import build_info

    return {
        "runtime": runtime,
        "version": build_info(runtime).version,
        "load_s": backend.load_seconds(),
        "ttft_ms_median": 1000 * statistics.median(r["ttft_s"] for r in rows),
        "decode_tps_median": statistics.median(r["decode_tps"] for r in rows),
        "per_function_s": per_function,
        "calls": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="GGUF path or packaged name (default: the default model, assembled once)",
    )
    parser.add_argument("--functions", type=int, default=0, help="first N functions (0: all)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    model, _ = resolve_model(args.model, default_home())
    info = describe(model)
    calls = review_bot_calls(info, args.max_tokens)
    if args.functions:
        keep = list(dict.fromkeys(c.target for c in calls))[: args.functions]
        calls = [c for c in calls if c.target in keep]
    print(f"# Runtimes: {model.name}, {len(calls)} prompts, {args.threads} thread(s)")
    print(f"Python {platform.python_version()}, {platform.machine()}, greedy, seed {args.seed}\n")
    results: dict[str, Any] = {}
    for label, runtime in RUNTIMES.items():
        if not installed(runtime):
            print(
                f"- runtime {label} ({runtime}): not installed, skipped ({install_hint(runtime)})"
            )
            results[label] = {"runtime": runtime, "missing": True}
            continue
        results[label] = measure(runtime, model, calls, args)
    measured = [(label, r) for label, r in results.items() if not r.get("missing")]
    if measured:
        print("\n| runtime | version | load | TTFT (median) | decode tok/s (median) |")
        print("|---|---|---|---|---|")
        for label, r in measured:
            print(
                f"| {label}: {r['runtime']} | {r['version']} | {r['load_s']:.2f} s | "
                f"{r['ttft_ms_median']:.0f} ms | {r['decode_tps_median']:.1f} |"
            )
        print("\n| function | " + " | ".join(f"{label} total" for label, _ in measured) + " |")
        print("|---|" + "---|" * len(measured))
        for target in measured[0][1]["per_function_s"]:
            cells = " | ".join(f"{r['per_function_s'][target]:.2f} s" for _, r in measured)
            print(f"| {target} | {cells} |")
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
