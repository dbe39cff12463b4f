"""One-function commits through `git commit` and the pre-commit hook, idle and beside a busy
process (issue 23).

    .venv/bin/python bench/commit.py                     # 5 commits idle, 5 beside one busy
    .venv/bin/python bench/commit.py --load busy --commits 3 --output commit.json
    .venv/bin/python bench/commit.py --ways resident,server

For each load, a fresh git repository whose only review-bot set-up is a `.pre-commit-config`
entry built from `.pre-commit-hooks.yaml` (`language: system`, this checkout's
`review-bot`), `pre-commit install`, default settings and the default model (assembled once
into a shared directory, so no commit pays for it), and its own review-bot home (no cache
carries over from one load to the other). Then N commits, each adding one 4-line function
with a guard to `textops.py`:

- first attempt: `git commit`; the hook keeps and stages a test and inserts the docstring,
  which stops the commit the way a formatter does;
- second attempt: `git add textops.py`, `git commit` again.

Per commit: both attempts' wall time, their sum, the model's seconds and calls (from the
hook's summary line), and how many test functions the second attempt added to the
generated file (it should add none). `--load busy` runs one CPU-bound process (a Python
busy loop) for the whole load; the load average is printed beside each figure. `--ways`
picks how the model runs: `resident` (the hook's default: a resident process started by
the first commit and kept `keep_alive_s`, fresh for each load), `in-process`
(`keep_alive_s = 0`: each commit loads the model), `server` (a `review-bot serve` with its
default threads, started before the commits). `--project-env` picks the Python the tests
run with: `venv` (the default: the repository's own `.venv` holding pytest and coverage at
the versions review-bot's environment has, as a project's would) or `none` (no project
environment: review-bot's own Python, which in a development checkout also holds its
tools: hypothesis alone adds 1.2 s to every fresh pytest start there). Medians at the
end; `--output` writes everything as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import core
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from review_bot.llm import resident  # noqa: E402
from review_bot.llm.default_model import DEFAULT_NAME, packaged_path  # noqa: E402
from tests.helpers.first_commit import environment  # noqa: E402

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
GENERATED = "tests/test_textops_generated.py"
START = '"""Small text helpers."""\n'
FUNCTIONS = [
    "def clamp(value: int, low: int, high: int) -> int:\n"
    "    if low > high:\n"
    '        raise ValueError("low is above high")\n'
    "    return max(low, min(value, high))\n",
    "def percent(part: float, whole: float) -> float:\n"
    "    if whole == 0:\n"
    '        raise ZeroDivisionError("whole is zero")\n'
    "    return 100.0 * part / whole\n",
    "def initials(name: str) -> str:\n"
    "    if not name.strip():\n"
    '        raise ValueError("empty name")\n'
    '    return "".join(word[0].upper() for word in name.split())\n',
    "def chunks(items: list[int], size: int) -> list[list[int]]:\n"
    "    if size < 1:\n"
    '        raise ValueError("size must be positive")\n'
    "    return [items[i : i + size] for i in range(0, len(items), size)]\n",
    "def pad_left(text: str, width: int) -> str:\n"
    "    if width < 0:\n"
    '        raise ValueError("negative width")\n'
    '    return " " * max(0, width - len(text)) + text\n',
    "def mean(values: list[float]) -> float:\n"
    "    if not values:\n"
    '        raise ValueError("no values")\n'
    "    return sum(values) / len(values)\n",
    "def repeat_word(word: str, times: int) -> str:\n"
    "    if times < 0:\n"
    '        raise ValueError("times is negative")\n'
    '    return " ".join([word] * times)\n',
]
SUMMARY = re.compile(r"model ([\d.]+) s in (\d+) calls")


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        sys.exit(f"bench/commit.py: {name} not found; run ./dev test once to install it")
    return found


def hook_config(review_bot: str) -> str:
    [hook] = [h for h in yaml.safe_load(MANIFEST.read_text()) if h["id"] == "llm-tests"]
    hook = {**hook, "entry": f"{review_bot} hook", "language": "system"}
    hook.pop("minimum_pre_commit_version", None)
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}, sort_keys=False)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    code, output, _ = run(["git", *args], cwd, env)
    if code:
        sys.exit(f"git {' '.join(args)} failed:\n{output}")
    return output


def test_count(repo: Path) -> int:
    path = repo / GENERATED
    return len(re.findall(r"^def test_", path.read_text(), re.M)) if path.exists() else 0


def model_cost(output: str) -> tuple[float, int]:
    found = SUMMARY.search(output)
    return (float(found.group(1)), int(found.group(2))) if found else (0.0, 0)


WAYS = ("resident", "in-process", "server")
PROJECT_ENVS = ("venv", "none")


def one_load(
    load: str,
    commits: int,
    work: Path,
    model_dir: Path,
    way: str,
    server: str | None,
    project_env: str = "venv",
) -> list[dict[str, Any]]:
    review_bot, pre_commit = tool("review-bot"), tool("pre-commit")
    base = work / f"{load}-{way}-{project_env}"
    # Clean: no GIT_*/REVIEW_BOT_* of this shell; its own review-bot and pre-commit homes.
    env = environment(os.environ, base)
    env.pop("SKIP", None)
    home = Path(env["REVIEW_BOT_HOME"])
    (home / "models").mkdir(parents=True)
    for entry in model_dir.iterdir():  # the assembled default model and its record
        os.link(entry, home / "models" / entry.name)
    if server:
        env["REVIEW_BOT_BASE_URL"] = server
    if way == "in-process":
        env["REVIEW_BOT_KEEP_ALIVE_S"] = "0"
    # This load's own resident model: the first commit starts it.
    (base / "run").mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(base / "run")
    repo = base / "repo"
    repo.mkdir()
    git(repo, env, "init", "-q", "-b", "main")
    (repo / ".pre-commit-config.yaml").write_text(hook_config(review_bot))
    (repo / "textops.py").write_text(START)
    (repo / ".gitignore").write_text(".venv/\n")
    if project_env == "venv":
        core.test_venv(repo / ".venv")  # found by review-bot as the project's environment
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "--no-verify", "-m", "init")
    code, output, _ = run([pre_commit, "install"], repo, env)
    if code:
        sys.exit(f"pre-commit install failed:\n{output}")
    busy = None
    if load == "busy":
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(2)
    rows = []
    try:
        for function in FUNCTIONS[:commits]:
            path = repo / "textops.py"
            path.write_text(path.read_text() + "\n\n" + function)
            git(repo, env, "add", "textops.py")
            name = function.split("(")[0].removeprefix("def ")
            code1, out1, first = run(["git", "commit", "-q", "-m", f"add {name}"], repo, env)
            tests_after_first = test_count(repo)
            second, out2, code2 = 0.0, "", code1
            if code1:
                git(repo, env, "add", "-A")
                code2, out2, second = run(["git", "commit", "-q", "-m", f"add {name}"], repo, env)
                if code2:
                    sys.exit(f"the second attempt failed for {name}:\n{out1}\n{out2}")
            cost1, cost2 = model_cost(out1), model_cost(out2)
            rows.append(
                {
                    "load": load,
                    "way": way,
                    "project_env": project_env,
                    "function": name,
                    "first_s": round(first, 2),
                    "second_s": round(second, 2),
                    "total_s": round(first + second, 2),
                    "model_s": [cost1[0], cost2[0]],
                    "model_calls": [cost1[1], cost2[1]],
                    "tests_added_by_second": test_count(repo) - tests_after_first,
                    "test_kept": tests_after_first > 0,
                    "loadavg": round(os.getloadavg()[0], 2),
                    "hook_output": (out1 + out2).strip().splitlines()[-6:],
                }
            )
            row = rows[-1]
            print(
                f"{way:10} {load:4} {name:12} first {first:6.1f} s  second {second:5.1f} s  "
                f"total {first + second:6.1f} s  model {cost1[0]:.1f}+{cost2[0]:.1f} s in "
                f"{cost1[1]}+{cost2[1]} calls  second added {row['tests_added_by_second']} "
                f"tests  load {row['loadavg']}",
                flush=True,
            )
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        if (base / "run" / "review-bot").is_dir():
            resident.unload(base / "run" / "review-bot")
    return rows


def serve(model: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`review-bot serve` on a free port with its default threads, once it listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "REVIEW_BOT_HOME": str(work / "serve-home")}
    argv = [tool("review-bot"), "serve", "--model", str(model), "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return process, f"http://127.0.0.1:{port}/v1"
        time.sleep(0.5)
    process.kill()
    sys.exit("bench/commit.py: review-bot serve did not listen within 120 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=5, help=f"at most {len(FUNCTIONS)}")
    parser.add_argument("--load", default="idle,busy", help="idle, busy or both (idle,busy)")
    parser.add_argument("--output", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--project-env",
        default="venv",
        help="venv (the repository's own, the default), none (review-bot's Python), or both",
    )
    parser.add_argument(
        "--ways", default="resident,in-process", help=f"any of {', '.join(WAYS)}, in order"
    )
    args = parser.parse_args()
    loads = [load.strip() for load in args.load.split(",") if load.strip()]
    ways = [way.strip() for way in args.ways.split(",") if way.strip()]
    if not set(loads) <= {"idle", "busy"} or not 1 <= args.commits <= len(FUNCTIONS):
        parser.error("--load takes idle and/or busy; --commits 1 to 7")
    if not set(ways) <= set(WAYS):
        parser.error(f"--ways takes {', '.join(WAYS)}")
    envs = [e.strip() for e in args.project_env.split(",") if e.strip()]
    if not envs or not set(envs) <= set(PROJECT_ENVS):
        parser.error(f"--project-env takes {', '.join(PROJECT_ENVS)}")
    shared = Path(os.environ.get("REVIEW_BOT_HOME", Path.home() / ".cache" / "review-bot"))
    model = packaged_path(DEFAULT_NAME, shared)  # assembled once, outside the timings
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="review-bot-bench-commit-") as scratch:
        for way in ways:
            process, url = serve(model, Path(scratch)) if way == "server" else (None, None)
            try:
                for project_env in envs:
                    for load in loads:
                        rows += one_load(
                            load, args.commits, Path(scratch), model.parent, way, url, project_env
                        )
            finally:
                if process is not None:
                    process.terminate()
                    process.wait(60)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; default model {model.name}"
    )
    print(
        "| model | tests' Python | load | first attempt (median s) | second attempt | in all | "
        "max in all | tests added by the second |\n|---|---|---|---|---|---|---|---|"
    )
    for way, env, load in sorted({(r["way"], r["project_env"], r["load"]) for r in rows}):
        mine = [r for r in rows if (r["way"], r["project_env"], r["load"]) == (way, env, load)]
        print(
            f"| {way} | {env} | {load} | {statistics.median(r['first_s'] for r in mine):.1f} | "
            f"{statistics.median(r['second_s'] for r in mine):.1f} | "
            f"{statistics.median(r['total_s'] for r in mine):.1f} | "
            f"{max(r['total_s'] for r in mine):.1f} | "
            f"{sum(r['tests_added_by_second'] for r in mine)} |"
        )
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
