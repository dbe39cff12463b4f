from __future__ import annotations

import ast
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from review_bot.errors import FatalError
from review_bot.records import Candidate, Target, TestReason
from review_bot.sandbox import Limits, RunResult, Sandbox
from review_bot.verify import (
    DETAIL_LIMIT,
    REASONS,
    _failure_detail,
    _first_run_problem,
    _parse_junit,
    baseline_coverage,
    executable_lines,
    existing_test_files,
    verify_test,
)

LIMITS = Limits(timeout_s=60.0, memory_mb=2048, cpu_s=60)
GENERATED = "tests/test_example_generated.py"

EXAMPLE = '''\
def add(a, b):
    return a + b


def slow():
    while True:
        pass


def sign(x):
    """Return -1 for negative numbers, 1 otherwise."""
    if x < 0:
        return -1
    return 1
'''

# Every awkward shape: decorators over several lines, a multi-line signature and
# statement, a docstring, `global`, an excluded `...`, a pragma, a nested function.
SHAPES = '''\
import functools


@functools.lru_cache(
    maxsize=None,
)
def tangled(a,
            b):
    """Docstring
    on two lines."""
    global counter
    counter = (1 +
               2)
    ...
    if a:
        pass
    else:
        return 3  # pragma: no cover
    def inner():
        return 1
    return inner


def only_doc():
    """Nothing else."""


class Box:
    def method(self):
        return 1
'''

# The project's own configuration must not change what review-bot measures or runs:
# an unknown option in addopts and a missing coverage plugin would both break a naive run.
PYPROJECT = """\
[tool.pytest.ini_options]
addopts = "--no-such-option"

[tool.coverage.run]
plugins = ["no_such_coverage_plugin"]
"""


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify") / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    # A src layout: the import root is not the project root, so every run needs src/
    # on the path.
    (root / "src" / "example.py").write_text(EXAMPLE)
    (root / "shapes.py").write_text(SHAPES)
    (root / "tests" / "test_existing.py").write_text(
        "from example import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
    )
    # Not named test_*: found only when passed explicitly.
    (root / "tests" / "check_slow.py").write_text(
        "from example import slow\n\n\ndef test_slow():\n    slow()\n"
    )
    return root


@pytest.fixture(scope="module")
def sandbox(project: Path) -> Iterator[Sandbox]:
    with Sandbox(project, LIMITS) as box:
        yield box


@pytest.fixture(scope="module")
def quick_sandbox(project: Path) -> Iterator[Sandbox]:
    with Sandbox(project, Limits(timeout_s=2.0, memory_mb=2048, cpu_s=60)) as box:
        yield box


def make_target(root: Path, module: str, qualname: str) -> Target:
    path = root / (module.replace(".", "/") + ".py")
    text = path.read_text()
    scope: ast.AST = ast.parse(text)
    node: ast.AST | None = None
    for part in qualname.split("."):
        node = next(
            child
            for child in ast.iter_child_nodes(scope)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and child.name == part
        )
        scope = node
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    assert node.end_lineno is not None
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = text.splitlines()[first - 1 : node.end_lineno]
    return Target(
        root=root,
        path=path,
        module=module,
        qualname=qualname,
        lineno=first,
        def_lineno=node.lineno,
        end_lineno=node.end_lineno,
        source=textwrap.dedent("\n".join(lines)) + "\n",
        module_source=text,
        params=(),
        returns=None,
        docstring=ast.get_docstring(node),
        is_method="." in qualname,
        is_async=isinstance(node, ast.AsyncFunctionDef),
    )


def candidate(project: Path, qualname: str, code: str) -> Candidate:
    return Candidate(
        target=make_target(project / "src", "example", qualname),
        strategy="chat",
        code=textwrap.dedent(code),
        attempt=0,
    )


def test_reasons_document_every_rejection() -> None:
    assert set(REASONS) == set(typing.get_args(TestReason))
    assert all(text and "\n" not in text for text in REASONS.values())


