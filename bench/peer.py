"""review-bot against a search-based generator with no model (Pynguin), on the same bench
modules, scored with mutmut on the same mutants (issue 24).

    .venv/bin/python bench/peer.py                                # mathutils and strutils
    .venv/bin/python bench/peer.py --tools review-bot,review-bot-no-search --modules mathutils

Every tool starts from the same stripped copy of the bench library's modules (bench/core.py:
boltons, no docstrings, no tests) and runs one at a time:

- `review-bot`: the real core, default settings (the `auto` strategy, mutation analysis,
  the cases search) and the default model, `docstrings = false`, on each module-level
  function of the bench list in those modules; every kept test is written to `tests/`.
  `review-bot-no-search` is the same with `case_search = false`. Its tests run with a
  virtualenv holding pytest and coverage, as a project's would (`--tests-python own`:
  review-bot's own Python, whose development tools slow every fresh pytest start).
- `pynguin`: Pynguin (pinned, in a virtualenv of its own, made once and reused;
  `PYNGUIN_DANGER_AWARE=1`: it runs the bench library, which is trusted, outside any
  sandbox), a fixed search time per module, at most 60 s more for its assertion
  generation (its own mutation analysis), 8 GB of address space and a fixed seed; its
  test modules go to `tests/`.

Then each tool's `tests/` is scored the same way, in review-bot's sandbox: mutmut 3 on the
modules, only the mutants of the bench functions counted (a function without a test counts
its mutants as survivors), and coverage.py's line coverage of those functions' bodies.
A generated test that fails on the unchanged code (Pynguin asserting an object's
address) is dropped before scoring, with a note: mutmut refuses to run beside it.
Printed as a Markdown table, written as JSON with `--output`. Wall time is each tool's own
(set-up such as installing Pynguin is not counted). `--rescore DIR` scores again the tests
that a `--keep` run left in DIR, without running the tools.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import core
from mutation import MUTMUT_COUNTED, MUTMUT_KILLED

from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.core.run import results_for
from review_bot.llm.default_model import DEFAULT_NAME, packaged_path
from review_bot.records import Target
from review_bot.sandbox import Limits, Sandbox
from review_bot.verify import executable_lines

HERE = Path(__file__).resolve().parent
PYNGUIN = "pynguin==0.48.0"
PYNGUIN_VENV = Path(os.environ.get("TMPDIR", "/tmp")) / "review-bot-bench-pynguin"
# The Python review-bot's tests run with, as a project's virtualenv (core.test_venv).
PROJECT_VENV = Path(os.environ.get("TMPDIR", "/tmp")) / "review-bot-bench-project-venv"
TOOLS = ("review-bot", "review-bot-no-search", "pynguin")
MUTATION_S = 60  # Pynguin's assertion generation, per module
MEMORY_BYTES = 8 * 1024**3
SCORE_LIMITS = Limits(timeout_s=1800.0, memory_mb=4096, cpu_s=1800)


@dataclass
class ToolRun:
    tool: str
    wall_s: float = 0.0
    test_functions: int = 0  # `def test_` in the kept files
    rows: int = 0  # test functions plus parametrized rows beyond the first
    targets_with_tests: int = 0
    killed: int = 0
    total: int = 0
    covered: int = 0
    statements: int = 0
    per_function: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # review-bot's, per function
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the tools ---------------------------------------------------------------------------


def run_review_bot(
    project: Path,
    targets: list[Target],
    home: Path,
    model: Path,
    *,
    search: bool,
    improve_calls: int | None,
    n_cases: int | None = None,
    python: Path | None = None,
) -> tuple[dict[str, str], ToolRun]:
    settings = Settings(
        python=None if python is None else str(python),
        model=model,
        docstrings=False,
        cache=False,
        home=home,
        warm=True,
        case_search=search,
        keep_alive_s=0,
        improve_calls=improve_calls,
    )
    if n_cases is not None:
        settings = replace(settings, n_cases=n_cases)
    name = "review-bot" if search else "review-bot-no-search"
    changed = [f"improve_calls {improve_calls}"] if improve_calls is not None else []
    changed += [f"n_cases {n_cases}"] if n_cases is not None else []
    run = ToolRun(name + (f" ({', '.join(changed)})" if changed else ""))
    files: dict[str, str] = {}
    started = time.perf_counter()
    engine = Engine(project, settings)
    try:
        for target in targets:
            began = time.perf_counter()
            [result] = results_for(engine, [target])
            test = result.test
            took = time.perf_counter() - began
            run.seconds[target.display] = round(took, 1)
            log(
                f"  {target.display}: {test.status} {test.reason or ''} {test.mutation or ''}"
                f" {took:.1f} s"
            )
            for line in test.attempts:
                log(f"    {line}")
            if test.status == "kept" and test.code:
                module = target.module.rsplit(".", 1)[-1]
                files[f"tests/test_rb_{module}_{target.name}.py"] = test.code
                run.targets_with_tests += 1
    finally:
        engine.close()
    run.wall_s = time.perf_counter() - started
    return files, run


def pynguin_python() -> Path:
    """Pynguin's own virtualenv, made once."""
    python = PYNGUIN_VENV / "bin" / "python"
    if not (PYNGUIN_VENV / "bin" / "pynguin").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PYNGUIN_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, PYNGUIN], check=True)
    return python


