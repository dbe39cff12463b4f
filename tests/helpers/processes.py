"""Processes a test started: which are still alive, and where."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _live(entry: Path) -> bool:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return False
    # pid (comm) state ...: comm may hold spaces and parentheses. A zombie holds no lock,
    # and whoever reaps orphans here may be slow to.
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def alive(pid: int) -> bool:
    return _live(Path("/proc") / str(pid))


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is `directory` or below it (the hook, its
    worker and its git children all run at the top of the repository)."""
    found = []
    top = os.path.realpath(directory)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (cwd == top or cwd.startswith(top + os.sep)) and _live(entry):
            found.append(int(entry.name))
    return found


def wait_until_none_in(directory: Path, timeout_s: float = 30.0) -> list[int]:
    """Wait until no live process works in `directory`; returns those still there."""
    deadline = time.monotonic() + timeout_s
    while (left := processes_in(directory)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def default_sigint() -> None:
    """preexec_fn for a child that must see Ctrl-C: a test runner started in the
    background of a non-interactive shell ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
