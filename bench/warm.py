"""What one sandboxed pytest run costs, fresh interpreter against a fork of the warm one.

    .venv/bin/python bench/warm.py [--runs 20]

Builds a small project (a module and an existing test), then in one review-bot Sandbox (the
jail this machine gives, the interpreter running this script) times:

- `python -m pytest` on a one-assertion test, `--runs` times each way (warm = a fork of
  the warm interpreter, fresh = a new interpreter per run, as before);
- `verify_test` of one candidate with the default 5 runs, warm and fresh sandboxes.

Prints the median and best seconds per case and the fresh/warm ratios, all measured in
this one run (the machine's noise only ever slows a case down).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_bot.records import Candidate
from review_bot.sandbox import Limits, Sandbox
from review_bot.targets import targets_in_source
from review_bot.verify import verify_test

MODULE = """\
def clamp(value, low, high):
    if value < low:
        return low
    return min(value, high)
"""
TEST = """\
from shop import clamp


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
"""
LIMITS = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)


def project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "shop.py").write_text(MODULE)
    (root / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "0"\n')
    return root


def time_runs(sandbox: Sandbox, runs: int, fresh: bool) -> list[float]:
    seconds = []
    with sandbox.workspace({"tests/test_gen.py": TEST}) as ws:
        for _ in range(runs):
            start = time.perf_counter()
            result = ws.run(
                ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gen.py"],
                fresh=fresh,
            )
            seconds.append(time.perf_counter() - start)
            if result.returncode != 0:
                raise SystemExit(f"the run failed:\n{result.output}")
    return seconds


def time_verify(root: Path, warm: bool, repeats: int) -> list[float]:
    path = root / "shop.py"
    [target] = targets_in_source(root, path, path.read_text())
    seconds = []
    with Sandbox(root, LIMITS, warm=warm) as sandbox:
        for _ in range(repeats):
            candidate = Candidate(target=target, strategy="chat", code=TEST, attempt=0)
            start = time.perf_counter()
            verdict = verify_test(
                sandbox, candidate, baseline=frozenset(), runs=5, test_relpath="tests/test_gen.py"
            )
            seconds.append(time.perf_counter() - start)
            if not verdict.kept:
                raise SystemExit(f"the candidate was rejected: {verdict.reason}: {verdict.detail}")
    return seconds


def line(name: str, seconds: list[float]) -> str:
    median, best = statistics.median(seconds), min(seconds)
    return f"{name:<34} median {median:6.3f} s   best {best:6.3f} s   (n={len(seconds)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--verifies", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="review-bot-bench-warm-") as scratch:
        root = project(Path(scratch) / "shop")
        with Sandbox(root, LIMITS) as sandbox:
            print(f"jail: {sandbox.jail.kind} ({sandbox.jail.why}); python: {sandbox.python}")
            start = time.perf_counter()
            time_runs(sandbox, 1, fresh=False)
            print(f"warm interpreter start + first run: {time.perf_counter() - start:.3f} s")
            warm = time_runs(sandbox, args.runs, fresh=False)
            fresh = time_runs(sandbox, args.runs, fresh=True)
        print(line("pytest run, fork of the warm one", warm))
        print(line("pytest run, fresh interpreter", fresh))
        ratio = statistics.median(fresh) / statistics.median(warm)
        print(f"ratio fresh/warm per run: median {ratio:.1f}x")
        verify_warm = time_verify(root, True, args.verifies)
        verify_cold = time_verify(root, False, args.verifies)
        print(line("verify_test, 5 runs, warm", verify_warm))
        print(line("verify_test, 5 runs, all fresh", verify_cold))
        print(
            "ratio fresh/warm per verified candidate: median "
            f"{statistics.median(verify_cold) / statistics.median(verify_warm):.1f}x"
        )


if __name__ == "__main__":
    main()
