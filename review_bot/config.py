"""Settings: command-line flags > environment (REVIEW_BOT_*) > [tool.review-bot] > defaults."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from review_bot.errors import FatalError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONVENTIONS = ("google", "numpy", "pep257")
BACKEND_CHOICES = ("llamacpp", "openai")
RUNTIME_CHOICES = ("auto", "xllamacpp", "llama-cpp-python")  # see llm/runtime.py
MODE_CHOICES = ("stage", "write", "check")
ON_ERROR_CHOICES = ("warn", "fail")
JAIL_CHOICES = ("auto", "bwrap", "none")
STRATEGY_CHOICES = ("auto", "chat", "complete", "cases")
# The hook's keep_alive_s: the model stays loaded this long after a commit, in a resident
# process the next commit reuses (llm/resident.py): loading it cost ~4 s a commit (issue 23).
HOOK_KEEP_ALIVE_S = 300.0


def default_home() -> Path:
    """Where review-bot keeps its state (cache); REVIEW_BOT_HOME overrides."""
    env = os.environ.get("REVIEW_BOT_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "review-bot"


@dataclasses.dataclass(frozen=True)
class Settings:
    model: Path | None = None  # None: the default model; a path, or a name (llm/default_model)
    strategy: str = "auto"
    runs: int = 5  # a kept test passes N of N runs
    repair_attempts: int = 2  # extra model calls fed with the pytest failure
    # model calls a test that is already kept may still get (the cases strategy asks for
    # cases that kill its surviving mutants); None: as many as repair_attempts; the hook's
    # default is HOOK_IMPROVE_CALLS: a commit does not wait for a better test (issue 23)
    improve_calls: int | None = None
    # model calls a rejected docstring may still get (told why the last was rejected);
    # None: as many as repair_attempts; the hook's default is HOOK_DOCSTRING_RETRIES
    docstring_retries: int | None = None
    convention: str = "google"
    tests_dir: str = "tests"
    docstrings: bool = True
    # an Examples section of doctests run in the sandbox, added to kept docstrings
    # issue 25: read by hand, examples from the recorded calls made more docstrings mergeable
    docstring_examples: bool = True
    tests: bool = True
    cache: bool = True
    home: Path = dataclasses.field(default_factory=default_home)
    # sandbox limits
    timeout_s: float = 30.0  # wall clock per sandboxed run
    memory_mb: int = 2048  # address space per sandboxed process
    cpu_s: int = 30
    # generation
    n_ctx: int = 4096
    max_tokens: int = 512
    temperature: float = 0.2
    seed: int = 1234
    n_cases: int = 5  # the search widens them (issue 23: 8 asked no better, in more time)
    # the cases strategy also tries neighbours of the model's cases and the code's own
    # constants, kept where they kill a mutant the model's cases miss (generate/search.py)
    case_search: bool = True
    # mutation analysis of kept tests (review_bot/mutation.py): a test that kills none of
    # the function's mutants is rejected (no-kill), one under min_mutation_score too
    mutation: bool = True
    max_mutants: int = 20
    min_mutation_score: float = 0.0  # a fraction of the mutants, 0 to 1
    gpu_layers: int = -1  # -1: auto, every layer on a GPU build of llama.cpp, else none
    threads: int = 0  # CPU threads of llama.cpp; 0: physical cores less the busy ones
    # backends (the models issue): "llamacpp" in process, or "openai" over HTTP
    backend: str = "llamacpp"
    # which llama.cpp runs the model in process: auto (xllamacpp when installed), xllamacpp,
    # llama-cpp-python (llm/runtime.py)
    runtime: str = "auto"
    base_url: str | None = None
    api_key: str | None = None  # from REVIEW_BOT_API_KEY; never passed to the sandbox
    request_timeout_s: float = 120.0
    # Seconds the model stays loaded in a resident process after its last call, reused by
    # the next run (llm/resident.py); 0: loaded in each run's own process. None: the hook's
    # default (HOOK_KEEP_ALIVE_S), 0 for suggest and review.
    keep_alive_s: float | None = None
    # the commit-time hook
    mode: str = "stage"  # stage | write | check
    on_error: str = "warn"  # warn | fail
    hook_timeout_s: float | None = None  # the hook's worker is killed past it; None: budget + 300
    # The run's time budget: past it, the functions not yet reached are skipped (reason
    # "time budget") and the run ends cleanly. None: no budget, except the hook's default
    # (HOOK_BUDGET_S): a commit must not wait without end (issue 22).
    budget_s: float | None = None
    # the interpreter that runs the tests (sandbox/interpreter.py); None: detected
    python: str | None = None
    # the jail around generated code: auto | bwrap | none (review_bot/sandbox/jail.py)
    jail: str = "auto"
    # `python -m` runs fork from one warm interpreter per run of review-bot (sandbox/warm.py)
    warm: bool = True
    # a failing chat/complete test whose expected literals are wrong is repaired from
    # execution (generate/oracle.py)
    oracle_repair: bool = True
    # report what oracle repair replaced as disagreements; None: on, except for the smoke
    # model smollm2 (llm/models.py)
    disagreements: bool | None = None
    # what the repository's pyproject.toml set and was not allowed to (USER_ONLY)
    ignored: tuple[str, ...] = ()

    @property
    def ignored_notice(self) -> str | None:
        """The one line that says what the repository could not set, or None."""
        if not self.ignored:
            return None
        return (
            f"review-bot: ignored {', '.join(self.ignored)} from the repository's "
            "pyproject.toml: settings that weaken the sandbox, send code elsewhere or run "
            "an interpreter outside the repository come only from flags, REVIEW_BOT_* "
            "variables or your own config file (docs/sandbox.md)"
        )

    @property
    def cache_path(self) -> Path:
        return self.home / "cache.sqlite3"


# The settings that change what a model call or a verification produces: part of every
# cache key, in the core's cache and the hook's memo alike. Front-end settings (mode,
# on_error, cache, home, timeouts of the whole run) are not.
GENERATION_SETTINGS = (
    "strategy",
    "runs",
    "repair_attempts",
    "improve_calls",
    "docstring_retries",
    "convention",
    "docstring_examples",
    "tests_dir",
    "timeout_s",
    "memory_mb",
    "cpu_s",
    "n_ctx",
    "max_tokens",
    "temperature",
    "seed",
    "n_cases",
    "case_search",
    "mutation",
    "max_mutants",
    "min_mutation_score",
    "gpu_layers",
    "backend",
    "base_url",
    "python",
    "oracle_repair",
    # How generated code runs changes what passes (issue 21: the warm runner's preloaded
    # plugins failed every run of a project whose warnings are errors).
    "warm",
    "jail",
)


def generation_settings(settings: Settings) -> dict[str, str]:
    """The settings a cached result depends on, as text (a cache key's part)."""
    return {name: str(getattr(settings, name)) for name in GENERATION_SETTINGS}


# name in pyproject / env suffix -> (field, converter)
def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_FIELDS: dict[str, Any] = {
    "model": lambda v: Path(str(v)).expanduser(),
    "strategy": str,
    "runs": int,
    "repair_attempts": int,
    "improve_calls": int,
    "docstring_retries": int,
    "convention": str,
    "tests_dir": str,
    "docstrings": _to_bool,
    "docstring_examples": _to_bool,
    "tests": _to_bool,
    "cache": _to_bool,
    "home": lambda v: Path(str(v)).expanduser(),
    "timeout_s": float,
    "budget_s": float,
    "memory_mb": int,
    "cpu_s": int,
    "n_ctx": int,
    "max_tokens": int,
    "temperature": float,
    "seed": int,
    "n_cases": int,
    "case_search": _to_bool,
    "mutation": _to_bool,
    "max_mutants": int,
    "min_mutation_score": float,
    "gpu_layers": int,
    "threads": int,
    "backend": str,
    "runtime": str,
    "base_url": str,
    "api_key": str,
    "request_timeout_s": float,
    "keep_alive_s": float,
    "mode": str,
    "on_error": str,
    "hook_timeout_s": float,
    "python": str,
    "jail": str,
    "warm": _to_bool,
    "oracle_repair": _to_bool,
    "disagreements": _to_bool,
}


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding pyproject.toml or .git."""
    start = start if start.is_dir() else start.parent
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
            return candidate
    return start


def read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FatalError(f"{path}: cannot parse: {exc}") from None
    section = data.get("tool", {}).get("review-bot", {})
    if not isinstance(section, dict):
        raise FatalError(f"{path}: [tool.review-bot] must be a table")
    return {key.replace("-", "_"): value for key, value in section.items()}


def _names_a_model(root: Path, value: Path) -> bool:
    from review_bot.llm.default_model import MODEL_NAMES

    return str(value) in MODEL_NAMES and not (root / value).exists()


def _convert(name: str, value: Any, origin: str) -> Any:
    try:
        return _FIELDS[name](value)
    except (TypeError, ValueError) as exc:
        raise FatalError(f"{origin}: bad value for {name}: {exc}") from None


def _cwd_relative(python: str) -> str:
    """A `python` path given on the command line or in the environment is relative to the
    current directory; one in pyproject.toml stays relative to the checkout
    (sandbox/interpreter.py), and a bare command name is looked up on PATH."""
    if os.sep in python or (os.altsep and os.altsep in python):
        return os.path.abspath(os.path.expanduser(python))
    return python


def pytest_tests_dir(root: Path) -> str | None:
    """The first of pytest's `testpaths` that is a test directory of the project, if any:
    where the project's own tests live (pytest.ini, pyproject.toml's [tool.pytest] or
    [tool.pytest.ini_options], tox.ini's [pytest], setup.cfg's [tool:pytest]).

    A source directory listed for its doctests (`testpaths = ["src", "tests"]`, issue 21)
    is not where tests are written: `src`, `lib` and package directories whose name does
    not start with "test" are passed over.
    """
    paths: Any = None
    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest")):
        if paths is None and (root / name).is_file():
            paths = _ini_testpaths(root / name, section)
    if paths is None:
        try:
            data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        pytest_table = data.get("tool", {}).get("pytest", {})
        if isinstance(pytest_table, dict) and pytest_table:
            options = pytest_table.get("ini_options", pytest_table)  # pytest 9: [tool.pytest]
            paths = options.get("testpaths") if isinstance(options, dict) else None
            if isinstance(paths, str):
                paths = paths.split()
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if paths is None and (root / name).is_file():
            paths = _ini_testpaths(root / name, section)
    inside: str | None = None  # a test directory inside a listed package (toolz/tests)
    for entry in paths if isinstance(paths, list) else ():
        text = str(entry).strip().rstrip("/")
        if not text or any(c in text for c in "*?[") or not (root / text).is_dir():
            continue
        base = text.rsplit("/", 1)[-1]
        source = base in ("src", "lib") or (
            (root / text / "__init__.py").is_file() and not base.startswith("test")
        )
        if not source:
            return text
        for name in ("tests", "test", "testing"):
            if inside is None and base not in ("src", "lib") and (root / text / name).is_dir():
                # Tests kept inside the package (`testpaths = ["toolz"]`): there, or the
                # project's own pytest never runs what review-bot writes (the corpus).
                inside = f"{text}/{name}"
    return inside


def _ini_testpaths(path: Path, section: str) -> list[str] | None:
    """`testpaths` of an ini file's section; None when the section is not there."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    if not parser.has_section(section):
        return None
    return parser.get(section, "testpaths", fallback="").split()


