"""Candidate -> Verdict: a generated test is kept only if it was run and earned its place.

`verify_test` rejects a candidate for the first of these that applies (see `REASONS`):
it does not compile; pytest collects nothing from it or cannot import it; it fails on its
first run (which is measured with coverage); it runs into a limit; it executes no line of
the target that the existing tests miss; it fails on one of the later runs.

The coverage side uses a private, empty coverage configuration, so the user's plugins and
`source`/`omit` settings cannot change what is measured, and `executable_lines` uses the
same parser and default exclusions as that measurement.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import signal
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple
from xml.etree import ElementTree

from coverage.config import DEFAULT_EXCLUDE
from coverage.parser import PythonParser

from review_bot.errors import FatalError
from review_bot.paths import is_test_file
from review_bot.records import REASONS as ALL_REASONS
from review_bot.records import Candidate, Target, TestReason, Verdict
from review_bot.sandbox import RunResult, Sandbox, Workspace, is_ignored
from review_bot.source import function_node

__all__ = [
    "DETAIL_LIMIT",
    "REASONS",
    "Baseline",
    "baseline_coverage",
    "executable_lines",
    "existing_test_files",
    "pytest_config_fingerprint",
    "verify_test",
]

REASONS: Final[Mapping[TestReason, str]] = {
    reason: ALL_REASONS[reason] for reason in typing.get_args(TestReason)
}

DETAIL_LIMIT = 1500  # characters of pytest output fed back to the model for repair
# A first run that takes more than this share of the per-run limit is rejected at once.
SLOW_SHARE = 0.5

# Files of ours in the workspace; the leading dot keeps them out of pytest's way.
_RCFILE = ".rb_coveragerc"
_COVERAGE_DATA = ".rb_coverage"
_COVERAGE_JSON = ".rb_cov.json"
_JUNIT = ".rb_junit.xml"
# An explicit --rcfile means coverage reads no other configuration (pyproject, setup.cfg).
_RC_TEXT = """\
# review-bot: measure with coverage's defaults, whatever the project's configuration says
[run]
# Its warning would only clutter the output fed back to the model.
disable_warnings = no-data-collected
"""

# -o addopts= drops the project's addopts: a `--cov` there would start a second tracer
# that hides the lines from ours, and `-n auto` or similar would change what a run is.
# --strict-markers stands in for the most common safety option it may have held.
_PYTEST_BASE = ("-q", "-p", "no:cacheprovider", "-o", "addopts=")
_PYTEST_CANDIDATE = (*_PYTEST_BASE, "--strict-markers", "-x", "--tb=short", "-rfEs")

# How `python -m coverage` and `coverage run -m pytest` report a module that is not there.
_MISSING_TOOL = re.compile(r"^(?:\S+: )?No module named '?(coverage|pytest)'?$", re.MULTILINE)
_SECTION = re.compile(r"^_{3,} .* _{3,}$")
_SEPARATOR = re.compile(r"^(={3,}|!{3,})")


def executable_lines(target: Target) -> frozenset[int]:
    """Statement lines of the target's body, as coverage counts them.

    The decorators, the `def` line(s) and the docstring are not part of it: they run when
    the module is imported, whether or not a test calls the function.
    """
    node = function_node(target)
    if node is None:
        return frozenset()
    body = node.body
    if ast.get_docstring(node, clean=False) is not None:
        body = body[1:]
    if not body:
        return frozenset()
    parser = PythonParser(text=target.module_source, exclude="|".join(DEFAULT_EXCLUDE))
    parser.parse_source()
    first, last = body[0].lineno, node.end_lineno or target.end_lineno
    return frozenset(line for line in parser.statements if first <= line <= last)


def existing_test_files(root: Path, target_module: str, tests_dir: str = "tests") -> list[str]:
    """Test files under `root` that import the target's module, or its top-level package
    (`import humanize` reaches `humanize.filesize` through the package's re-exports, issue
    21): those under `tests_dir` first, then the rest, each group sorted."""
    last = target_module.rsplit(".", 1)[-1]
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(name for name in dirnames if not is_ignored(here, name))
        for name in filenames:
            path = here / name
            if is_test_file(name) and _imports_module(path, target_module, last):
                found.append(path.relative_to(root).as_posix())
    prefix = tests_dir.strip("/") + "/"
    return sorted(found, key=lambda relpath: (not relpath.startswith(prefix), relpath))


# Where pytest reads its configuration (and setuptools-style projects keep theirs).
PYTEST_CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def pytest_config_fingerprint(root: Path) -> list[tuple[str, str]]:
    """(relpath, sha256) of what configures pytest in the project: its configuration files
    and every conftest.py. A cache key's part: a new warning filter, plugin option or
    fixture can change a verdict (issue 21)."""
    import hashlib

    found: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(name for name in dirnames if not is_ignored(here, name))
        names = [n for n in filenames if n == "conftest.py"]
        if here == root:
            names += [n for n in filenames if n in PYTEST_CONFIG_FILES]
        for name in sorted(names):
            path = here / name
            with contextlib.suppress(OSError):
                data = hashlib.sha256(path.read_bytes()).hexdigest()
                found.append((path.relative_to(root).as_posix(), data))
    return found


def _imports_module(path: Path, dotted: str, last: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of the user's code are not ours
            tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # unreadable or broken: it cannot contribute coverage either
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base, *(f"{base}.{alias.name}".lstrip(".") for alias in node.names)]
        top = dotted.split(".")[0]
        for name in names:
            if name == dotted or name.startswith(dotted + ".") or last in name.split("."):
                return True
            if top != dotted and name.split(".")[0] == top:
                return True
    return False


class Baseline(NamedTuple):
    """What the existing tests cover of a module, or why that could not be measured."""

    lines: frozenset[int]  # lines of the module the existing tests execute
    problem: str | None = None  # why coverage is unknown (the lines are then empty)


def baseline_coverage(
    sandbox: Sandbox,
    module_relpath: str,
    test_files: Sequence[str],
    timeout_s: float,
    *,
    pythonpath: Sequence[str] = (),
) -> Baseline:
    """Lines of the module executed by the existing tests (failing tests tolerated).

    Empty when there are no test files; empty with a `problem` when the run timed out,
    pytest stopped before running a test, or the tests never imported the module from
    the project (issue 21: "coverage unavailable" must say why).
    """
    if not test_files:
        return Baseline(frozenset())
    with sandbox.workspace({_RCFILE: _RC_TEXT}) as ws:
        argv = [
            *_coverage_run(module_relpath),
            *_PYTEST_BASE,
            # One broken test module must not hide what the others cover.
            "--continue-on-collection-errors",
            *test_files,
        ]
        result = ws.run(argv, timeout_s=timeout_s, pythonpath=pythonpath)
        _require_tools(result, sandbox.python)
        if result.timed_out:
            return Baseline(frozenset(), f"the existing tests ran past {timeout_s:g} s")
        lines = _measured_lines(ws, module_relpath, timeout_s)
        if lines:
            return Baseline(lines)
        output = _relative_output(result.output, ws)
    if result.returncode in (0, 1):
        return Baseline(
            frozenset(),
            f"the existing tests ran but never imported {module_relpath} from the project",
        )
    return Baseline(frozenset(), f"pytest exited {result.returncode}: {_first_error(output)}")


def _first_error(output: str) -> str:
    """The line of a failed pytest start that says most: the first `E ...` line (the
    exception), else the first `ERROR` line, else the last line that is not a separator."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for prefixes in (("E ",), ("ERROR", "ImportError", "ModuleNotFoundError")):
        for line in lines:
            if line.startswith(prefixes):
                return line.removeprefix("E ").strip()[:300]
    for line in reversed(lines):
        if not _SEPARATOR.match(line):
            return line[:300]
    return "no output"