def test_executable_lines_are_the_statements_coverage_counts(
    project: Path, sandbox: Sandbox
) -> None:
    rc = "[run]\n"
    with sandbox.workspace({".rc": rc}) as ws:
        ws.run(["python", "-m", "coverage", "run", "--rcfile=.rc", "shapes.py"])
        ws.run(["python", "-m", "coverage", "json", "--rcfile=.rc", "-o", "cov.json"])
        text = ws.read("cov.json")
    assert text is not None
    regions = json.loads(text)["files"]["shapes.py"]["functions"]
    for qualname in ("tangled", "only_doc", "Box.method"):
        # coverage reports nested functions as regions of their own
        expected = {
            line
            for name, region in regions.items()
            if name == qualname or name.startswith(qualname + ".")
            for line in region["executed_lines"] + region["missing_lines"]
        }
        assert executable_lines(make_target(project, "shapes", qualname)) == expected
    assert executable_lines(make_target(project, "shapes", "tangled")) == {12, 15, 16, 19, 20, 21}
    assert executable_lines(make_target(project / "src", "example", "sign")) == {12, 13, 14}


def test_existing_test_files_are_the_ones_importing_the_module(tmp_path: Path) -> None:
    files = {
        "tests/test_from.py": "from pkg import util\n",
        "tests/test_dotted.py": "import pkg.util as u\n",
        "tests/test_relative.py": "from .util import helper\n",
        "tests/test_package.py": "import pkg\n",  # the package re-exports util's names
        "other/util_test.py": "from pkg.util import f\n",
        "tests/test_unrelated.py": "import os\nutil = 1\n",
        "tests/test_broken.py": "from pkg import util\ndef (:\n",
        "tests/helper.py": "from pkg import util\n",
        ".venv/lib/test_vendored.py": "import pkg.util\n",
        "build/test_built.py": "import pkg.util\n",
    }
    for relpath, text in files.items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text(text)
    assert existing_test_files(tmp_path, "pkg.util") == [
        "tests/test_dotted.py",
        "tests/test_from.py",
        "tests/test_package.py",
        "tests/test_relative.py",
        "other/util_test.py",
    ]
    assert existing_test_files(tmp_path, "nothing") == []


def test_correct_test_is_kept_with_the_lines_it_covers(project: Path, sandbox: Sandbox) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    cand = candidate(
        project,
        "sign",
        """
        import pathlib
        from example import sign


        def test_negative():
            assert sign(-3) == -1


        def test_positive_and_careless_with_files():
            pathlib.Path("left-behind.txt").write_text("written in the cwd")
            pathlib.Path("pyproject.toml").unlink(missing_ok=True)
            assert sign(2) == 1
        """,
    )
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    # The test ran twice, in a copy: the user's tree is exactly as it was.
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert verdict.kept, verdict.detail
    assert verdict.reason is None
    assert verdict.collected == 2
    assert verdict.passes == 2
    assert verdict.covered == {12, 13, 14}
    assert verdict.baseline == frozenset()
    assert "passed 2 of 2" in verdict.detail


