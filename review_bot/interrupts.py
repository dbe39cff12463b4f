"""Ctrl-C held back while something must finish: a git that holds a lock, the hook's
writes to the working tree and the index (issue 14).

Inside `deferred_interrupts()` a SIGINT is only recorded, and raised through the handler
in force before (KeyboardInterrupt, as a rule) when the block ends. A repeated SIGINT is
passed to `forward`, if the block gave one (a child that should stop and clean up). Blocks
nest: an inner one hands its interrupt to the outer one. Outside the main thread no handler
can be set and the block runs as it is.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


class Deferred:
    def __init__(self) -> None:
        self.pending = 0
        self.forward: Callable[[], None] | None = None

    def _record(self, signum: int, frame: object) -> None:
        self.pending += 1
        if self.pending > 1 and self.forward is not None:
            self.forward()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[Deferred]:
    deferred = Deferred()
    try:
        previous = signal.signal(signal.SIGINT, deferred._record)
    except ValueError:  # not the main thread
        yield deferred
        return
    try:
        yield deferred
    finally:
        signal.signal(signal.SIGINT, previous)
        if deferred.pending:
            signal.raise_signal(signal.SIGINT)