def verify_test(
    sandbox: Sandbox,
    candidate: Candidate,
    *,
    baseline: frozenset[int],
    runs: int,
    test_relpath: str,
) -> Verdict:
    """Run the candidate at `test_relpath` in a fresh workspace and judge it.

    `baseline` holds the module lines the existing tests execute (`baseline_coverage`);
    a kept test passes `runs` runs of `runs`.
    """
    target = candidate.target
    lines = executable_lines(target)
    known = baseline & lines

    def verdict(
        reason: TestReason | None,
        detail: str,
        *,
        collected: int = 0,
        passes: int = 0,
        covered: frozenset[int] = frozenset(),
    ) -> Verdict:
        return Verdict(
            candidate=candidate,
            kept=reason is None,
            reason=reason,
            detail=detail,
            collected=collected,
            passes=passes,
            covered=covered,
            baseline=known,
        )

    problem = _syntax_problem(candidate.code, test_relpath)
    if problem is not None:
        return verdict("syntax", problem)

    module_relpath = _relpath(sandbox.root, target.path)
    pythonpath = import_path(sandbox, target)
    timeout = sandbox.limits.timeout_s
    files = {test_relpath: candidate.code, _RCFILE: _RC_TEXT}
    with sandbox.workspace(files) as ws:
        argv = [
            *_coverage_run(module_relpath),
            *_PYTEST_CANDIDATE,
            f"--junitxml={_JUNIT}",
            test_relpath,
        ]
        # Runs fork from the warm interpreter (sandbox/warm.py), which shares one hash seed;
        # the last run is a fresh interpreter with its own.
        first = ws.run(argv, pythonpath=pythonpath, fresh=runs <= 1)
        report = _parse_junit(ws.read(_JUNIT))
        if report is None:
            _require_tools(first, sandbox.python)
        collected = report.collected if report is not None else 0
        output = _relative_output(first.output, ws)
        rejection = _first_run_problem(first, report, output, timeout, sandbox.limits.cpu_s)
        if rejection is not None:
            return verdict(rejection[0], rejection[1], collected=collected)

        if runs > 1 and first.seconds > SLOW_SHARE * timeout:
            # Its repeats and the mutants would each take most of the limit: minutes for
            # one function, for a test no reviewer wants to wait on (issue 22).
            detail = (
                f"the first run took {first.seconds:.1f} s of the {timeout:g} s limit; "
                f"a unit test should take a fraction of it"
            )
            return verdict("timeout", detail, collected=collected, passes=1)
        covered = _measured_lines(ws, module_relpath, timeout) & lines
        new = covered - known
        if not new:
            # Decided before the repeat runs: a test that adds nothing is rejected however
            # stable it is, so those runs would be wasted.
            what = "none of its lines" if not covered else "no line the existing tests miss"
            detail = f"the tests pass but execute {what} of {target.qualname}"
            return verdict("no-gain", detail, collected=collected, passes=1, covered=covered)

        # The repeats reuse the workspace: what run 1 left behind (files, HOME, TMPDIR) is
        # exactly what the user's second run would meet, and it saves a copy per run.
        for number in range(2, runs + 1):
            argv = ["python", "-m", "pytest", *_PYTEST_CANDIDATE, test_relpath]
            result = ws.run(argv, pythonpath=pythonpath, fresh=number == runs)
            passes = number - 1
            limit = _limit_hit(result, timeout, sandbox.limits.cpu_s)
            if limit is not None:
                detail = f"run {number} of {runs}: {limit}"
                return verdict(
                    "timeout", detail, collected=collected, passes=passes, covered=covered
                )
            if result.returncode != 0:
                text = _relative_output(result.output, ws)
                detail = f"passed {passes} of {runs} runs; run {number}:\n{_failure_detail(text)}"
                return verdict("flaky", detail, collected=collected, passes=passes, covered=covered)

    detail = (
        f"passed {runs} of {runs} runs; executes {len(covered)} of {len(lines)} lines "
        f"of {target.qualname}, {len(new)} not run by existing tests"
    )
    return verdict(None, detail, collected=collected, passes=runs, covered=covered)