# Settings a repository's pyproject.toml may not set (issue 22): they weaken the sandbox
# or send the code and the user's key elsewhere, and on a pull request the repository's
# files are its author's. They come from the user's side only: flags, REVIEW_BOT_*
# variables and the user's config file.
USER_ONLY = ("jail", "backend", "base_url", "api_key", "home")


def user_config_path(environ: Mapping[str, str]) -> Path:
    """The user's own config file: REVIEW_BOT_CONFIG, else
    `$XDG_CONFIG_HOME/review-bot/config.toml` (`~/.config/review-bot/config.toml`)."""
    explicit = environ.get("REVIEW_BOT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "review-bot" / "config.toml"


def _read_user_config(path: Path) -> dict[str, Any]:
    """The user's config file's keys (the same names as [tool.review-bot]); {} if none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise FatalError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FatalError(f"{path}: cannot parse: {exc}") from None
    return {key.replace("-", "_"): value for key, value in data.items()}


def _inside(root: Path, python: str) -> bool:
    """Whether the `python` a repository names lies inside the repository (its own venv)."""
    path = Path(python)
    if not path.is_absolute():
        path = root / path
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    except ValueError:
        return False


def load_settings(
    root: Path,
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the layers; `flags` holds only the options given on the command line.

    defaults < the user's config file < [tool.review-bot] < REVIEW_BOT_* < flags; the
    repository's pyproject.toml cannot set USER_ONLY settings, nor a `python` outside the
    repository: those it sets are listed in `Settings.ignored` and said once.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config = user_config_path(environ)
    for name, value in _read_user_config(config).items():
        if name not in _FIELDS:
            raise FatalError(f"{config}: unknown key: {name}")
        converted = _convert(name, value, str(config))
        if name in ("model", "home") and not converted.is_absolute():
            converted = converted.expanduser()
        values[name] = converted
    ignored: list[str] = []
    for name, value in read_pyproject(root).items():
        if name not in _FIELDS:
            raise FatalError(f"{root / 'pyproject.toml'}: unknown [tool.review-bot] key: {name}")
        if name in USER_ONLY or (name == "python" and not _inside(root, str(value))):
            ignored.append(name)
            continue
        converted = _convert(name, value, "pyproject.toml")
        if name in ("model", "home") and not converted.is_absolute():
            # A packaged model's name stays a name, unless the project has such a file.
            if not (name == "model" and _names_a_model(root, converted)):
                converted = root / converted
        values[name] = converted
    if "tests_dir" not in values:
        values["tests_dir"] = pytest_tests_dir(root) or Settings.tests_dir
    for name in _FIELDS:
        env_value = environ.get(f"REVIEW_BOT_{name.upper()}")
        if env_value is not None and env_value != "":
            values[name] = _convert(name, env_value, f"REVIEW_BOT_{name.upper()}")
            if name == "python":
                values[name] = _cwd_relative(values[name])
    for name, value in flags.items():
        if value is not None:
            values[name] = _convert(name, value, f"--{name.replace('_', '-')}")
            if name == "python":
                values[name] = _cwd_relative(values[name])
    values["ignored"] = tuple(ignored)
    settings = Settings(**values)
    if settings.strategy not in STRATEGY_CHOICES:
        raise FatalError(f"strategy must be one of {', '.join(STRATEGY_CHOICES)}")
    if settings.convention not in CONVENTIONS:
        raise FatalError(f"convention must be one of {', '.join(CONVENTIONS)}")
    for name, choices in (
        ("backend", BACKEND_CHOICES),
        ("runtime", RUNTIME_CHOICES),
        ("mode", MODE_CHOICES),
        ("on_error", ON_ERROR_CHOICES),
        ("jail", JAIL_CHOICES),
    ):
        if getattr(settings, name) not in choices:
            raise FatalError(f"{name} must be one of {', '.join(choices)}")
    if settings.runs < 1:
        raise FatalError("runs must be at least 1")
    for name in ("repair_attempts", "improve_calls", "docstring_retries"):
        if (getattr(settings, name) or 0) < 0:
            raise FatalError(f"{name} must be 0 or more")
    if settings.max_mutants < 1:
        raise FatalError("max_mutants must be at least 1 (mutation = false turns mutants off)")
    if not 0.0 <= settings.min_mutation_score <= 1.0:
        raise FatalError("min_mutation_score must be a fraction from 0 to 1")
    if settings.keep_alive_s is not None and not 0 <= settings.keep_alive_s <= 86400:
        raise FatalError("keep_alive_s must be from 0 (no resident model) to 86400 seconds")
    return settings
