"""Which Python runs the project's tests, and why: the one answer for every front end.

Generated tests must import the module under test the way the project's own tests do, so
they run with the project's interpreter (its dependencies, its editable install), not
with review-bot's. `find_python` picks it, first match wins:

1. the `python` setting (`--python`, `REVIEW_BOT_PYTHON`, `[tool.review-bot] python`): an
   executable, a command on PATH, or a virtual environment's directory;
2. the checkout's `.venv`, then `venv` (`bin/python`; `Scripts/python.exe` on Windows);
3. `$VIRTUAL_ENV`, unless it is review-bot's own environment (pre-commit's hook env);
4. `$CONDA_PREFIX`, an activated conda environment, unless it is review-bot's own;
5. Poetry's environment (`poetry env info --executable`) when pyproject.toml has
   `[tool.poetry]` and `poetry` is on PATH;
6. review-bot's own interpreter, with a notice.

A bare `python3` on PATH is never chosen on its own: it is whatever the system has, not
the project's environment, and it would hide the notice that says none was found.

`prepare` then asks the chosen interpreter (once, without running any project code) for
its version and which of pytest and coverage it can import. What it lacks is lent from
review-bot's own site-packages (same Python minor version only): `lend_tools` copies those
distributions into a directory the sandbox appends to PYTHONPATH, and nothing is installed
into the user's environment.

>>> venv_python(Path("/p/.venv"), windows=False).as_posix()
'/p/.venv/bin/python'
>>> venv_python(Path("/p/.venv"), windows=True).as_posix()
'/p/.venv/Scripts/python.exe'
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from review_bot.errors import FatalError

__all__ = [
    "Found",
    "Interpreter",
    "describe",
    "distributions_fingerprint",
    "find_python",
    "identity",
    "lend_tools",
    "own_interpreter",
    "prepare",
    "venv_python",
]

TOOLS = ("pytest", "coverage")
_PROBE_TIMEOUT_S = 30.0
_POETRY_TIMEOUT_S = 15.0
# Prints what `prepare` needs; -I: neither the cwd nor PYTHON* variables nor user site.
_PROBE = """\
import importlib.util, json, sys
found = []
for name in sys.argv[1:]:
    try:
        if importlib.util.find_spec(name) is not None:
            found.append(name)
    except Exception:
        pass
print(json.dumps({"version": list(sys.version_info[:3]),
                  "tag": sys.implementation.cache_tag, "found": found}))
