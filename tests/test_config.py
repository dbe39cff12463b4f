from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.config import find_project_root, load_settings
from review_bot.errors import FatalError


def _project(tmp_path: Path, section: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.review-bot]\n{section}\n")
    return tmp_path


def test_layers_flags_over_env_over_pyproject(tmp_path: Path) -> None:
    root = _project(tmp_path, 'model = "models/a.gguf"\nruns = 3\nstrategy = "chat"')
    settings = load_settings(root, {}, environ={})
    assert settings.model == root / "models/a.gguf"
    assert (settings.runs, settings.strategy) == (3, "chat")
    env = {"REVIEW_BOT_MODEL": "/env/b.gguf", "REVIEW_BOT_RUNS": "4"}
    settings = load_settings(root, {}, environ=env)
    assert settings.model == Path("/env/b.gguf") and settings.runs == 4
    settings = load_settings(root, {"model": Path("/flag/c.gguf"), "runs": None}, environ=env)
    assert settings.model == Path("/flag/c.gguf") and settings.runs == 4


def test_defaults_without_pyproject(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {}, environ={})
    assert settings.model is None and settings.runs == 5 and settings.repair_attempts == 2
    assert settings.convention == "google" and settings.strategy == "auto"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('strategy = "magic"', "strategy must be one of"),
        ('convention = "javadoc"', "convention must be one of"),
        ("runs = 0", "runs must be at least 1"),
        ("docstring_retries = -1", "docstring_retries must be 0 or more"),
        ("improve_calls = -2", "improve_calls must be 0 or more"),
        ('runs = "many"', "bad value for runs"),
        ("colour = 1", "unknown [tool.review-bot] key: colour"),
        ("docstrings = 'perhaps'", "bad value for docstrings"),
    ],
)
def test_bad_settings(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(FatalError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(_project(tmp_path, section), {}, environ={})


def test_unparseable_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.review-bot\n")
    with pytest.raises(FatalError, match="cannot parse"):
        load_settings(tmp_path, {}, environ={})


def test_find_project_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    (deep / "mod.py").write_text("")
    assert find_project_root(deep / "mod.py") == tmp_path


def test_hook_and_backend_settings(tmp_path: Path) -> None:
    root = _project(tmp_path, 'hook_timeout_s = 45\nmode = "check"\non_error = "fail"')
    settings = load_settings(root, {}, environ={"REVIEW_BOT_BACKEND": "openai"})
    assert settings.hook_timeout_s == 45.0 and settings.backend == "openai"
    assert (settings.mode, settings.on_error) == ("check", "fail")
    with pytest.raises(FatalError, match="mode must be one of"):
        load_settings(_project(tmp_path, 'mode = "yolo"'), {}, environ={})


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # pytest 9's own table, and a source directory listed for its doctests (issue 21).
        ({"pyproject.toml": '[tool.pytest]\ntestpaths = ["src", "tests"]\n'}, "tests"),
        ({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["testing"]\n'}, "testing"),
        ({"setup.cfg": "[tool:pytest]\ntestpaths = pkg tests\n"}, "tests"),
        ({"tox.ini": "[pytest]\ntestpaths = tests\n"}, "tests"),
        ({"pytest.ini": "[pytest]\ntestpaths = lib\n"}, None),
        # Tests inside the package (toolz): where the project's own pytest finds them.
        ({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["pkg"]\n'}, "pkg/tests"),
    ],
)
def test_the_tests_directory_comes_from_pytests_testpaths(
    tmp_path: Path, files: dict[str, str], expected: str | None
) -> None:
    from review_bot.config import pytest_tests_dir

    for directory in ("src/pkg", "pkg/tests", "tests", "testing", "lib"):
        (tmp_path / directory).mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert pytest_tests_dir(tmp_path) == expected


def test_the_repository_cannot_lower_the_users_guard(tmp_path: Path) -> None:
    # Issue 22: `jail = "none"` in a repository's pyproject.toml turned the jail off, and
    # `backend`/`base_url` sent the module and REVIEW_BOT_API_KEY to its chosen server.
    (tmp_path / "pyproject.toml").write_text(
        "[tool.review-bot]\n"
        'jail = "none"\nbackend = "openai"\nbase_url = "http://attacker.invalid/v1"\n'
        'home = "/tmp/elsewhere"\npython = "/usr/bin/python3"\nruns = 3\n'
    )
    environ = {"REVIEW_BOT_CONFIG": str(tmp_path / "none.toml")}
    settings = load_settings(tmp_path, {}, environ)
    assert (settings.jail, settings.backend, settings.base_url) == ("auto", "llamacpp", None)
    assert settings.python is None and settings.home != Path("/tmp/elsewhere")
    assert settings.runs == 3  # what does not weaken anything still applies
    assert settings.ignored == ("jail", "backend", "base_url", "home", "python")
    assert settings.ignored_notice is not None
    assert settings.ignored_notice.startswith(
        "review-bot: ignored jail, backend, base_url, home, python from the repository's "
        "pyproject.toml"
    )
    # The user's own side may: their config file, then the environment, then flags.
    user = tmp_path / "user.toml"
    user.write_text('jail = "none"\nbase_url = "http://127.0.0.1:8080/v1"\n')
    environ = {"REVIEW_BOT_CONFIG": str(user)}
    mine = load_settings(tmp_path, {}, environ)
    assert (mine.jail, mine.base_url) == ("none", "http://127.0.0.1:8080/v1")
    assert load_settings(tmp_path, {}, {**environ, "REVIEW_BOT_JAIL": "bwrap"}).jail == "bwrap"
    assert load_settings(tmp_path, {"jail": "auto"}, environ).jail == "auto"


def test_a_python_inside_the_repository_may_come_from_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.review-bot]\npython = ".venv/bin/python"\n')
    settings = load_settings(tmp_path, {}, {"REVIEW_BOT_CONFIG": str(tmp_path / "x.toml")})
    assert settings.python is not None and settings.ignored == ()
