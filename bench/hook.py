"""Benchmark of the commit-time hook under the real `pre-commit` program.

    .venv/bin/python bench/hook.py              # 10 timed runs of each
    .venv/bin/python bench/hook.py --runs 20 --output hook.json

In a temporary repository with one staged module, it runs `pre-commit run llm-tests` once
cold (the model writes and verifies a test, which is staged), once more (the tests are now
staged: nothing left to do), then N times warm, and N times a no-op hook (`entry: true`)
under the same pre-commit with the same hook settings, so the ratio shows what review-bot
adds over pre-commit's own cost. It also times `review-bot hook` alone on a commit without
a Python change (the plain git hook's cost for such commits). Nothing is written outside
the temporary directory: the cache, pre-commit's store and git's configuration all live
there. Prints a Markdown table; `--output` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
MODULE = "def double(x: int) -> int:\n    return 2 * x\n"
# Small generation settings: the cold run shows the model's cost, the rest is the hook's.
SETTINGS = """\
[tool.review-bot]
strategy = "cases"
n_cases = 3
max_tokens = 160
n_ctx = 1024
runs = 1
repair_attempts = 1
docstrings = false
"""


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        sys.exit(f"bench/hook.py: {name} not found; run ./dev test once to install it")
    return found


def config(hook_id: str, entry: str) -> str:
    [hook] = [h for h in yaml.safe_load(MANIFEST.read_text()) if h["id"] == "llm-tests"]
    hook = {**hook, "id": hook_id, "entry": entry, "language": "system"}
    hook.pop("minimum_pre_commit_version", None)
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}, sort_keys=False)


def timed(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode not in ok:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return seconds


def git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each (default 10)")
    parser.add_argument(
        "--model",
        default="smollm2",
        help="GGUF file or packaged name (default: smollm2, as in the published figures)",
    )
    parser.add_argument("--output", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    review_bot, pre_commit = tool("review-bot"), tool("pre-commit")

    with tempfile.TemporaryDirectory(prefix="review-bot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GIT_", "REVIEW_BOT_", "PRE_COMMIT")) and key != "SKIP"
        }
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_AUTHOR_NAME="bench",
            GIT_AUTHOR_EMAIL="bench@example.invalid",
            GIT_COMMITTER_NAME="bench",
            GIT_COMMITTER_EMAIL="bench@example.invalid",
            REVIEW_BOT_HOME=str(tmp / "review-bot-home"),
            PRE_COMMIT_HOME=str(tmp / "pre-commit-home"),
        )
        is_file = Path(args.model).exists()
        env["REVIEW_BOT_MODEL"] = str(Path(args.model).resolve()) if is_file else args.model
        repo = tmp / "repo"
        repo.mkdir()
        git(repo, env, "init", "-q", "-b", "main")
        (repo / "pyproject.toml").write_text(SETTINGS)
        (repo / ".pre-commit-config.yaml").write_text(config("llm-tests", f"{review_bot} hook"))
        (repo / "noop.yaml").write_text(config("noop", "true"))
        (repo / "README.md").write_text("bench\n")
        git(repo, env, "add", "-A")
        git(repo, env, "commit", "-q", "-m", "init")
        (repo / "mathx.py").write_text(MODULE)
        git(repo, env, "add", "mathx.py")

        run_hook = [pre_commit, "run", "llm-tests"]
        cold = timed(run_hook, repo, env)
        staged = subprocess.run(
            ["git", "diff", "--cached", "--name-only"], cwd=repo, env=env, capture_output=True
        ).stdout.decode()
        second = timed(run_hook, repo, env)
        warm = [timed(run_hook, repo, env) for _ in range(args.runs)]
        noop = [
            timed([pre_commit, "run", "--config", "noop.yaml", "noop"], repo, env)
            for _ in range(args.runs)
        ]
        alone = [timed([review_bot, "hook"], repo, env) for _ in range(args.runs)]

        # A commit without a Python change, as the plain git hook sees it.
        other = tmp / "other"
        shutil.copytree(repo, other, symlinks=True)
        git(other, env, "commit", "-q", "--no-verify", "-m", "code")
        (other / "notes.txt").write_text("notes\n")
        git(other, env, "add", "notes.txt")
        no_python = [timed([review_bot, "hook"], other, env) for _ in range(args.runs)]

    figures: dict[str, Any] = {
        "runs": args.runs,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        # Without .pyc files every run compiles every module it imports: slower starts.
        "bytecode_cache": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "generated_tests_staged": "tests/test_mathx_generated.py" in staged,
        "cold_s": round(cold, 3),
        "second_s": round(second, 3),
        "warm_median_s": round(statistics.median(warm), 3),
        "warm_min_s": round(min(warm), 3),
        "noop_median_s": round(statistics.median(noop), 3),
        "noop_min_s": round(min(noop), 3),
        "ratio_median": round(statistics.median(warm) / statistics.median(noop), 2),
        "hook_alone_median_s": round(statistics.median(alone), 3),
        "no_python_change_median_s": round(statistics.median(no_python), 3),
        "no_python_change_max_s": round(max(no_python), 3),
    }
    rows = [
        ("`pre-commit run llm-tests`, cold (model writes and verifies)", figures["cold_s"]),
        ("same, second run (tests now staged)", figures["second_s"]),
        (f"same, cached (median of {args.runs})", figures["warm_median_s"]),
        (f"no-op hook under the same pre-commit (median of {args.runs})", figures["noop_median_s"]),
        (
            f"`review-bot hook` alone, cached (median of {args.runs})",
            figures["hook_alone_median_s"],
        ),
        (
            f"`review-bot hook`, commit without Python change (median of {args.runs})",
            figures["no_python_change_median_s"],
        ),
    ]
    print(f"machine: {figures['machine']}; bytecode cache: {figures['bytecode_cache']}")
    print("| run | wall (s) |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")
    print(f"\ncached / no-op = {figures['ratio_median']:.2f}")
    if not figures["generated_tests_staged"]:
        print("note: the cold run kept no test (the model failed), so nothing was staged")
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