def run_pynguin(
    project: Path, modules: list[str], out: Path, search_s: int, seed: int
) -> tuple[dict[str, str], ToolRun]:
    pynguin_python()
    run = ToolRun("pynguin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIEW_BOT_", "PYTHON"))}
    env["PYNGUIN_DANGER_AWARE"] = "1"
    started = time.perf_counter()
    for module in modules:
        argv = [
            str(PYNGUIN_VENV / "bin" / "pynguin"),
            "--project-path",
            str(project),
            "--module-name",
            f"{core.PACKAGE}.{module}",
            "--output-path",
            str(out),
            "--maximum-search-time",
            str(search_s),
            "--seed",
            str(seed),
            # Its assertion generation runs its own mutation analysis; unbounded it ran
            # for minutes past the search and took 17 GB on mathutils (Bits' big ints).
            "--maximum-mutation-time",
            str(MUTATION_S),
        ]
        # And an address-space cap, so that a runaway cannot take the machine down.
        argv = ["prlimit", f"--as={MEMORY_BYTES}", "--", *argv]
        # In the work directory: Pynguin writes its report (pynguin-report/) where it runs.
        done = subprocess.run(
            argv, env=env, cwd=out.parent, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            run.notes.append(f"pynguin on {module}: exit {done.returncode}: {done.stderr[-300:]}")
            log(run.notes[-1])
    run.wall_s = time.perf_counter() - started
    files = {
        f"tests/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(out.glob("test_*.py"))
    }
    return files, run


# -- scoring -----------------------------------------------------------------------------


def score(
    project: Path, modules: list[str], targets: list[Target], files: dict[str, str], run: ToolRun
) -> None:
    """mutmut's kills and coverage.py's lines, for the bench functions, of `files`."""
    run.test_functions = sum(len(re.findall(r"^\s*def test_", c, re.M)) for c in files.values())
    run.rows = run.test_functions + sum(_extra_rows(c) for c in files.values())
    for target in targets:
        run.per_function[target.display] = {"killed": 0, "total": 0, "covered": 0}
        run.statements += len(executable_lines(target))
    if not files:
        run.notes.append("no tests kept: nothing to score")
        return
    module_paths = [f"{core.PACKAGE}/{m}.py" for m in modules]
    config = (
        '[project]\nname = "bench-project"\nversion = "0"\n\n[tool.mutmut]\n'
        f'source_paths = ["{core.PACKAGE}/"]\n'
        f"only_mutate = {json.dumps(module_paths)}\n"
        'pytest_add_cli_args_test_selection = ["tests/"]\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
    )
    patterns = [f"{t.module}.x_{t.name}__mutmut_*" for t in targets]
    sandbox = Sandbox(project, SCORE_LIMITS, python=sys.executable, warm=False)
    try:
        with sandbox.workspace({"pyproject.toml": config, **files}) as ws:
            cov = ws.run(
                [
                    "python",
                    "-m",
                    "coverage",
                    "run",
                    "--include",
                    f"{core.PACKAGE}/*",
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "tests",
                ],
                fresh=True,
            )
            ws.run(["python", "-m", "coverage", "json", "-o", "coverage.json"], fresh=True)
            covered = ws.read("coverage.json")
            if cov.returncode not in (0, 1):
                run.notes.append(f"the tests did not run: {cov.output[-300:]}")
            failing = _failing(cov.output) if cov.returncode == 1 else {}
            if cov.returncode == 1 and not failing:
                run.notes.append("some tests fail on the unchanged code: " + _last(cov.output))
            if not failing:
                mm = ws.run(
                    ["python", "-m", "mutmut", "run", "--max-children", "2", *patterns],
                    fresh=True,
                )
                metas = {m: ws.read(f"mutants/{core.PACKAGE}/{m}.py.meta") for m in modules}
    finally:
        sandbox.close()
    if failing:
        # A generated test that fails on the code it was made from (Pynguin asserted an
        # object's address, which differs in the next process) makes mutmut refuse to run:
        # such tests are dropped and the rest scored, as no tool would keep them.
        files = {name: _without(code, failing.get(name, set())) for name, code in files.items()}
        dropped = sorted(f"{name}::{t}" for name, tests in failing.items() for t in tests)
        run.notes.append(f"dropped {len(dropped)} tests failing on the unchanged code: {dropped}")
        log(run.notes[-1])
        fresh = ToolRun(run.tool, run.wall_s, targets_with_tests=run.targets_with_tests)
        score(project, modules, targets, files, fresh)
        fresh.notes[:0] = run.notes
        for name, value in asdict(fresh).items():
            setattr(run, name, value)
        return
    lines = json.loads(covered)["files"] if covered else {}
    for target in targets:
        mine = run.per_function[target.display]
        relpath = target.path.relative_to(target.root).as_posix()
        ran = set(lines.get(relpath, {}).get("executed_lines", []))
        mine["covered"] = len(executable_lines(target) & ran)
        run.covered += mine["covered"]
    for module, meta in metas.items():
        if meta is None:
            run.notes.append(f"mutmut left no results for {module}: {_last(mm.output)}")
            continue
        codes = json.loads(meta).get("exit_code_by_key", {})
        for target in targets:
            if target.module != f"{core.PACKAGE}.{module}":
                continue
            mine = run.per_function[target.display]
            values = [v for k, v in codes.items() if f".x_{target.name}__mutmut_" in k]
            counted = [v for v in values if v in MUTMUT_COUNTED]
            mine["killed"] = sum(v in MUTMUT_KILLED for v in counted)
            mine["total"] = len(counted)
            run.killed += mine["killed"]
            run.total += mine["total"]


def _failing(output: str) -> dict[str, set[str]]:
    """The test functions pytest's summary names as failed, by file."""
    found: dict[str, set[str]] = {}
    for path, name in re.findall(r"^FAILED (\S+?\.py)::(\w+)", output, re.M):
        found.setdefault(path, set()).add(name)
    return found


def _without(code: str, names: set[str]) -> str:
    """`code` without its top-level functions called `names`."""
    if not names:
        return code
    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)
    for node in reversed(tree.body):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            del lines[start : node.end_lineno]
    return "".join(lines)