"""


class Found(NamedTuple):
    """The interpreter chosen, before it was asked anything."""

    python: str  # absolute path of the executable
    why: str  # which rung chose it, e.g. "the repository's .venv"
    own: bool  # review-bot's own interpreter: no project environment was found


class Interpreter(NamedTuple):
    """The interpreter in force for a run, and what review-bot lends it."""

    python: str
    why: str
    own: bool
    version: str  # "3.11.4"
    lent: tuple[str, ...]  # distributions copied from review-bot's site-packages


def venv_python(env: Path, *, windows: bool = os.name == "nt") -> Path:
    """The interpreter of a virtual environment (or conda environment) directory."""
    return env / "Scripts" / "python.exe" if windows else env / "bin" / "python"


def own_interpreter() -> Found:
    return Found(sys.executable, "review-bot's own interpreter", True)


def _is_own_env(env: str) -> bool:
    """Whether the environment directory `env` is the one review-bot runs in."""
    try:
        return os.path.samefile(env, sys.prefix)
    except OSError:
        return False


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_setting(value: str, checkout: Path) -> Found:
    """The `python` setting: a path (relative to the checkout), a venv, or a command."""
    if os.sep in value or (os.altsep and os.altsep in value) or value.startswith("."):
        path = Path(value).expanduser()
        path = path if path.is_absolute() else checkout / path
        if path.is_dir():
            path = venv_python(path)
        if not _executable(path):
            raise FatalError(f"python setting: {path} is not an executable interpreter")
        return Found(str(path.absolute()), "the python setting", False)
    command = shutil.which(value)
    if command is None:
        raise FatalError(f"python setting: no command {value!r} on PATH")
    return Found(str(Path(command).absolute()), "the python setting", False)


def _poetry(checkout: Path, environ: Mapping[str, str]) -> Found | None:
    pyproject = checkout / "pyproject.toml"
    try:
        uses_poetry = "[tool.poetry]" in pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    poetry = shutil.which("poetry", path=environ.get("PATH", os.defpath))
    if not uses_poetry or poetry is None:
        return None
    try:
        done = subprocess.run(
            [poetry, "env", "info", "--executable"],
            cwd=checkout,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=_POETRY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None  # e.g. "NA": poetry has not created the environment yet
    path = Path(lines[-1].strip())
    if not path.is_absolute() or not _executable(path):
        return None
    return Found(str(path), "Poetry's environment (poetry env info)", False)


def find_python(
    checkout: Path,
    setting: str | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Found:
    """The interpreter that runs the project's tests (the order is in the module doc).

    `checkout` is where the project lives on disk (its `.venv`); a relative `setting`
    path is relative to it.
    """
    environ = os.environ if environ is None else environ
    if setting:
        return _from_setting(setting, checkout)
    for name in (".venv", "venv"):
        path = venv_python(checkout / name)
        if _executable(path):
            return Found(str(path.absolute()), f"the repository's {name}", False)
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        env = environ.get(variable)
        if env and not _is_own_env(env):
            path = venv_python(Path(env))
            if _executable(path):
                return Found(str(path), f"${variable}", False)
    return _poetry(checkout, environ) or own_interpreter()


def identity(found: Found, checkout: Path) -> str:
    """The interpreter as a cache key's part: relative to the checkout when inside it (a
    copy of the checkout, or the hook's worker, finds the same results), else its path;
    review-bot's own by its environment (its console script runs `python3`, a test of it
    `python`: the same environment under two names)."""
    if found.own:
        return f"own {sys.prefix}"
    base = os.path.abspath(checkout)
    path = os.path.abspath(found.python)
    if path.startswith(base + os.sep):
        return os.path.relpath(path, base)
    return path


def distributions_fingerprint(found: Found) -> list[str]:
    """The distributions installed beside the interpreter (their dist-info names, so their
    versions): a cache key's part, since installing a pytest plugin or upgrading a
    dependency can change a verdict (issue 21). Read from the file system, not by running
    the interpreter; empty where no site-packages directory is found next to it."""
    prefix = sys.prefix if found.own else str(Path(found.python).parent.parent)
    names: set[str] = set()
    for pattern in ("lib/python*/site-packages/*.dist-info", "Lib/site-packages/*.dist-info"):
        names.update(p.name for p in Path(prefix).glob(pattern))
    return sorted(names)


# -- what the interpreter has, and what review-bot lends it ---------------------------------


def _top_level(dist: importlib.metadata.Distribution) -> list[str]:
    """The top-level files and directories a distribution installed into site-packages."""
    names: list[str] = []
    for file in dist.files or ():
        first = file.parts[0] if file.parts else ""
        if not first or first in ("..", "__pycache__") or first.endswith(".pth"):
            continue
        if first not in names:
            names.append(first)
    return names


def _closure(roots: Sequence[str]) -> list[importlib.metadata.Distribution]:
    """The distributions of `roots` and everything they require here (markers evaluated)."""
    from packaging.requirements import InvalidRequirement, Requirement

    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for text in dist.requires or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(seen.values())


def _modules(dist: importlib.metadata.Distribution) -> list[str]:
    """Importable top-level names of a distribution ("_pytest", "py", ...)."""
    out = []
    for name in _top_level(dist):
        if name.endswith(".dist-info") or name.endswith(".data"):
            continue
        module = name[:-3] if name.endswith(".py") else name
        if module.isidentifier():
            out.append(module)
    return out


def _probe(python: str, names: Sequence[str], jail_setting: str) -> dict[str, object]:
    # In the jail: the interpreter may be a file the repository committed (issue 22: a
    # `venv/bin/python` script ran outside it); the jail's own check already ran it there.
    from review_bot.sandbox import jail as jails

    jail = jails.resolve(jail_setting, python)
    try:
        done = jails.run_alone(jail, python, ["-I", "-c", _PROBE, *names], _PROBE_TIMEOUT_S)
        data = json.loads(done.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        raise FatalError(f"{python}: cannot run it to ask for its version ({exc})") from None
    if not isinstance(data, dict):
        raise FatalError(f"{python}: unexpected answer to a version query")
    return data


def prepare(found: Found, jail_setting: str = "auto") -> Interpreter:
    """Ask the interpreter what it has (in the jail `jail_setting` gives); decide what
    review-bot lends it.

    Raises FatalError (exit 1) when it lacks pytest or coverage and review-bot cannot lend
    them (another Python version): the line says what to install where.
    """
    if found.own:
        version = ".".join(str(n) for n in sys.version_info[:3])
        return Interpreter(found.python, found.why, True, version, ())
    dists = _closure(TOOLS)
    by_module = {module: dist for dist in dists for module in _modules(dist)}
    data = _probe(found.python, sorted({*TOOLS, *by_module}), jail_setting)
    numbers = data.get("version")
    version = ".".join(str(n) for n in numbers) if isinstance(numbers, list) else "?"
    present = set(data.get("found") or ())  # type: ignore[call-overload]
    missing_tools = [tool for tool in TOOLS if tool not in present]
    if not missing_tools:
        return Interpreter(found.python, found.why, False, version, ())
    if data.get("tag") != sys.implementation.cache_tag:
        raise FatalError(
            f"{found.python} (Python {version}, chosen as {found.why}) cannot import "
            f"{' or '.join(missing_tools)}, and review-bot (Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}) cannot lend its own to another "
            f"Python version: run `{found.python} -m pip install pytest coverage`, "
            "or set python"
        )
    # Lend every distribution of the tools' closure the interpreter cannot import itself;
    # one it has already keeps its own version (PYTHONPATH would shadow it otherwise).
    lent = []
    for dist in dists:
        modules = _modules(dist)
        if modules and not all(module in present for module in modules):
            lent.append(dist.metadata["Name"])
    return Interpreter(found.python, found.why, False, version, tuple(lent))


def lend_tools(names: Sequence[str], directory: Path) -> Path:
    """Copy the distributions `names` (and their metadata) from review-bot's site-packages
    into `directory`, for PYTHONPATH. Copies, not links: a run cannot alter review-bot."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        dist = importlib.metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        for entry in _top_level(dist):
            source = base / entry
            destination = directory / entry
            if destination.exists() or not source.exists():
                continue
            if source.is_dir():
                shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, destination)
    return directory


def describe(interp: Interpreter) -> str:
    """One line for doctor and notices: path, version, why, what is lent."""
    text = f"{interp.python} (Python {interp.version}; {interp.why})"
    if interp.lent:
        text += f"; lent from review-bot: {', '.join(interp.lent)}"
    return text
