"""Mutation scores of the tests review-bot keeps, per strategy, against the naive baseline.

    .venv/bin/python bench/mutation.py --names clamp,slugify
    python bench/mutation.py --functions 8 --strategies cases,chat --off --mutmut

On the bench library (bench/core.py), for each selected function:

- each strategy runs the real core with default settings, mutation analysis included: a
  kept test has its score (`killed` of `total` mutants, review_bot/mutation.py);
- with `--off`, each strategy runs again with `mutation = false` (the keep rule of
  coverage alone), and the tests it keeps are scored against the same mutants: what the
  `no-kill` rule and the `cases` strategy's mutant-driven asking change;
- the naive baseline (one plain chat prompt, the reply's code run once) is scored the
  same way when its test passed;
- with `--mutmut`, every scored test is also run under mutmut 3 (in the sandbox, on a
  copy of the project whose only test is that one), and mutmut's killed/total for the
  function is printed beside review-bot's: a cross-check with an independent tool whose
  operator set is larger (string case swaps, argument removal, ...).

Prints a Markdown table and writes the figures as JSON (`--output`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import core

from review_bot import mutation, verify
from review_bot.config import Settings
from review_bot.core import Engine
from review_bot.core.run import results_for
from review_bot.llm.chat import Message
from review_bot.records import Candidate, Target
from review_bot.sandbox import Limits, Sandbox

HERE = Path(__file__).resolve().parent
NAIVE = core.NAIVE


@dataclass
class Scored:
    run: str  # a strategy, "<strategy>-off" or naive
    name: str
    status: str  # kept | rejected | skipped (naive: kept when its one run passed)
    reason: str | None
    killed: int | None = None
    total: int | None = None
    mutmut_killed: int | None = None
    mutmut_total: int | None = None
    seconds: float = 0.0
    attempts: list[str] = field(default_factory=list)


@dataclass
class Result:
    model: str
    functions: list[str]
    records: list[Scored] = field(default_factory=list)
    wall_s: float = 0.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _score(sandbox: Sandbox, target: Target, code: str, relpath: str) -> tuple[int, int]:
    found = mutation.mutants(target)
    result = mutation.score(
        sandbox, Candidate(target, "chat", code, 0), found, test_relpath=relpath
    )
    return result.killed, result.total


def run_strategy(
    project: Path, targets: Sequence[Target], strategy: str, home: Path, *, off: bool
) -> list[Scored]:
    settings = Settings(
        strategy=strategy,
        docstrings=False,
        cache=False,
        home=home,
        mutation=not off,
        **core.BENCH_SETTINGS,
    )
    engine = Engine(project, settings)
    name = f"{strategy}-off" if off else strategy
    records: list[Scored] = []
    try:
        for target in targets:
            started = time.perf_counter()
            [result] = results_for(engine, [target])
            test = result.test
            record = Scored(name, target.display, test.status, test.reason)
            record.attempts = list(test.attempts)
            if test.status == "kept" and test.code is not None:
                if test.mutation is not None:
                    record.killed, record.total = test.mutation
                else:
                    relpath = engine.test_relpath(target)
                    record.killed, record.total = _score(engine.sandbox, target, test.code, relpath)
                _mutmut(target, test.code, engine.test_relpath(target), record)
            record.seconds = time.perf_counter() - started
            records.append(record)
            log(_line(record))
    finally:
        engine.close()
    return records


def run_naive(project: Path, targets: Sequence[Target], home: Path) -> list[Scored]:
    settings = Settings(
        strategy="chat", docstrings=False, cache=False, home=home, **core.BENCH_SETTINGS
    )
    engine = Engine(project, settings)
    records: list[Scored] = []
    try:
        for target in targets:
            started = time.perf_counter()
            messages: list[Message] = [{"role": "user", "content": core.naive_prompt(target)}]
            code = core.naive_code(engine.session.chat(messages))
            relpath = engine.test_relpath(target)
            verdict = verify.verify_test(
                engine.sandbox,
                Candidate(target, "chat", code, 0),
                baseline=frozenset(),
                runs=1,
                test_relpath=relpath,
            )
            record = Scored(
                NAIVE, target.display, "kept" if verdict.kept else "rejected", verdict.reason
            )
            if verdict.kept:
                record.killed, record.total = _score(engine.sandbox, target, code, relpath)
                _mutmut(target, code, relpath, record)
            record.seconds = time.perf_counter() - started
            records.append(record)
            log(_line(record))
    finally:
        engine.close()
    return records


# -- mutmut, in the sandbox ------------------------------------------------------------

MUTMUT: Sandbox | None = None  # a sandbox of its own for mutmut: set by --mutmut
# Its CPU limit is per process, and mutmut's parent process makes every mutant of the module.
MUTMUT_LIMITS = Limits(timeout_s=900.0, memory_mb=4096, cpu_s=900)
MUTMUT_KILLED = {1, 3, -24, 24, 36, 152, 255, -9, -11}  # mutmut's killed, timeout and crash codes
# and survived; "no tests" (5, 33) and skipped (34) are left out (bench/peer.py too)
MUTMUT_COUNTED = MUTMUT_KILLED | {0}


def _mutmut(target: Target, code: str, relpath: str, record: Scored) -> None:
    """mutmut 3's score of `code` on the target function, run in a sandbox workspace whose
    only test file is `code`."""
    if MUTMUT is None:
        return
    module_path = target.path.relative_to(target.root).as_posix()
    package = module_path.split("/")[0]
    config = (
        '[project]\nname = "bench-project"\nversion = "0"\n\n[tool.mutmut]\n'
        f'source_paths = ["{package}/"]\nonly_mutate = ["{module_path}"]\n'
        f'pytest_add_cli_args_test_selection = ["{Path(relpath).parent.as_posix()}/"]\n'
    )
    pattern = f"{target.module}.x_{target.name}__mutmut_*"
    with MUTMUT.workspace({"pyproject.toml": config, relpath: code}) as ws:
        run = ws.run(["python", "-m", "mutmut", "run", "--max-children", "1", pattern], fresh=True)
        meta = ws.read(f"mutants/{module_path}.meta")
    if meta is None:
        log(f"  mutmut: no results for {target.display}: {run.output[-500:]}")
        return
    codes = json.loads(meta).get("exit_code_by_key", {})
    mine = [v for k, v in codes.items() if f".x_{target.name}__mutmut_" in k]
    counted = [v for v in mine if v in MUTMUT_COUNTED]
    record.mutmut_killed = sum(v in MUTMUT_KILLED for v in counted)
    record.mutmut_total = len(counted)


# -- output ------------------------------------------------------------------------------


def _line(r: Scored) -> str:
    score = f", kills {r.killed} of {r.total}" if r.total is not None else ""
    cross = f", mutmut {r.mutmut_killed} of {r.mutmut_total}" if r.mutmut_total is not None else ""
    why = f" ({r.reason})" if r.reason else ""
    return f"[{r.run}] {r.name}: {r.status}{why}{score}{cross}; {r.seconds:.1f} s"


def _pct(killed: int, total: int) -> str:
    return f"{100 * killed / total:.0f} %" if total else "-"


def markdown(result: Result) -> str:
    runs = list(dict.fromkeys(r.run for r in result.records))
    out = [
        f"Model `{result.model}`, {len(result.functions)} functions; mutants per function "
        f"at most {mutation.DEFAULT_MAX_MUTANTS}.",
        "",
        "| run | kept | rejected no-kill | mutants killed (kept tests) | score | mutmut |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        rows = [r for r in result.records if r.run == run]
        kept = [r for r in rows if r.status == "kept"]
        killed = sum(r.killed or 0 for r in kept)
        total = sum(r.total or 0 for r in kept)
        mm = [r for r in kept if r.mutmut_total is not None]
        mm_killed = sum(r.mutmut_killed or 0 for r in mm)
        mm_total = sum(r.mutmut_total or 0 for r in mm)
        mm_text = f"{mm_killed} of {mm_total} ({_pct(mm_killed, mm_total)})" if mm else "-"
        no_kill = sum(r.reason == "no-kill" for r in rows)
        out.append(
            f"| {run} | {len(kept)} of {len(rows)} | {no_kill} | {killed} of {total} "
            f"| {_pct(killed, total)} | {mm_text} |"
        )
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/mutation.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--functions", type=int, metavar="N", help="the first N bench functions")
    parser.add_argument("--names", metavar="LIST", help="bench functions by name, comma-separated")
    parser.add_argument("--strategies", default="cases,chat", metavar="LIST")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--off", action="store_true", help="also run with mutation = false")
    parser.add_argument("--mutmut", action="store_true", help="cross-check with mutmut 3")
    parser.add_argument("--model", default=core.SMOKE_NAME, metavar="PATH|NAME")
    parser.add_argument(
        "--no-search", action="store_true", help="case_search = false: the model's cases alone"
    )
    parser.add_argument("--n-cases", type=int, default=8, help="cases asked for per call")
    parser.add_argument(
        "--output", type=Path, default=HERE / "mutation-results.json", metavar="PATH"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global MUTMUT
    args = parse_args(argv)
    core.BENCH_SETTINGS.update(
        model=Path(args.model), warm=True, case_search=not args.no_search, n_cases=args.n_cases
    )
    functions = core.select_functions(args.functions)
    if args.names:
        wanted = [n.strip() for n in args.names.split(",") if n.strip()]
        functions = [f for f in core.FUNCTIONS if f[1] in wanted]
    started = time.perf_counter()
    result = Result(args.model, [f"{core.PACKAGE}.{m}.{n}" for m, n in functions])
    with core.workdir(False) as work:
        package = core.install_library(work / "lib")
        project = work / "project"
        core.build_project(package, project, list(dict.fromkeys(m for m, _ in functions)))
        targets = core.load_targets(project, functions)
        if args.mutmut:
            # The interpreter that has mutmut: this one (the bench project has no other).
            MUTMUT = Sandbox(project, MUTMUT_LIMITS, python=sys.executable, warm=False)
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            log(f"-- {strategy}")
            result.records += run_strategy(
                project, targets, strategy, work / f"home-{strategy}", off=False
            )
            if args.off:
                log(f"-- {strategy}, mutation = false")
                result.records += run_strategy(
                    project, targets, strategy, work / f"home-{strategy}-off", off=True
                )
        if not args.no_naive:
            log("-- naive")
            result.records += run_naive(project, targets, work / "home-naive")
        if MUTMUT is not None:
            MUTMUT.close()
    result.wall_s = time.perf_counter() - started
    args.output.write_text(
        json.dumps({**asdict(result), "markdown": markdown(result)}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(markdown(result), end="")
    log(f"wrote {args.output}; {result.wall_s / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