def test_syntax_error_is_rejected_without_running_anything(project: Path) -> None:
    # An interpreter that cannot start: any run would turn into a different verdict.
    with Sandbox(project, LIMITS, python="/nonexistent/python") as box:
        cand = candidate(project, "add", "from example import add\ndef test_add(:\n    pass\n")
        verdict = verify_test(box, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "syntax"
    assert not verdict.kept
    assert "line 2" in verdict.detail
    assert "def test_add(:" in verdict.detail
    assert verdict.passes == 0


def test_forgotten_import_fails_with_the_error_for_the_model(
    project: Path, sandbox: Sandbox
) -> None:
    cand = candidate(project, "add", "def test_add():\n    assert add(1, 2) == 3\n")
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "fail"
    assert verdict.collected == 1
    assert "NameError: name 'add' is not defined" in verdict.detail
    assert f"FAILED {GENERATED}::test_add" in verdict.detail
    assert str(sandbox.private_dir) not in verdict.detail
    assert len(verdict.detail) <= DETAIL_LIMIT


def test_infinite_loop_times_out(project: Path, quick_sandbox: Sandbox) -> None:
    cand = candidate(project, "slow", "from example import slow\n\ndef test_slow():\n    slow()\n")
    verdict = verify_test(quick_sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "timeout"
    assert verdict.detail.startswith("timed out after 2 s")


def test_parent_secrets_are_not_visible(
    project: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not_for_generated_code")
    cand = candidate(
        project,
        "add",
        """
        import os
        from example import add


        def test_add_with_token():
            assert os.environ["GITHUB_TOKEN"]
            assert add(1, 2) == 3
        """,
    )
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "fail"
    assert "KeyError: 'GITHUB_TOKEN'" in verdict.detail
    assert "ghp_not_for_generated_code" not in verdict.detail


def test_module_without_tests_is_a_collect_problem(project: Path, sandbox: Sandbox) -> None:
    cand = candidate(project, "add", "from example import add\n\nRESULT = add(1, 2)\n")
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "collect"
    assert verdict.collected == 0
    assert "no test was collected" in verdict.detail


def test_import_error_is_a_collect_problem(project: Path, sandbox: Sandbox) -> None:
    cand = candidate(
        project,
        "add",
        "import no_such_module_anywhere\nfrom example import add\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n",
    )
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
    assert verdict.reason == "collect"
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in verdict.detail


def test_test_that_fails_on_a_later_run_is_flaky(project: Path, sandbox: Sandbox) -> None:
    # The repeats reuse the workspace, so a marker in it survives from one run to the next
    # (outside it, the jail would refuse to write it).
    marker = "ran-once"
    cand = candidate(
        project,
        "add",
        f"""
        import pathlib
        from example import add

        MARKER = pathlib.Path({marker!r})


        def test_add_only_once():
            first = not MARKER.exists()
            MARKER.touch()
            assert add(1, 2) == 3
            assert first, "second run"
        """,
    )
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=3, test_relpath=GENERATED)
    assert verdict.reason == "flaky", verdict.detail
    assert verdict.passes == 1
    assert verdict.covered == {2}
    assert verdict.detail.startswith("passed 1 of 3 runs; run 2:")
    assert "AssertionError: second run" in verdict.detail


def test_baseline_coverage_and_no_gain(project: Path, sandbox: Sandbox) -> None:
    tests = existing_test_files(project, "example")
    assert tests == ["tests/test_existing.py"]
    measured = baseline_coverage(sandbox, "src/example.py", tests, 60, pythonpath=["src"])
    assert measured.problem is None
    baseline = measured.lines
    add = make_target(project / "src", "example", "add")
    # Module-level lines (the defs) run on import; of the bodies, only add's.
    assert baseline & executable_lines(add) == {2}
    assert not baseline & executable_lines(make_target(project / "src", "example", "sign"))

    cand = candidate(project, "add", "from example import add\n\ndef test_more():\n    add(0, 0)\n")
    verdict = verify_test(sandbox, cand, baseline=baseline, runs=2, test_relpath=GENERATED)
    assert verdict.reason == "no-gain"
    assert verdict.covered == {2}
    assert verdict.baseline == {2}
    assert "no line the existing tests miss" in verdict.detail


def test_baseline_is_empty_without_tests_and_says_why_it_is_unknown(
    project: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    assert baseline_coverage(sandbox, "src/example.py", [], timeout_s=60) == (frozenset(), None)
    slow = ["tests/check_slow.py"]
    timed_out = baseline_coverage(sandbox, "src/example.py", slow, 0.5, pythonpath=["src"])
    assert timed_out == (frozenset(), "the existing tests ran past 0.5 s")
    # pytest stops before any test runs (a conftest.py that fails): the cause is named.
    project = Path(shutil.copytree(project, tmp_path / "copy"))
    (project / "tests" / "conftest.py").write_text("import not_installed_anywhere\n")
    with Sandbox(project, LIMITS) as box:
        broken = baseline_coverage(
            box, "src/example.py", ["tests/test_existing.py"], 60, pythonpath=["src"]
        )
        (project / "tests" / "conftest.py").unlink()
        # Tests that never import the project's copy of the module (an installed copy).
        (project / "tests" / "test_other.py").write_text("def test_x():\n    pass\n")
    assert broken.lines == frozenset()
    assert broken.problem is not None and broken.problem.startswith("pytest exited 4: ")
    assert "not_installed_anywhere" in broken.problem
    with Sandbox(project, LIMITS) as box:
        unused = baseline_coverage(box, "src/example.py", ["tests/test_other.py"], 60)
    assert unused == (
        frozenset(),
        "the existing tests ran but never imported src/example.py from the project",
    )


def test_interpreter_without_pytest_and_coverage_is_a_fatal_error(
    project: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = str(bare / "bin" / "python")
    with Sandbox(project, LIMITS, python=python) as box:
        cand = candidate(
            project, "add", "from example import add\n\ndef test_add():\n    add(1, 2)\n"
        )
        with pytest.raises(FatalError, match="cannot import coverage"):
            verify_test(box, cand, baseline=frozenset(), runs=2, test_relpath=GENERATED)
        with pytest.raises(FatalError, match="cannot import coverage"):
            baseline_coverage(box, "src/example.py", ["tests/test_existing.py"], timeout_s=60)


def junit(tests: int, skipped: int = 0, collection_error: bool = False) -> str:
    error = '<error message="collection failure">boom</error>' if collection_error else ""
    return (
        f'<testsuites><testsuite name="pytest" errors="{int(collection_error)}" failures="0" '
        f'skipped="{skipped}" tests="{tests}"><testcase classname="" name="t">{error}'
        "</testcase></testsuite></testsuites>"
    )


@pytest.mark.parametrize(
    ("returncode", "timed_out", "report", "output", "reason", "start"),
    [
        (0, False, junit(2), "", None, ""),
        (0, False, None, "..", "fail", "pytest exited without writing its report"),
        (0, False, junit(1, skipped=1), "", "collect", "every test was skipped"),
        (5, False, junit(0), "", "collect", "no test was collected"),
        (4, False, None, "ERROR: usage: unrecognized arguments", "collect", "ERROR: usage"),
        (2, False, junit(1, collection_error=True), "E   boom", "collect", "E   boom"),
        (2, False, junit(1), "KeyboardInterrupt", "fail", "KeyboardInterrupt"),
        (1, False, junit(1), "plain failure", "fail", "plain failure"),
        (-9, True, None, "", "timeout", "timed out after 3 s"),
        (-signal.SIGXCPU, False, None, "", "timeout", "killed after 7 s of CPU time"),
        (
            -signal.SIGSEGV,
            False,
            None,
            "...\nFatal Python error: Segmentation fault\n  File x.py, line 1 in test_x\n",
            "fail",
            "the test process was killed by SIGSEGV\nFatal Python error",
        ),
        (-signal.SIGABRT, False, None, "", "fail", "the test process was killed by SIGABRT"),
    ],
)
def test_first_run_classification(
    returncode: int,
    timed_out: bool,
    report: str | None,
    output: str,
    reason: TestReason | None,
    start: str,
) -> None:
    result = RunResult(returncode, output, timed_out, 1.0)
    problem = _first_run_problem(result, _parse_junit(report), output, 3.0, 7)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem[0] == reason
        assert problem[1].startswith(start)


@pytest.mark.parametrize("text", ["not xml", '<testsuite tests="many"/>'])
def test_unreadable_junit_reports_are_ignored(text: str) -> None:
    assert _parse_junit(text) is None


def test_failure_detail_keeps_which_test_and_the_exception_within_the_limit() -> None:
    frames = "\n".join(f"lib.py:{n}: in frame_{n}\n    call()" for n in range(300))
    output = (
        "F\n=== FAILURES ===\n___ test_deep ___\n"
        f"{frames}\nE   RecursionError: too deep\n"
        "___ test_second ___\nE   ValueError: not shown\n"
        "=== short test summary info ===\n"
        "FAILED tests/test_x.py::test_deep - RecursionError: too deep\n"
        "!!! stopping after 1 failures !!!\n1 failed in 0.1s\n"
    )
    detail = _failure_detail(output)
    assert len(detail) <= DETAIL_LIMIT
    assert detail.startswith("test_deep\n...")
    assert "E   RecursionError: too deep\nFAILED tests/test_x.py::test_deep" in detail
    assert "not shown" not in detail
    assert _failure_detail("x" * 5000).startswith("...")
    assert len(_failure_detail("x" * 5000)) == DETAIL_LIMIT


def test_null_byte_is_a_syntax_problem_and_unknown_function_has_no_lines(
    project: Path, sandbox: Sandbox
) -> None:
    cand = candidate(project, "add", "def test_x():\n    pass\n\0")
    verdict = verify_test(sandbox, cand, baseline=frozenset(), runs=1, test_relpath=GENERATED)
    assert verdict.reason == "syntax"
    assert "null" in verdict.detail
    moved = make_target(project / "src", "example", "add")._replace(def_lineno=999)
    assert executable_lines(moved) == frozenset()


def test_a_test_that_takes_most_of_the_limit_is_rejected_after_one_run(project: Path) -> None:
    # Issue 22: a test that slept just under the limit cost 5 runs and 20 mutants.
    box_limits = Limits(timeout_s=6.0, memory_mb=2048, cpu_s=60)
    with Sandbox(project, box_limits) as box:
        cand = candidate(
            project,
            "add",
            "import time\n\nfrom example import add\n\n\n"
            "def test_slow():\n    time.sleep(3.5)\n    assert add(1, 2) == 3\n",
        )
        verdict = verify_test(box, cand, baseline=frozenset(), runs=3, test_relpath=GENERATED)
    assert verdict.reason == "timeout", verdict.detail
    assert verdict.passes == 1
    assert "of the 6 s limit" in verdict.detail
