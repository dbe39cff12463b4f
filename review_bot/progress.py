"""How a run tells the person at the terminal what it is doing.

The core reports through the `Progress` protocol and never prints; front ends choose an
implementation. No click here: the hook's worker and the core use it too.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Progress(Protocol):
    def status(self, message: str) -> None:
        """What is happening now (replaced by the next status)."""

    def notice(self, message: str) -> None:
        """A line worth keeping on the screen."""


class SilentProgress:
    def status(self, message: str) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


class ConsoleProgress:
    """A spinner on a terminal; plain notice lines when stderr is a pipe or a file."""

    def __init__(self) -> None:
        self._status: Any = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._console = Console(stderr=True)
            self._status = self._console.status("starting")
            self._status.start()

    def status(self, message: str) -> None:
        if self._status is not None:
            self._status.update(message)

    def notice(self, message: str) -> None:
        if self._status is not None:
            self._status.console.print(message, markup=False, highlight=False)
        else:
            try:
                print(message, file=sys.stderr, flush=True)
            except UnicodeEncodeError:  # a file name the terminal's encoding cannot show
                print(message.encode("ascii", "backslashreplace").decode(), file=sys.stderr)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
