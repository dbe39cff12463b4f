"""How many CPU threads llama.cpp gets: the `threads` setting, or a default that does not
oversubscribe a busy machine.

llama.cpp with as many threads as cores collapses when another process needs a core (two
review-bot runs with 2 threads each on 2 cores: about 40 s per model call instead of a few
seconds), because its threads wait for each other at every step. So the default is the
physical cores this process may run on, less the cores other processes keep busy, and at
least one. Busy means both: the 1-minute load average (rounded) says the machine has been
busy, and the tasks running right now, this one aside, say it still is; review-bot's own
work before the model loads (coverage runs) raises the load but is not running any more.

>>> auto_threads(physical=4, usable=4, busy=0)
4
>>> auto_threads(physical=2, usable=2, busy=1)
1
>>> auto_threads(physical=8, usable=2, busy=0)
2
>>> busy_cores(load=1.9, running_others=3), busy_cores(load=1.1, running_others=0)
(2, 0)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class Threads(NamedTuple):
    n: int
    why: str  # for doctor: "set", or how the default came about


def auto_threads(*, physical: int, usable: int, busy: int) -> int:
    return max(1, min(physical, usable) - busy)


def busy_cores(*, load: float, running_others: int | None) -> int:
    recent = int(load + 0.5)
    return recent if running_others is None else min(recent, running_others)


def running_others(stat: Path = Path("/proc/stat")) -> int | None:
    """Tasks running now, less this one (Linux's procs_running); None where unknown."""
    try:
        for line in stat.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("procs_running "):
                return max(int(line.split()[1]) - 1, 0)
    except (OSError, ValueError):
        pass
    return None


def physical_cores(cpuinfo: Path = Path("/proc/cpuinfo")) -> int | None:
    """Distinct (physical id, core id) pairs: cores, not hyper-threads (Linux only)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            core = value
        elif not key and core:
            cores.add((physical, core))
            physical = core = ""
    return len(cores) or None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def resolve_threads(setting: int) -> Threads:
    """`setting` > 0 is taken as it is; 0 means the default above."""
    if setting > 0:
        return Threads(setting, "set")
    usable = usable_cpus()
    physical = physical_cores() or usable
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average
        load = 0.0
    others = running_others()
    busy = busy_cores(load=load, running_others=others)
    count = auto_threads(physical=physical, usable=usable, busy=busy)
    now = "" if others is None else f", {others} other tasks running"
    why = f"auto: {physical} physical cores, {usable} usable, load {load:.1f}{now}"
    return Threads(count, why)
