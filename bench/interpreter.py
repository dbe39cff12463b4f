"""What using the project's interpreter costs a run, step by step.

    .venv/bin/python bench/interpreter.py [--repeats 5]

Builds a src-layout project with a bare `.venv` (made by `python -m venv --without-pip`:
no pytest, no coverage, no dependency), then times, best of the repeats: finding the
interpreter (`find_python`), asking it what it has (`prepare`: one subprocess), copying
review-bot's pytest and coverage for it (`lend_tools`), and the once-per-module import
check in the sandbox (`import_problem`: one pytest collection), for a module that imports
and for one whose dependency is missing. Prints seconds per step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from review_bot.importable import import_problem
from review_bot.sandbox import Limits, Sandbox
from review_bot.sandbox.interpreter import find_python, lend_tools, prepare


def best(repeats: int, step: Callable[[int], object]) -> float:
    times = []
    for number in range(repeats):
        start = time.perf_counter()
        step(number)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-interpreter-") as tmp:
        root = Path(tmp) / "proj"
        (root / "src" / "pkg").mkdir(parents=True)
        (root / "tests").mkdir()
        (root / "pyproject.toml").write_text('[project]\nname = "pkg"\nversion = "0"\n')
        (root / "src" / "pkg" / "__init__.py").write_text("")
        (root / "src" / "pkg" / "ok.py").write_text("def f():\n    return 1\n")
        (root / "src" / "pkg" / "needs.py").write_text("import toolz_missing\n")
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True
        )
        found = find_python(root, None, environ={})
        interp = prepare(found)
        print(f"interpreter: {found.python} ({found.why}); lends {', '.join(interp.lent)}")
        rows = [
            ("find_python", best(args.repeats, lambda _: find_python(root, None, environ={}))),
            ("prepare (probe subprocess)", best(args.repeats, lambda _: prepare(found))),
            (
                "lend_tools (copy)",
                best(args.repeats, lambda n: lend_tools(interp.lent, Path(tmp) / f"lent{n}")),
            ),
        ]
        lent = lend_tools(interp.lent, Path(tmp) / "lent")
        limits = Limits(30.0, 2048, 30)
        with Sandbox(root, limits, python=found.python, extra_path=[str(lent)]) as sandbox:
            for label, module in (("imports", "pkg.ok"), ("missing dependency", "pkg.needs")):
                problem = import_problem(sandbox, module, "tests", ("src",), 30.0)
                print(f"import_problem({module}): {problem}")

                def check(_: int, module: str = module) -> object:
                    return import_problem(sandbox, module, "tests", ("src",), 30.0)

                rows.append((f"import_problem, {label}", best(args.repeats, check)))
    for label, seconds in rows:
        print(f"{label:40s} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
