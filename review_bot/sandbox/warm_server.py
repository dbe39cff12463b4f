"""The warm runner's server: runs *inside* the sandbox, under the project's interpreter.

Standard library only, and no import of review_bot: the file is copied into the sandbox's
private directory and started as a script (`python warm_server.py`) with the same jail,
rlimit-free environment and network guard as any sandboxed command. It imports pytest and
coverage once, then answers requests, one JSON object per line on stdin:

    {"cwd": ..., "argv": ["-m", "pytest", ...], "env": {...}, "path": [...],
     "log": ..., "rlimits": [[which, soft, hard], ...], "timeout_s": 30.0}

For each it forks a child that becomes what `python -m MODULE ARGS` would have been in
`cwd` with that environment (its own session, the rlimits, stdout and stderr to `log`),
waits for it with the deadline, kills what the child left behind, and answers on stdout
`{"started": pid}` then `{"returncode": n, "timed_out": bool}` (a negative returncode is
the signal that ended it).
A fork costs milliseconds where a fresh interpreter that imports pytest costs most of a
second: that is the whole point (issue 10, "fast runs").

What a fork cannot give a run: a new hash seed (str hashes, so set order, are the parent's;
the caller runs the last repeat in a fresh interpreter for that), and anything the parent
imported is already imported (pytest, coverage, installed plugins: imported before any
untrusted code ran, so a candidate cannot change them for the next one).

Two consequences are undone in the child so that a run behaves as a fresh `python -m
pytest` would (issue 21):
- pytest marks every module of a plugin's distribution for assertion rewriting and warns
  (`PytestAssertRewriteWarning: Module already imported so cannot be rewritten`) about
  those already imported; a project with `filterwarnings = error` turns that into a failed
  run. The child tells pytest's hook that the modules this server preloaded are not news;
  every other module (tests, conftest.py files, plugins it did not preload) is rewritten as
  usual. Plugin code's own asserts are then not rewritten: their failure messages are
  plainer, their outcome is the same.
- a plugin that the project itself provides (an editable install of a pytest plugin) is
  never preloaded: its module under test must come from the run's workspace, not from
  the state of the project when the server started. `REVIEW_BOT_WARM_SKIP` names the
  directories whose modules are not preloaded.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from typing import Any

PRELOAD = ("pytest", "_pytest.config", "coverage", "coverage.cmdline")


def _plugin_modules() -> list[str]:
    """The modules of the installed pytest plugins, which pytest imports at every start,
    and their distributions' packages."""
    try:
        from importlib.metadata import entry_points

        found = entry_points(group="pytest11")
    except Exception:
        return []
    modules = [entry.value.split(":")[0] for entry in found]
    # A plugin may import its own package late, in the run (hypothesis's does, at the
    # terminal summary: a third of a second per run): preload that too when it exists.
    for entry in found:
        dist = getattr(entry, "dist", None)
        name = getattr(dist, "name", None) if dist is not None else None
        if name:
            modules.append(name.replace("-", "_").lower())
    return modules


