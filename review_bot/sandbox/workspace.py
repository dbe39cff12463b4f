"""The only place that executes generated (untrusted) code.

API::

    limits = Limits(timeout_s=30.0, memory_mb=2048, cpu_s=30)
    with Sandbox(project_root, limits, python=sys.executable, extra_path=()) as sandbox:
        with sandbox.workspace({"tests/test_gen.py": code}) as ws:
            result = ws.run(["python", "-m", "pytest", "tests/test_gen.py"])
            result.returncode, result.output, result.timed_out, result.seconds
            ws.read(".rb_junit.xml")  # a file the run produced, or None

- `Sandbox(root, limits, python, extra_path)` runs `python` (the project's interpreter,
  chosen by interpreter.py) with `extra_path` (absolute directories) after the workspace
  on PYTHONPATH; it copies the project once into a private temporary
  directory (the *pristine* copy); `close()` (or leaving the `with`) removes everything.
- `Sandbox.workspace(files)` yields a `Workspace`: a fresh copy of the pristine tree plus
  `files` (relpath -> text). It is removed when the `with` block ends.
- `Workspace.run(argv, timeout_s=None, pythonpath=())` runs one command with cwd = the
  workspace and returns a `RunResult`; it never raises because the command failed. An
  `argv[0]` of "python" means the sandbox's interpreter.
- `Sandbox(..., jail="auto")` puts every run in the jail of jail.py (bubblewrap on Linux,
  sandbox-exec on macOS) where one works; `sandbox.jail` says which and why; without one,
  `sandbox.isolation` says which network blocking runs get (guard.py).

What a run gets:

- a scrubbed environment built from an allowlist (no tokens, no PYTEST_*/COVERAGE_*), with
  HOME and TMPDIR in private per-workspace directories and PYTHONPATH = the workspace
  (then `extra_path`);
- rlimits: address space (memory_mb), CPU seconds (cpu_s), file size (256 MB), no core files;
- its own session: on the wall-clock timeout, and after every run, the whole process group
  is killed with SIGKILL, so nothing it spawned outlives it;
- no network: a network namespace when the OS allows one, and always a `sitecustomize`
  (guard.py) that makes connections to non-loopback addresses raise OSError before any
  packet is sent.

In the jail, hostile code cannot write outside its workspace, read the user's home or the
project's .git, reach the network, signal or outlive review-bot (docs/sandbox.md). Without
one (jail = none, or no bwrap), the guards above keep honest tests from touching the
user's tree, but deliberately hostile code can still write through absolute paths.
POSIX only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from review_bot.sandbox import jail as jails
from review_bot.sandbox.guard import Isolation, guard_source, network_isolation, unshare_prefix
from review_bot.sandbox.warm import SERVER_SOURCE, WarmRunner

__all__ = [
    "IGNORED_NAMES",
    "MAX_FILE_BYTES",
    "OUTPUT_LIMIT",
    "Limits",
    "RunResult",
    "Sandbox",
    "Workspace",
    "is_ignored",
]

# Never copied into the sandbox (nor searched for tests): VCS data, caches, environments.
IGNORED_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".review-bot-cache",
    }
)
# These names are also common package names (`mypkg/build/`, `env/` settings packages);
# they are skipped only when they are not a regular package.
_IGNORED_UNLESS_PACKAGE = frozenset({"venv", "env", "build", "dist"})
MAX_FILE_BYTES = 5 * 1024 * 1024
OUTPUT_LIMIT = 20_000  # bytes of output kept: the tail, where pytest puts its summary
_FSIZE_BYTES = 256 * 1024 * 1024
_ENV_ALLOWLIST = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")


class Limits(NamedTuple):
    timeout_s: float  # wall clock per run
    memory_mb: int  # RLIMIT_AS per process
    cpu_s: int  # RLIMIT_CPU per process


class RunResult(NamedTuple):
    returncode: int  # negative signal number if killed; -9 after a timeout kill
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT bytes
    timed_out: bool
    seconds: float


def is_ignored(directory: Path, name: str) -> bool:
    """Whether the entry `name` of `directory` is left out of copies and test searches."""
    if name in IGNORED_NAMES or name.endswith(".egg-info"):
        return True
    return name in _IGNORED_UNLESS_PACKAGE and not (directory / name / "__init__.py").is_file()


def _clamped_limits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    # Computed in the parent: an exception inside preexec_fn surfaces only as an opaque
    # SubprocessError, and an unprivileged process cannot raise a hard limit.
    wanted = [
        (resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024, limits.memory_mb * 1024 * 1024),
        # The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
        (resource.RLIMIT_FSIZE, _FSIZE_BYTES, _FSIZE_BYTES),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    clamped = []
    for which, soft, hard in wanted:
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
        clamped.append((which, (min(soft, hard), hard)))
    return clamped


def _preexec(limits: Sequence[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    # Runs in the forked child, possibly beside the model's threads: it only calls
    # setrlimit, taking no lock and importing nothing.
    def apply() -> None:
        for which, value in limits:
            try:
                resource.setrlimit(which, value)
            except (OSError, ValueError):  # pragma: no cover (macOS refuses some RLIMIT_AS)
                pass  # one limit the OS refuses must not make every run fail

    return apply


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError:
        # A test may leave a directory without permissions; restore them and retry.
        # Symlinks are skipped: chmod would follow them out of the sandbox.
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                child = os.path.join(dirpath, name)
                if not os.path.islink(child):
                    with contextlib.suppress(OSError):
                        os.chmod(child, stat.S_IRWXU)
        shutil.rmtree(path, ignore_errors=True)


def _read_output(log: IO[bytes]) -> str:
    size = os.fstat(log.fileno()).st_size
    start = max(0, size - OUTPUT_LIMIT)
    log.seek(start)
    text = log.read().decode("utf-8", errors="replace")
    if start:
        # Drop the partial first line so the output starts cleanly.
        newline = text.find("\n")
        if 0 <= newline < 200:
            text = text[newline + 1 :]
        text = f"[review-bot: {start} earlier bytes of output dropped]\n{text}"
    return text


def _inside(path: Path, relpath: str) -> Path:
    """`path / relpath`, refusing anything that leads out of `path` (.., absolute, links)."""
    if os.path.isabs(relpath):
        raise ValueError(f"not a relative path: {relpath!r}")
    candidate = path / relpath
    if not candidate.parent.resolve().is_relative_to(path) or candidate.name in ("", ".", ".."):
        raise ValueError(f"path leaves the workspace: {relpath!r}")
    return candidate


class Workspace:
    """A fresh copy of the sandbox's pristine tree in which commands run."""

    def __init__(self, sandbox: Sandbox, path: Path, home: Path, tmp: Path) -> None:
        self.path = path
        self._sandbox = sandbox
        self._home = home
        self._tmp = tmp

    @property
    def tmp(self) -> Path:
        return self._tmp

    def environment(self, pythonpath: Sequence[str] = ()) -> dict[str, str]:
        """The complete environment of a run; nothing else of the parent's passes."""
        env = {name: os.environ[name] for name in _ENV_ALLOWLIST if name in os.environ}
        path = env.get("PATH", os.defpath)
        python = self._sandbox.python
        if os.path.isabs(python):
            # As an activated virtualenv would: `python` and console scripts of the
            # sandbox's interpreter come first for tests that shell out.
            path = os.pathsep.join((os.path.dirname(python), path))
        entries = [str(self._sandbox.guard_dir)]
        entries += [str(_inside(self.path, entry)) for entry in pythonpath]
        entries.append(str(self.path))
        entries += self._sandbox.extra_path
        env.update(
            PATH=path,
            HOME=str(self._home),
            TMPDIR=str(self._tmp),
            PYTHONPATH=os.pathsep.join(entries),
            PYTHONDONTWRITEBYTECODE="1",
            # The output is decoded as UTF-8, whatever the user's locale.
            PYTHONIOENCODING="utf-8",
        )
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float | None = None,
        pythonpath: Sequence[str] = (),
        fresh: bool = False,
    ) -> RunResult:
        """Run `argv` in the workspace; `pythonpath` entries are workspace relpaths.

        `python -m MODULE ...` runs in a fork of the sandbox's warm interpreter (when the
        sandbox has one) unless `fresh`: then, like any other command, in a new process.
        """
        if not argv:
            raise ValueError("empty command")
        sandbox = self._sandbox
        timeout = sandbox.limits.timeout_s if timeout_s is None else timeout_s
        command = list(argv)
        env = self.environment(pythonpath)
        if not fresh and command[:2] == ["python", "-m"] and len(command) > 2:
            warm = self._run_warm(command[1:], env, timeout)
            if warm is not None:
                return warm
        if command[0] == "python":
            command[0] = sandbox.python
        command = [*sandbox.prefix(self, env), *command]
        # Output goes to an anonymous file, not a pipe: a leftover grandchild holding a
        # pipe open would keep us waiting for EOF until the timeout.
        with tempfile.TemporaryFile(dir=sandbox.private_dir) as log:
            start = time.monotonic()
            try:
                process = subprocess.Popen(
                    command,
                    cwd=self.path,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_preexec(sandbox.rlimits),
                )
            except OSError as exc:
                # E.g. a previous run deleted its own workspace: the run's failure, not ours.
                message = f"review-bot sandbox: cannot start {argv[0]!r}: {exc}"
                return RunResult(127, message, False, time.monotonic() - start)
            timed_out = False
            try:
                timed_out = not _wait_unreaped(process.pid, start + timeout)
            finally:
                # The leader is alive or a zombie here, so its group id cannot have been
                # reused: this reaches exactly what the run spawned (Ctrl-C included).
                _kill_group(process.pid)
                returncode = jails.returncode(sandbox.jail, process.wait())
            seconds = time.monotonic() - start
            return RunResult(returncode, _read_output(log), timed_out, seconds)

    def _run_warm(
        self, argv: Sequence[str], env: Mapping[str, str], timeout: float
    ) -> RunResult | None:
        """The run in a fork of the warm interpreter; None when there is none."""
        runner = self._sandbox.warm_runner()
        if runner is None:
            return None
        # The log is created here, under a name no earlier run could guess, and read back
        # through this descriptor: whatever the run does to the path, review-bot reads
        # only the file it made (the server's child opens it without following links).
        log_path = self.path.parent / f"log-{secrets.token_hex(8)}"
        fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w+b") as log:
            start = time.monotonic()
            outcome = runner.run(
                cwd=self.path,
                argv=argv,
                env=env,
                path=[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p],
                log=log_path,
                rlimits=self._sandbox.rlimits,
                timeout_s=timeout,
            )
            seconds = time.monotonic() - start
            with contextlib.suppress(OSError):
                log_path.unlink()
            if outcome is None:
                return None
            output = _read_output(log)
        if outcome.note:
            output += f"\n[review-bot sandbox: {outcome.note}]"
        return RunResult(outcome.returncode, output, outcome.timed_out, seconds)

    def read(self, relpath: str) -> str | None:
        """A file the run produced, decoded as UTF-8; None if absent or not a regular file."""
        try:
            path = _inside(self.path, relpath)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        with os.fdopen(fd, "rb") as file:
            return file.read().decode("utf-8", errors="replace")

    def write(self, relpath: str, text: str) -> None:
        """Create or replace a file in the workspace (parents created)."""
        path = _inside(self.path, relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # a previous run may have pointed it outside the workspace
        path.write_text(text, encoding="utf-8")


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait until `pid` exits, without reaping it; False if the deadline passed first."""
    delay = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped behind our back (SIGCHLD ignored)
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.02)


class Sandbox:
    """A pristine copy of the project made once per review-bot run; each workspace is a
    fresh copy of it."""

    def __init__(
        self,
        root: Path,
        limits: Limits,
        python: str = sys.executable,
        extra_path: Sequence[str] = (),
        jail: str = "auto",
        warm: bool = True,
        checkout: Path | None = None,
    ) -> None:
        root = Path(root).resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"not a directory: {root}")
        self.root = root
        self.limits = limits
        self.python = python
        # Absolute directories after the workspace on PYTHONPATH: the tools review-bot
        # lends an interpreter that lacks them (interpreter.lend_tools).
        self.extra_path = [str(entry) for entry in extra_path]
        self.jail = jails.resolve(jail, python)
        self.isolation: Isolation = (
            "jail" if self.jail.kind != "none" else network_isolation(python)
        )
        self.rlimits = _clamped_limits(limits)
        # realpath: on macOS the temporary directory is reached through a symlink.
        self.private_dir = Path(tempfile.mkdtemp(prefix="review-bot-sandbox-")).resolve()
        self._finalizer = weakref.finalize(self, _remove_tree, self.private_dir)
        self._name = root.name or "project"
        self._counter = itertools.count(1)
        self.guard_dir = self.private_dir / "guard"
        self.guard_dir.mkdir()
        (self.guard_dir / "sitecustomize.py").write_text(
            guard_source(self.isolation), encoding="utf-8"
        )
        self.pristine = self.private_dir / "pristine" / self._name
        # Workspaces live under `work`, which the warm interpreter's jail may write.
        self.work_dir = self.private_dir / "work"
        self.work_dir.mkdir()
        self._warm: WarmRunner | None = None
        self._warm_wanted = warm
        # The project's own code (the copied root, and the checkout it was exported from,
        # where an editable install points): never preloaded by the warm interpreter.
        self.own_code = [root] + ([Path(checkout).resolve()] if checkout is not None else [])
        self._copy_project()

    def _copy_project(self) -> None:
        def ignore(directory: str, names: list[str]) -> set[str]:
            here = Path(directory)
            skipped = set()
            for name in names:
                path = here / name
                if is_ignored(here, name) or path == self.private_dir:
                    skipped.add(name)
                    continue
                try:
                    info = path.lstat()
                except OSError:
                    skipped.add(name)
                    continue
                if stat.S_ISREG(info.st_mode):
                    if info.st_size > MAX_FILE_BYTES:
                        skipped.add(name)
                elif not (stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                    skipped.add(name)  # sockets, FIFOs (copying a FIFO would block), devices
            return skipped

        try:
            shutil.copytree(self.root, self.pristine, symlinks=True, ignore=ignore)
        except shutil.Error:
            pass  # unreadable files are left out, like oversized ones; the rest is copied
        self._relink_absolute_links()

    def _relink_absolute_links(self) -> None:
        # An absolute link into the project would let a run write to the original tree;
        # point it at the same file of the copy, relatively, so every workspace keeps it.
        for dirpath, dirnames, filenames in os.walk(self.pristine):
            for name in (*dirnames, *filenames):
                link = Path(dirpath, name)
                if not link.is_symlink():
                    continue
                target = Path(os.readlink(link))
                if target.is_absolute() and target.is_relative_to(self.root):
                    inside = self.pristine / target.relative_to(self.root)
                    link.unlink()
                    link.symlink_to(os.path.relpath(inside, link.parent))

    def prefix(self, workspace: Workspace, env: Mapping[str, str]) -> list[str]:
        """What goes before a command of `workspace`: the jail, else a network namespace."""
        if self.jail.kind == "none":
            return list(unshare_prefix(self.python))
        layout = jails.Layout(
            workspace=workspace.path.parent,
            tmp=workspace.tmp,
            cwd=workspace.path,
            project_root=self.root,
            private_dir=self.private_dir,
            readable=[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p],
        )
        return jails.command_prefix(self.jail, self.python, layout)

    def warm_runner(self) -> WarmRunner | None:
        """The warm interpreter that forks per `python -m` run, started on first use; None
        when turned off or when it could not start (runs are then fresh processes)."""
        if not self._warm_wanted:
            return None
        if self._warm is None:
            server_dir = self.private_dir / "warm"
            server_dir.mkdir()
            script = server_dir / SERVER_SOURCE.name
            shutil.copyfile(SERVER_SOURCE, script)
            home, tmp = self.work_dir / "server-home", self.work_dir / "server-tmp"
            home.mkdir()
            tmp.mkdir()
            env = {name: os.environ[name] for name in _ENV_ALLOWLIST if name in os.environ}
            env.update(
                HOME=str(home),
                TMPDIR=str(tmp),
                # The guard (sitecustomize) is imported once here, so every fork has it;
                # the lent tools make pytest and coverage importable for the preload.
                PYTHONPATH=os.pathsep.join([str(self.guard_dir), *self.extra_path]),
                PYTHONDONTWRITEBYTECODE="1",
                PYTHONIOENCODING="utf-8",
                REVIEW_BOT_WARM_SKIP=os.pathsep.join(str(d) for d in self.own_code),
            )
            if self.jail.kind == "none":
                prefix = list(unshare_prefix(self.python))
            else:
                layout = jails.Layout(
                    workspace=self.work_dir,
                    tmp=tmp,
                    cwd=self.work_dir,
                    project_root=self.root,
                    private_dir=self.private_dir,
                    readable=[str(self.guard_dir), str(server_dir), *self.extra_path],
                )
                prefix = jails.command_prefix(self.jail, self.python, layout)
            self._warm = WarmRunner(
                [*prefix, self.python, str(script)],
                env=env,
                cwd=self.work_dir,
                own_pid_namespace=self.jail.kind == "bwrap",
            )
        return None if self._warm.broken else self._warm

    @contextlib.contextmanager
    def workspace(self, files: Mapping[str, str] | None = None) -> Iterator[Workspace]:
        """A fresh copy of the pristine tree plus `files` (relpath -> text)."""
        # A random name: a run in the warm interpreter may write anywhere under `work`,
        # and must not be able to prepare a later workspace.
        base = Path(tempfile.mkdtemp(prefix=f"ws-{next(self._counter)}-", dir=self.work_dir))
        home, tmp = base / "home", base / "tmp"
        home.mkdir()
        tmp.mkdir()
        path = base / self._name
        try:
            shutil.copytree(self.pristine, path, symlinks=True)
            workspace = Workspace(self, path, home, tmp)
            for relpath, text in (files or {}).items():
                workspace.write(relpath, text)
            yield workspace
        finally:
            _remove_tree(base)

    def close(self) -> None:
        """Stop the warm interpreter and remove the private directory (idempotent)."""
        if self._warm is not None:
            self._warm.close()
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
