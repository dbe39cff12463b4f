"""Which Python runs the project's tests: each rung of the detection order, and what
review-bot lends an interpreter that lacks pytest or coverage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from review_bot.config import load_settings
from review_bot.errors import FatalError
from review_bot.sandbox import interpreter
from review_bot.sandbox.interpreter import Found, find_python, lend_tools, prepare
from tests.helpers.projects import make_project, make_venv, venv_python


def fake_env(env: Path) -> Path:
    """An environment directory whose interpreter is a link to a real one."""
    python = venv_python(env)
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    return python


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"calc.py": "def f():\n    return 1\n"})


def test_setting_wins_and_takes_paths_venvs_and_commands(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_env(checkout / ".venv")
    other = fake_env(tmp_path / "other")
    found = find_python(checkout, str(other), environ={})
    assert found == Found(str(other), "the python setting", False)
    # A virtual environment's directory, and a path relative to the checkout.
    assert find_python(checkout, str(tmp_path / "other"), environ={}).python == str(other)
    envs = fake_env(checkout / "envs" / "py")
    assert find_python(checkout, "envs/py/bin/python", environ={}).python == str(envs)
    # A command name: looked up on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python-project").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert find_python(checkout, "python-project", environ={}).python == str(
        bin_dir / "python-project"
    )


def test_a_setting_that_names_no_interpreter_is_one_clear_error(checkout: Path) -> None:
    with pytest.raises(FatalError, match=r"python setting: .*nowhere/python is not an executable"):
        find_python(checkout, "nowhere/python", environ={})
    with pytest.raises(FatalError, match="no command 'no-such-python-here' on PATH"):
        find_python(checkout, "no-such-python-here", environ={})


def test_dot_venv_then_venv_then_virtual_env_then_conda(checkout: Path, tmp_path: Path) -> None:
    active = fake_env(tmp_path / "active")
    conda = fake_env(tmp_path / "conda")
    environ = {"VIRTUAL_ENV": str(tmp_path / "active"), "CONDA_PREFIX": str(tmp_path / "conda")}
    assert find_python(checkout, None, environ=environ) == Found(str(active), "$VIRTUAL_ENV", False)
    del environ["VIRTUAL_ENV"]
    assert find_python(checkout, None, environ=environ) == Found(str(conda), "$CONDA_PREFIX", False)
    plain = fake_env(checkout / "venv")
    assert find_python(checkout, None, environ=environ) == Found(
        str(plain), "the repository's venv", False
    )
    dot = fake_env(checkout / ".venv")
    assert find_python(checkout, None, environ=environ) == Found(
        str(dot), "the repository's .venv", False
    )


def test_review_bots_own_environment_is_not_the_projects(checkout: Path) -> None:
    # pre-commit runs review-bot from its own virtualenv and sets VIRTUAL_ENV to it.
    environ = {"VIRTUAL_ENV": sys.prefix, "CONDA_PREFIX": sys.prefix}
    found = find_python(checkout, None, environ=environ)
    assert found == Found(sys.executable, "review-bot's own interpreter", True)


def test_poetry_environment_when_the_project_uses_poetry(checkout: Path, tmp_path: Path) -> None:
    env_python = fake_env(tmp_path / "poetry-env")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    poetry = bin_dir / "poetry"
    poetry.write_text(f'#!/bin/sh\n[ "$*" = "env info --executable" ] && echo {env_python}\n')
    poetry.chmod(0o755)
    environ = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # Not a Poetry project: poetry is not asked.
    assert find_python(checkout, None, environ=environ).own
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.poetry]\nname = "demo"\n')
    found = find_python(checkout, None, environ=environ)
    assert found == Found(str(env_python), "Poetry's environment (poetry env info)", False)
    # Poetry without an environment yet ("NA", exit 0 or not): the next rung.
    poetry.write_text("#!/bin/sh\necho NA\n")
    assert find_python(checkout, None, environ=environ).own


def test_identity_is_relative_inside_the_checkout(checkout: Path) -> None:
    dot = fake_env(checkout / ".venv")
    found = find_python(checkout, None, environ={})
    assert interpreter.identity(found, checkout) == os.path.join(".venv", "bin", "python")
    assert str(dot) == found.python
    own = interpreter.own_interpreter()
    assert interpreter.identity(own, checkout) == f"own {sys.prefix}"
    other = Found(sys.executable, "the python setting", False)
    assert interpreter.identity(other, checkout) == sys.executable


def test_settings_python_relative_to_cwd_on_the_command_line(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(checkout, {"python": "envs/bin/python"}, environ={})
    assert settings.python == str(tmp_path / "envs" / "bin" / "python")
    environ = {"REVIEW_BOT_PYTHON": "python3.11"}  # a command name stays one
    assert load_settings(checkout, {}, environ=environ).python == "python3.11"
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.review-bot]\npython = ".env/bin/py"\n')
    # In pyproject.toml: relative to the checkout, resolved when the interpreter is found.
    assert load_settings(checkout, {}, environ={}).python == ".env/bin/py"


def test_tests_dir_follows_pytest_testpaths(checkout: Path) -> None:
    assert load_settings(checkout, {}, environ={}).tests_dir == "tests"
    (checkout / "test").mkdir()
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.pytest.ini_options]\ntestpaths = ["missing", "test"]\n'
    )
    assert load_settings(checkout, {}, environ={}).tests_dir == "test"
    # An explicit setting wins.
    assert load_settings(checkout, {}, environ={"REVIEW_BOT_TESTS_DIR": "t"}).tests_dir == "t"
    (checkout / "pytest.ini").write_text("[pytest]\ntestpaths = checks\n")
    (checkout / "checks").mkdir()
    assert load_settings(checkout, {}, environ={}).tests_dir == "checks"


# -- prepare: what the interpreter has, what review-bot lends -----------------------------


def test_own_interpreter_is_not_probed() -> None:
    interp = prepare(interpreter.own_interpreter())
    assert interp.own and interp.lent == () and interp.python == sys.executable


def test_a_bare_venv_borrows_pytest_and_coverage(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "bare")
    interp = prepare(Found(str(python), "the repository's .venv", False))
    assert {"pytest", "coverage", "pluggy", "iniconfig"} <= set(interp.lent)
    assert interp.version == ".".join(map(str, sys.version_info[:3]))
    lent = lend_tools(interp.lent, tmp_path / "lent")
    code = "import coverage, pytest, sys; print(pytest.__file__); print(sys.prefix)"
    done = subprocess.run(
        [str(python), "-c", code],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(lent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    module, prefix = done.stdout.splitlines()
    assert module.startswith(str(lent)) and prefix == str(tmp_path / "bare")
    # The copy is the tools only: nothing else of review-bot's environment.
    assert not (lent / "review_bot").exists() and not (lent / "click").exists()


def stand_in(path: Path, answer: str) -> Path:
    """An executable that answers the version query the way another interpreter would."""
    path.write_text(f"#!/bin/sh\necho '{answer}'\n")
    path.chmod(0o755)
    return path


def test_another_python_version_without_pytest_is_one_clear_line(tmp_path: Path) -> None:
    other = stand_in(tmp_path / "python3.9", '{"version": [3, 9, 18], "tag": "cpython-39"}')
    with pytest.raises(FatalError) as caught:
        prepare(Found(str(other), "the repository's .venv", False))
    message = str(caught.value)
    assert "\n" not in message
    assert f"{other} (Python 3.9.18, chosen as the repository's .venv)" in message
    assert f"`{other} -m pip install pytest coverage`" in message
    # With both tools there is nothing to lend, whatever its version.
    both = '{"version": [3, 9, 18], "tag": "cpython-39", "found": ["pytest", "coverage"]}'
    interp = prepare(Found(str(stand_in(tmp_path / "py39", both)), "x", False))
    assert interp.lent == () and interp.version == "3.9.18"


def test_an_interpreter_that_does_not_run_is_one_clear_line(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(FatalError, match="cannot run it to ask for its version"):
        prepare(Found(str(broken), "the python setting", False))


def test_an_interpreter_the_repository_committed_runs_only_in_the_jail(
    checkout: Path, tmp_path: Path
) -> None:
    # Issue 22: a repository that commits `venv/bin/python` (a script) had it run outside
    # the jail by the version probe, in suggest, the hook and review.
    from review_bot.sandbox import jail

    if jail.resolve("auto", sys.executable).kind != "bwrap":
        pytest.skip("no bwrap here")
    outside = tmp_path / "outside"
    outside.mkdir()
    python = venv_python(checkout / "venv")
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho ran >> {outside}/marker\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    found = find_python(checkout, None)
    assert found.python == str(python)
    interp = prepare(found, "auto")
    assert interp.version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert not (outside / "marker").exists()
    # With the jail turned off by the user, the same probe runs as it is (the check can fail).
    jail.available.cache_clear()
    prepare(found, "none")
    assert (outside / "marker").read_text() == "ran\n"