def _outside(name: str, skip: list[str]) -> bool:
    """Whether top-level module `name` is found outside the `skip` directories (found
    without importing it; a module that cannot be found is not preloaded either)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(name.split(".")[0])
    except Exception:
        return False
    if spec is None:
        return False
    places = [spec.origin or "", *(spec.submodule_search_locations or ())]
    for place in places:
        here = os.path.abspath(place) if place else ""
        if any(here == d or here.startswith(d + os.sep) for d in skip):
            return False
    return True


def _quiet_preloaded(preloaded: frozenset[str]) -> None:
    """In a run's child: pytest's rewrite hook does not warn about the modules the server
    preloaded (see the module's docstring); any other already-imported module still warns."""
    try:
        from _pytest.assertion import rewrite
    except Exception:
        return
    hook = getattr(rewrite, "AssertionRewritingHook", None)
    original = getattr(hook, "_warn_already_imported", None)
    if hook is None or original is None:
        return

    def _warn_already_imported(self: Any, name: str) -> None:
        if name not in preloaded:
            original(self, name)

    hook._warn_already_imported = _warn_already_imported


def _base_path() -> list[str]:
    # sys.path without what PYTHONPATH and this script's directory added: each run brings
    # its own PYTHONPATH, as a fresh interpreter would read it.
    here = os.path.dirname(os.path.abspath(__file__))
    added = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    added.add(here)
    return [p for p in sys.path if p and os.path.abspath(p) not in added]


def _own_namespace() -> bool:
    """Whether this server runs in a PID namespace of its own with its own /proc.

    Checked, not assumed: `_kill_rest` on the machine's own /proc would kill every process
    of the user. In bubblewrap's namespace the first process is bwrap itself and we are
    one of the next pids; outside one, our pid is never that small.
    """
    try:
        with open("/proc/1/comm", encoding="utf-8") as comm:
            first = comm.read().strip()
    except OSError:
        return False
    return os.getpid() <= 4 and first == "bwrap"


def _kill_rest(keep: set[int]) -> None:
    """SIGKILL every process of this PID namespace but `keep`: a double-forked survivor
    of a run cannot outlive it."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in keep:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _child(request: dict[str, Any], base_path: list[str], preloaded: frozenset[str]) -> None:
    # In the forked child: become `python -m MODULE ARGS` in request["cwd"].
    try:
        os.setsid()
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        _set_dumpable(True)
        # The client made the log; a link put in its place is not followed.
        fd = os.open(request["log"], os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for which, soft, hard in request["rlimits"]:
            try:
                resource.setrlimit(which, (soft, hard))
            except (OSError, ValueError):
                pass
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:] = [request["cwd"], *request["path"], *base_path]
        sys.dont_write_bytecode = True
        argv = request["argv"]
        if len(argv) < 2 or argv[0] != "-m":
            raise ValueError(f"the warm runner runs `python -m MODULE ...` only, not {argv!r}")
        module = argv[1]
        sys.argv = [module, *argv[2:]]
        if preloaded:
            _quiet_preloaded(preloaded)
        import runpy

        status: object = 0
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            status = exc.code
        if status is None:
            code = 0
        elif isinstance(status, int):
            code = status
        else:
            print(status, file=sys.stderr)
            code = 1
    except BaseException as exc:  # the run's own failure: report it as a fresh python would
        import traceback

        try:
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass
        code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code & 0xFF)


def _set_dumpable(flag: bool) -> None:
    """Linux: a process that is not dumpable cannot be ptraced, nor its memory read or
    written through /proc, by other processes of the same user. The server turns it off
    so that no run can reach into it and change what a later run reports; each run turns
    it back on for itself."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 1 if flag else 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def _wait(pid: int, deadline: float) -> tuple[int, bool]:
    """(status, timed_out): wait for `pid` until `deadline` (monotonic)."""
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1], True
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.02)


def main() -> None:
    _set_dumpable(False)
    namespace = _own_namespace()
    reply = os.fdopen(os.dup(1), "w", encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)  # nothing a library prints may corrupt the replies
    base_path = _base_path()
    skip = [
        os.path.abspath(d)
        for d in os.environ.pop("REVIEW_BOT_WARM_SKIP", "").split(os.pathsep)
        if d
    ]
    loaded = []
    before = set(sys.modules)
    for name in (*PRELOAD, *_plugin_modules()):
        if name not in PRELOAD and not _outside(name, skip):
            continue
        try:
            __import__(name)
            loaded.append(name)
        except BaseException:  # a project without coverage, say: runs of it fail as usual
            pass
    preloaded = frozenset(set(sys.modules) - before)
    keep = {os.getpid(), os.getppid(), 1}
    reply.write(json.dumps({"ready": True, "preloaded": loaded}) + "\n")
    reply.flush()
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            requests.close()
            reply.close()
            _child(request, base_path, preloaded)
        # The client ends the child's session itself if this server dies first.
        reply.write(json.dumps({"started": pid}) + "\n")
        reply.flush()
        status, timed_out = _wait(pid, time.monotonic() + float(request["timeout_s"]))
        try:
            os.killpg(pid, signal.SIGKILL)  # what the run spawned in its session
        except OSError:
            pass
        if namespace:
            _kill_rest(keep)
        while True:  # reap whatever was killed (this server may be their reaper)
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if os.WIFSIGNALED(status):
            code = -os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        reply.write(json.dumps({"returncode": code, "timed_out": timed_out}) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