def _extra_rows(code: str) -> int:
    """Parametrized rows beyond the first of each parametrize list (a rough count)."""
    extra = 0
    for block in re.findall(r"@pytest\.mark\.parametrize\((.*?)\n\)\n", code, re.S):
        rows = len(re.findall(r"^\s{8}\(.*\),\s*$", block, re.M))
        extra += max(rows - 1, 0)
    return extra


def _last(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


# -- main --------------------------------------------------------------------------------


def markdown(runs: list[ToolRun], functions: int) -> str:
    out = [
        f"{functions} functions. Mutants: mutmut 3's, of those functions; coverage: their "
        "bodies' statements.",
        "",
        "| tool | functions with a test | test functions (rows) | line coverage "
        "| mutmut killed | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        cov = 100 * run.covered / run.statements if run.statements else 0.0
        pct = 100 * run.killed / run.total if run.total else 0.0
        with_tests = sum(1 for f in run.per_function.values() if f["covered"])
        out.append(
            f"| {run.tool} | {run.targets_with_tests or with_tests} of {functions} | "
            f"{run.test_functions} ({run.rows}) | {cov:.1f}% | {run.killed}/{run.total} = "
            f"**{pct:.1f}%** | {run.wall_s:.0f} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default="mathutils,strutils")
    parser.add_argument("--tools", default="review-bot,pynguin", help=", ".join(TOOLS))
    parser.add_argument("--search-s", type=int, default=120, help="Pynguin's time per module")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=HERE / "peer-results.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--improve-calls", type=int, help="review-bot's improve_calls (default: its default)"
    )
    parser.add_argument("--n-cases", type=int, help="review-bot's n_cases (default: its default)")
    parser.add_argument(
        "--tests-python",
        choices=("venv", "own"),
        default="venv",
        help="review-bot's tests run with a project virtualenv (pytest, coverage) or its own",
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        help="score again the tests a --keep run left in this work directory (no tool runs)",
    )
    args = parser.parse_args()
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not set(tools) <= set(TOOLS):
        parser.error(f"--tools takes {', '.join(TOOLS)}")
    functions = [f for f in core.FUNCTIONS if f[0] in modules]
    shared = Path(os.environ.get("REVIEW_BOT_HOME", Path.home() / ".cache" / "review-bot"))
    model = packaged_path(DEFAULT_NAME, shared)
    if "pynguin" in tools:
        pynguin_python()  # made before any timing
    runs: list[ToolRun] = []
    if args.rescore is not None:
        return rescore(args.rescore, tools, modules, functions, args.output)
    with core.workdir(args.keep) as work:
        package = core.install_library(work / "lib")
        for tool in tools:
            project = work / tool
            core.build_project(package, project, modules)
            targets = core.load_targets(project, functions)
            log(f"-- {tool} (load average {os.getloadavg()[0]:.2f})")
            if tool == "pynguin":
                files, run = run_pynguin(
                    project, modules, work / "pynguin-out", args.search_s, args.seed
                )
            else:
                files, run = run_review_bot(
                    project,
                    targets,
                    work / f"home-{tool}",
                    model,
                    search=tool == "review-bot",
                    improve_calls=args.improve_calls,
                    n_cases=args.n_cases,
                    python=core.test_venv(PROJECT_VENV) if args.tests_python == "venv" else None,
                )
            log(f"   {tool}: {run.wall_s:.0f} s; scoring")
            score(project, modules, targets, files, run)
            (work / f"{tool}-tests").mkdir()
            for name, code in files.items():
                (work / f"{tool}-tests" / Path(name).name).write_text(code, encoding="utf-8")
            runs.append(run)
            log(markdown([run], len(targets)))
        if args.keep:
            log(f"kept {work}")
    text = markdown(runs, len(functions))
    args.output.write_text(
        json.dumps({"runs": [asdict(r) for r in runs], "markdown": text}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(text, end="")
    return 0


def rescore(
    work: Path, tools: list[str], modules: list[str], functions: list[tuple[str, str]], out: Path
) -> int:
    """Score each tool's kept tests of an earlier run again (its wall time is not known)."""
    runs = []
    for tool in tools:
        project, kept = work / tool, work / f"{tool}-tests"
        files = {f"tests/{p.name}": p.read_text(encoding="utf-8") for p in kept.glob("*.py")}
        run = ToolRun(tool, notes=["scored again from the tests of an earlier run"])
        score(project, modules, core.load_targets(project, functions), files, run)
        runs.append(run)
    text = markdown(runs, len(functions))
    out.write_text(
        json.dumps({"runs": [asdict(r) for r in runs], "markdown": text}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