def _require_tools(result: RunResult, python: str) -> None:
    # Without these every candidate would be rejected, each time for the same reason.
    missing = _MISSING_TOOL.search(result.output) if result.returncode == 1 else None
    if missing is not None:
        raise FatalError(
            f"{python} cannot import {missing.group(1)}; install pytest and coverage "
            "into the environment that runs the project's tests"
        )


def _syntax_problem(code: str, filename: str) -> str | None:
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like are the sandboxed pytest's business.
            warnings.simplefilter("ignore")
            compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        return f"SyntaxError: {exc.msg} ({where}){': ' + text if text else ''}"
    except ValueError as exc:  # e.g. a null byte in the source
        return f"SyntaxError: {exc}"
    return None


def import_path(sandbox: Sandbox, target: Target) -> tuple[str, ...]:
    """The workspace entries to put on sys.path so that `target.module` imports.

    Empty when the import root is the project root; `src` for a src layout.
    """
    import_root = _relpath(sandbox.root, target.root)
    return () if import_root == "." else (import_root,)


def _relpath(root: Path, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        raise ValueError(f"{path} is not inside the sandboxed project {root}") from None


def _coverage_run(module_relpath: str) -> list[str]:
    return [
        "python",
        "-m",
        "coverage",
        "run",
        f"--rcfile={_RCFILE}",
        f"--data-file={_COVERAGE_DATA}",
        f"--include={module_relpath}",
        "-m",
        "pytest",
    ]


def _measured_lines(ws: Workspace, module_relpath: str, timeout_s: float) -> frozenset[int]:
    """Executed lines of the module according to the run's coverage data; empty if none."""
    argv = [
        "python",
        "-m",
        "coverage",
        "json",
        f"--rcfile={_RCFILE}",
        f"--data-file={_COVERAGE_DATA}",
        "-o",
        _COVERAGE_JSON,
    ]
    # Reading the data file is left to the sandbox: the untrusted run wrote it.
    ws.run(argv, timeout_s=timeout_s)
    text = ws.read(_COVERAGE_JSON)
    if text is None:
        return frozenset()  # e.g. "No data to report": the module was never imported
    try:
        files = json.loads(text)["files"]
    except (ValueError, KeyError, TypeError):
        return frozenset()
    wanted = os.path.normpath(ws.path / module_relpath)
    if not isinstance(files, dict):
        return frozenset()
    for name, info in files.items():
        if os.path.normpath(ws.path / str(name)) != wanted:
            continue
        executed = info.get("executed_lines") if isinstance(info, dict) else None
        if isinstance(executed, list):
            return frozenset(line for line in executed if isinstance(line, int))
    return frozenset()


class _Report(NamedTuple):
    tests: int  # test cases reported, collection errors included
    failures: int
    errors: int
    skipped: int
    collection_errors: int

    @property
    def collected(self) -> int:
        return self.tests - self.collection_errors


def _parse_junit(text: str | None) -> _Report | None:
    if text is None:
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in root.iter("testsuite"):
        for key in totals:
            try:
                totals[key] += int(suite.get(key, "0"))
            except ValueError:
                return None
    collection_errors = sum(
        error.get("message") == "collection failure" for error in root.iter("error")
    )
    return _Report(
        totals["tests"], totals["failures"], totals["errors"], totals["skipped"], collection_errors
    )


def _limit_hit(result: RunResult, timeout_s: float, cpu_s: int) -> str | None:
    if result.timed_out:
        return f"timed out after {timeout_s:g} s (wall clock)"
    if result.returncode == -signal.SIGXCPU:
        return f"killed after {cpu_s} s of CPU time"
    return None


def _first_run_problem(
    result: RunResult, report: _Report | None, output: str, timeout_s: float, cpu_s: int
) -> tuple[TestReason, str] | None:
    limit = _limit_hit(result, timeout_s, cpu_s)
    if limit is not None:
        tail = _tail(output, DETAIL_LIMIT - len(limit) - 1).strip()
        return "timeout", f"{limit}\n{tail}" if tail else limit
    code = result.returncode
    if code == 0:
        if report is None:
            # pytest writes its report on the way out; without it, something (os._exit,
            # a killed interpreter) cut the session short and the 0 proves nothing.
            return "fail", "pytest exited without writing its report\n" + _tail(output, 1000)
        if report.collected - report.skipped <= 0:
            what = "no test was collected" if report.collected == 0 else "every test was skipped"
            return "collect", f"{what}\n{_failure_detail(output)}".rstrip()
        return None
    if code == 5:
        return "collect", "no test was collected\n" + _failure_detail(output)
    collection = (report is not None and report.collection_errors > 0) or (
        "error during collection" in output
    )
    if code == 4 or (code in (2, 3) and collection):
        return "collect", _failure_detail(output)
    if code < 0:
        killed = f"the test process was killed by {_signal_name(-code)}"
        crash = output.find("Fatal Python error")
        if crash >= 0:
            # faulthandler's dump lists the innermost frames first: keep the head.
            return "fail", f"{killed}\n{output[crash : crash + DETAIL_LIMIT - len(killed) - 1]}"
        return "fail", f"{killed}\n{_failure_detail(output)}"
    return "fail", _failure_detail(output)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _relative_output(output: str, ws: Workspace) -> str:
    # The model should see `tests/test_x.py`, not our temporary directory.
    return output.replace(str(ws.path) + os.sep, "")


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _failure_detail(output: str, limit: int = DETAIL_LIMIT) -> str:
    """The first failure's traceback (its end, where the E lines are) and the summary."""
    lines = output.splitlines()
    section: list[str] = []
    summary: list[str] = []
    in_section = in_summary = False
    for line in lines:
        if _SEPARATOR.match(line):
            in_summary = "short test summary info" in line
            if in_section and section:
                in_section = False
            continue
        if _SECTION.match(line):
            if section:  # only the first failure: -x stops most runs there anyway
                in_section = False
                continue
            in_section = True
            section.append(line.strip("_ ").strip())
            continue
        if in_summary:
            summary.append(line)
        elif in_section:
            section.append(line)
    if not section and not summary:
        return _tail(output.strip(), limit)
    summary_text = "\n".join(summary).strip()
    budget = max(limit - len(summary_text) - 1, 200)
    section_text = "\n".join(section).strip()
    if len(section_text) > budget:
        # Keep the header (which test) and the end (the exception).
        header, _, rest = section_text.partition("\n")
        section_text = header + "\n..." + rest[-max(budget - len(header) - 4, 0) :]
    return _tail(f"{section_text}\n{summary_text}".strip(), limit)
