"""Processes a test started: who is still alive in a process group."""

from __future__ import annotations

import time
from pathlib import Path


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (zombies excluded: whoever reaps orphans here
    may be slow to, and a zombie holds no lock)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_for_group(pgid: int, timeout_s: float = 30.0) -> list[int]:
    """Wait until no live process is left in group `pgid`; returns those still alive."""
    deadline = time.monotonic() + timeout_s
    while (alive := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive
