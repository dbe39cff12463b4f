"""How many CPU threads llama.cpp gets: the `threads` setting, or a default that does not
oversubscribe a busy machine.

llama.cpp with as many threads as cores collapses when another process needs a core (two
review-bot runs with 2 threads each on 2 cores: about 40 s per model call instead of a few
seconds), because its threads wait for each other at every step. So the default is the
physical cores this process may run on, less the cores other processes keep busy now, and
at least one. Busy now: the tasks running besides this one, the median of a few samples
taken 10 ms apart (Linux's procs_running), so that a passing spike does not count and a
process that has just started does (the load average lags by a minute, and it counts
review-bot's own coverage runs before the model loads). Where that cannot be read, the
1-minute load average, rounded.

>>> auto_threads(physical=4, usable=4, busy=0)
4
>>> auto_threads(physical=2, usable=2, busy=1)
1
>>> auto_threads(physical=8, usable=2, busy=0)
2
>>> busy_cores(load=0.1, running_others=[2, 3, 2, 0, 2]), busy_cores(load=1.1, running_others=[])
(2, 1)

The load changes while a run goes on (a build starts beside a commit): in process, the
default is taken again before every model call, and an engine with more threads than the
machine now has free is reloaded with fewer (`fewer_threads`); a reload costs about 2 s,
two threads where one core is free cost a tenfold slowdown (issue 23). A resident server
(`review-bot serve`) cannot follow the load: it defaults to half the physical cores.

>>> fewer_threads(loaded=2, now=1), fewer_threads(loaded=1, now=2), fewer_threads(loaded=1, now=1)
(1, None, None)
>>> server_threads(physical=2), server_threads(physical=16), server_threads(physical=1)
(1, 8, 1)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class Threads(NamedTuple):
    n: int
    why: str  # for doctor: "set", or how the default came about


def auto_threads(*, physical: int, usable: int, busy: int) -> int:
    return max(1, min(physical, usable) - busy)


def fewer_threads(*, loaded: int, now: int) -> int | None:
    """The thread count to reload an engine with before a call, or None to keep it: only
    fewer than it was loaded with (more would gain less than the reload costs)."""
    return now if now < loaded else None


def threads_for_call(*, follow_load: bool, loaded: int) -> int | None:
    """Before a model call in process: the thread count to reload the engine with, or
    None to keep it. Only an engine loaded under the default (`follow_load`: the `threads`
    setting is 0) follows the load; a count the user set is never changed."""
    if not follow_load:
        return None
    return fewer_threads(loaded=loaded, now=resolve_threads(0).n)


def server_threads(*, physical: int) -> int:
    """A resident server's default: half the physical cores, at least one."""
    return max(1, physical // 2)


def default_server_threads() -> int:
    return server_threads(physical=physical_cores() or usable_cpus())


def busy_cores(*, load: float, running_others: Sequence[int]) -> int:
    if not running_others:
        return int(load + 0.5)
    return sorted(running_others)[len(running_others) // 2]


def running_others(
    stat: Path = Path("/proc/stat"), tasks: Path = Path("/proc/self/task")
) -> int | None:
    """Tasks running now, less this process's own (Linux's procs_running, less the threads
    of this process that are running: llama.cpp's threads spin on for a moment after a
    call, and are not another process's load); None where unknown."""
    try:
        for line in stat.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("procs_running "):
                return max(int(line.split()[1]) - own_running(tasks), 0)
    except (OSError, ValueError):
        pass
    return None


def own_running(tasks: Path = Path("/proc/self/task")) -> int:
    """This process's threads in state R, this one included (at least 1)."""
    running = 0
    try:
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                fields = (task / "stat").read_bytes().rsplit(b")", 1)[1].split()
                running += bool(fields) and fields[0] == b"R"
    except OSError:
        pass
    return max(running, 1)


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
    samples: list[int] = []
    for i in range(5):
        if i:
            time.sleep(0.01)
        sample = running_others()
        if sample is None:
            break
        samples.append(sample)
    busy = busy_cores(load=load, running_others=samples)
    count = auto_threads(physical=physical, usable=usable, busy=busy)
    why = f"auto: {physical} physical cores, {usable} usable, {busy} busy"
    return Threads(count, why)
