"""A real project nobody here wrote, end to end (issue 21): humanize, from its PyPI sdist,
in a git repository of its own with the project's .venv (`pip install -e .[tests]`: hatchling
+ hatch-vcs, a git-ignored `_version.py`, pytest-codspeed and pytest-benchmark loaded at
every pytest start, `filterwarnings = ["error"]`, `--doctest-modules`, `testpaths = ["src",
"tests"]`, ruff with a required `from __future__ import annotations` and csv parametrize
names). The hook runs on its staged changes with a scripted model; the warm runner, the
jail, the project's interpreter and its lint configuration are the real ones.
bench/corpus.py runs a dozen such projects through the real pre-commit and model."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from review_bot.hook.run import HookOptions, run_hook
from tests.helpers.hook import fence, scripted
from tests.helpers.projects import venv_python
from tests.helpers.repos import GitRepo, scrub_git_env

SDIST = "humanize==4.17.0"

PERCENTAGE = """


def percentage(part: float, whole: float, precision: int = 1) -> str:
    if whole == 0:
        msg = "whole must not be zero"
        raise ValueError(msg)
    value = part / whole * 100
    if precision <= 0:
        return f"{round(value)}%"
    return f"{value:.{precision}f}%"
"""
# What a model writes: parametrize names as a tuple, no `from __future__` import; the
# project's ruff wants csv names and the import (PT006, I002).
PERCENTAGE_TEST = fence(
    "import pytest\n\nfrom humanize.number import percentage\n\n\n"
    '@pytest.mark.parametrize(("part", "whole", "expected"), [(1, 4, "25.0%"), (1, 3, "33.3%")])\n'
    "def test_percentage(part, whole, expected):\n"
    "    assert percentage(part, whole) == expected\n\n\n"
    "def test_percentage_rounds_to_a_whole_number():\n"
    '    assert percentage(1, 2, 0) == "50%"\n\n\n'
    "def test_percentage_of_zero():\n"
    '    with pytest.raises(ValueError, match="zero"):\n'
    "        percentage(1, 0)\n"
)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    scrub_git_env(monkeypatch)
    monkeypatch.setenv("REVIEW_BOT_MODEL", "smollm2")  # a file must exist; never loaded


@pytest.fixture(scope="module")
def humanize(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """humanize's sdist in a fresh git repository, installed into its own .venv."""
    base = tmp_path_factory.mktemp("humanize")
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
    download += ["--no-binary", ":all:", "-d", str(base / "dl"), SDIST]
    _check(download, base)
    [archive] = (base / "dl").glob("humanize-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(base, filter="data")
    root = next(base.glob("humanize-*/"))
    # The sdist carries the version file hatch-vcs wrote; a checkout has it ignored.
    (root / ".gitignore").write_text(".venv/\nsrc/humanize/_version.py\n")
    repo = GitRepo.create(root)
    repo.git("config", "user.email", "dev@example.invalid")
    repo.git("config", "user.name", "Dev")
    repo.commit_all()
    _check([sys.executable, "-m", "venv", str(root / ".venv")], root)
    pip = [str(venv_python(root / ".venv")), "-m", "pip", "install", "-q"]
    _check([*pip, "-e", ".[tests]"], root)
    return repo


def _check(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _targets(result: Any) -> dict[str, dict[str, Any]]:
    return {t["name"]: t["test"] for t in (result.plan or {"targets": []})["targets"]}


FLAGS = {"runs": 2, "strategy": "chat", "repair_attempts": 0, "docstrings": False}


def test_a_new_function_gets_a_test_the_project_accepts(humanize: GitRepo) -> None:
    number = humanize.root / "src" / "humanize" / "number.py"
    original = number.read_text()
    number.write_text(original + PERCENTAGE)
    humanize.git("add", "src/humanize/number.py")
    try:
        backend, factory = scripted(PERCENTAGE_TEST)
        result = run_hook(humanize.root, FLAGS, HookOptions(), run_core=factory)
        test = _targets(result)["humanize.number.percentage"]
        # The warm runner with the project's plugins and `filterwarnings = error`, the
        # version file the export lacked, the project's ruff: all in the way before.
        assert test["status"] == "kept", test
        generated = "tests/test_humanize_number_generated.py"
        staged = humanize.staged(generated)
        assert staged is not None, result.lines
        text = staged.decode()
        assert "from __future__ import annotations" in text
        assert '@pytest.mark.parametrize("part, whole, expected",' in text, text
        python = str(venv_python(humanize.root / ".venv"))
        # The project's own pytest (its plugins, warnings as errors, doctests) and ruff.
        own = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", generated]
        assert " passed" in _check(own, humanize.root)
        lint = [sys.executable, "-m", "ruff", "check", "--no-fix", "--no-cache", generated]
        _check(lint, humanize.root)
        assert len(backend.calls) == 1
    finally:
        humanize.git("reset", "-q", "--hard")
        (humanize.root / "tests" / "test_humanize_number_generated.py").unlink(missing_ok=True)


def test_a_new_branch_in_a_tested_function_is_not_skipped(humanize: GitRepo) -> None:
    # Issue 21: `test skipped (named in existing tests (coverage unavailable))`.
    path = humanize.root / "src" / "humanize" / "filesize.py"
    original = path.read_text()
    edited = original.replace(
        '    format: str = "%.1f",\n) -> str:',
        '    format: str = "%.1f",\n    strip_zero: bool = False,\n) -> str:',
    ).replace(
        "    return ret\n",
        '    if strip_zero and ".0" + space in ret:\n'
        '        ret = ret.replace(".0" + space, space, 1)\n    return ret\n',
    )
    assert edited.count("strip_zero") == 2
    path.write_text(edited)
    humanize.git("add", "src/humanize/filesize.py")
    reply = fence(
        "from humanize.filesize import naturalsize\n\n\n"
        "def test_strip_zero():\n"
        '    assert naturalsize(1000, strip_zero=True) == "1 kB"\n'
    )
    try:
        _, factory = scripted(reply)
        check_flags = {**FLAGS, "mode": "check"}
        result = run_hook(humanize.root, check_flags, HookOptions(), run_core=factory)
        check = _targets(result)["humanize.filesize.naturalsize"]
        assert check["status"] == "missing", check
        # Coverage measured through `import humanize` (the tests' way): one line is new.
        assert check["reason"] == "1 of 21 lines not covered (line 113)", check
        result = run_hook(humanize.root, FLAGS, HookOptions(), run_core=factory)
        test = _targets(result)["humanize.filesize.naturalsize"]
        assert test["status"] == "kept", test
        assert not any("unavailable" in line for line in test["attempts"]), test
    finally:
        humanize.git("reset", "-q", "--hard")
        (humanize.root / "tests" / "test_humanize_filesize_generated.py").unlink(missing_ok=True)


def test_a_module_that_imports_a_missing_package_costs_no_model_call(
    humanize: GitRepo,
) -> None:
    module = humanize.root / "src" / "humanize" / "extra.py"
    module.write_text("import some_missing_pkg_xyz\n\n\ndef twice(x):\n    return 2 * x\n")
    humanize.git("add", "src/humanize/extra.py")
    try:
        backend, factory = scripted()
        result = run_hook(humanize.root, FLAGS, HookOptions(), run_core=factory)
        test = _targets(result)["humanize.extra.twice"]
        assert (test["status"], test["reason"]) == ("rejected", "import"), test
        assert "No module named 'some_missing_pkg_xyz'" in test["attempts"][0]
        assert backend.calls == []
    finally:
        humanize.git("reset", "-q", "--hard")
        module.unlink(missing_ok=True)
