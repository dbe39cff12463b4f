"""Decode speed of the default model, idle and beside one CPU-bound process, in process and
through `review-bot serve`, each with review-bot's `threads` default (issue 23).

    .venv/bin/python bench/decode.py [--tokens 96] [--repeats 3]

For each way of running the model: load it, decode the same prompt (best of the repeats:
noise only ever slows a case down), then start one CPU-bound process (a Python busy loop)
*after* the model is loaded, the case a commit meets when a build starts meanwhile, and
decode again. Prints tokens per second for each case, the busy/idle ratio (issue 23's
target: beside one busy process within 1.5x of idle), and the thread counts chosen. All in
one run; the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review_bot.config import Settings  # noqa: E402
from review_bot.core.backends import llamacpp_factory  # noqa: E402
from review_bot.llm import Backend  # noqa: E402
from review_bot.llm.default_model import DEFAULT_NAME, packaged_path  # noqa: E402
from review_bot.llm.openai import connect  # noqa: E402
from review_bot.llm.threads import resolve_threads  # noqa: E402
from review_bot.llm.xllamacpp import XllamacppBackend  # noqa: E402

PROMPT = (
    "<|im_start|>user\nWrite a Python function that parses an ISO date and returns the "
    "weekday name, with a docstring.<|im_end|>\n<|im_start|>assistant\n"
)


@contextmanager
def busy_process() -> Iterator[None]:
    """One CPU-bound process for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(1.0)
    try:
        yield
    finally:
        process.kill()
        process.wait()


def rate(backend: Backend, tokens: int, repeats: int) -> float:
    best = 0.0
    for seed in range(repeats):
        start = time.perf_counter()
        done = backend.complete(PROMPT, max_tokens=tokens, temperature=0.0, seed=seed)
        best = max(best, done.completion_tokens / (time.perf_counter() - start))
    return best


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def served(model: Path, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "REVIEW_BOT_HOME": str(home)}
    argv = [sys.executable, "-m", "review_bot", "serve", "--model", str(model)]
    argv += ["--port", str(port)]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("bench/decode.py: review-bot serve did not start within 120 s")


def measure(
    name: str, make: Callable[[], Backend], tokens: int, repeats: int
) -> dict[str, float | str]:
    backend = make()
    rate(backend, 8, 1)  # loaded and warmed up
    idle = rate(backend, tokens, repeats)
    load_idle = os.getloadavg()[0]
    before = getattr(backend, "n_threads", None)
    with busy_process():
        busy = rate(backend, tokens, repeats)
        load_busy = os.getloadavg()[0]
    after = getattr(backend, "n_threads", None)
    threads = (
        "the server's"
        if before is None
        else f"{before}" + (f" -> {after}" if after != before else "")
    )
    backend.close()
    return {
        "way": name,
        "idle": idle,
        "busy": busy,
        "threads": threads,
        "load": f"{load_idle:.1f} / {load_busy:.1f}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    model = packaged_path(DEFAULT_NAME, settings.home)
    rows = [
        measure(
            "in process (xllamacpp), the default",
            lambda: llamacpp_factory(model, True, settings),
            args.tokens,
            args.repeats,
        ),
        # As before issue 23: the default taken once, when the model loads.
        measure(
            "in process, threads fixed when loaded",
            lambda: XllamacppBackend(model, bundled=True, n_threads=resolve_threads(0).n),
            args.tokens,
            args.repeats,
        ),
    ]
    process, url = served(model, settings.home)
    try:
        rows.append(measure("`review-bot serve`", lambda: connect(url), args.tokens, args.repeats))
    finally:
        process.terminate()
        process.wait(60)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; model {model.name}")
    print(f"{args.tokens} tokens, best of {args.repeats}\n")
    print("| way | idle tok/s | beside one busy process | busy / idle | threads | load |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        idle, busy = float(row["idle"]), float(row["busy"])
        print(
            f"| {row['way']} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} | "
            f"{row['threads']} | {row['load']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
