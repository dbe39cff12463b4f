"""Benchmark of the assured-generation core on real functions of a published library.

    ./dev bench                                   # the full run (about 40 minutes on 2 cores)
    ./dev bench --functions 5 --strategies cases  # a quick check

Installs a pinned pure-Python library into a temporary directory, strips its docstrings,
runs each strategy of review-bot's core and a naive one-prompt baseline on the selected
functions, compares generation throughput with raw llama-cpp-python, and times a cached
second `review-bot suggest`. Prints a Markdown table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import core

HERE = Path(__file__).resolve().parent


def _runs(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in core.ALL_RUNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"choose from {', '.join(core.ALL_RUNS)} (comma-separated), not {text!r}"
        )
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--functions",
        type=_positive,
        metavar="N",
        help=f"only the first N of the {len(core.FUNCTIONS)} functions",
    )
    parser.add_argument(
        "--strategies",
        type=_runs,
        default=list(core.ALL_RUNS),
        metavar="LIST",
        help=f"runs to do, comma-separated (default: {','.join(core.ALL_RUNS)})",
    )
    parser.add_argument(
        "--throughput-prompts",
        type=int,
        default=10,
        metavar="N",
        help="prompts for the review-bot vs raw llama-cpp-python comparison (0: skip)",
    )
    parser.add_argument(
        "--throughput-rounds",
        type=_positive,
        default=3,
        metavar="N",
        help="calls per prompt and path; the fastest counts (default: 3)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results.json",
        metavar="PATH",
        help="where to write the figures as JSON (default: bench/results.json)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the runs already in --output (same library and functions) and do the rest",
    )
    parser.add_argument(
        "--model",
        default=str(core.BENCH_SETTINGS["model"]),
        metavar="NAME|PATH",
        help="the model of the strategy and naive runs (default: smollm2, the smoke-test model)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="every sandboxed run in a fresh interpreter (warm = false) to compare",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary project and caches")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _previous(args: argparse.Namespace, result: core.BenchResult) -> dict[str, Any]:
    """The earlier results file to resume from, if it measured the same functions."""
    if not args.resume or not args.output.is_file():
        return {}
    data: dict[str, Any] = json.loads(args.output.read_text(encoding="utf-8"))
    if data.get("library") != result.library or data.get("functions") != result.functions:
        log(f"{args.output} measured another library or function list: not resuming")
        return {}
    return data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    core.BENCH_SETTINGS.update(model=Path(args.model), warm=not args.cold)
    started = time.perf_counter()
    functions = core.select_functions(args.functions)
    shown = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    result = core.BenchResult(
        date=_now(),
        library=f"{core.LIBRARY}=={core.VERSION}",
        functions=[f"{core.PACKAGE}.{m}.{n}" for m, n in functions],
        machine=core.machine_info(),
        command=f"./dev bench {shown}".rstrip(),
    )
    previous = _previous(args, result)
    done = {run["run"]: run for run in previous.get("runs", [])}

    def save() -> None:
        # After every part: a run that is cut short keeps what it measured (--resume).
        result.wall_s = time.perf_counter() - started
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")

    with core.workdir(args.keep) as work:
        log(f"installing {core.LIBRARY}=={core.VERSION} into {work / 'lib'}")
        package = core.install_library(work / "lib")
        project = work / "project"
        modules = list(dict.fromkeys(m for m, _ in functions))
        core.build_project(package, project, modules)
        targets = core.load_targets(project, functions)
        log(f"{len(targets)} functions in {', '.join(modules)}, docstrings stripped")
        for run in args.strategies:
            if run in done:
                log(f"-- {run}: read back from {args.output}")
                result.runs.append(core.run_from_json(done[run]))
                result.resumed.append(run)
                if run == core.DOCSTRING_RUN and "cache" in previous:
                    result.cache = core.cache_from_json(previous["cache"])
                continue
            home = work / f"home-{run}"
            log(f"-- {run}")
            run_started = _now()
            if run == core.NAIVE:
                summary = core.run_naive(project, targets, home, report=log)
            else:
                summary = core.run_strategy(
                    project,
                    targets,
                    run,
                    home,
                    docstrings=run == core.DOCSTRING_RUN,
                    report=log,
                )
            summary.started = run_started
            result.runs.append(summary)
            if run == core.DOCSTRING_RUN:
                # Right after the first run, while the code on disk is what it ran.
                log("-- cached second suggest")
                result.cache = core.measure_cache(project, home, functions, summary.context_key)
                log(result.cache.note or "done")
            save()
        if args.throughput_prompts > 0:
            if "throughput" in previous:
                log(f"-- throughput: read back from {args.output}")
                result.throughput = core.throughput_from_json(previous["throughput"])
                result.resumed.append("throughput")
            else:
                log("-- throughput")
                result.throughput = core.measure_throughput(
                    targets,
                    prompts=args.throughput_prompts,
                    rounds=args.throughput_rounds,
                    report=log,
                )
        if args.keep:
            log(f"kept {work}")
    save()
    print(core.markdown(result), end="")
    log(f"wrote {args.output}; {result.wall_s / 60:.1f} minutes in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
