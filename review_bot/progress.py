"""How a run tells the person at the terminal what it is doing.

The core reports through the `Progress` protocol and never prints; front ends choose an
implementation. No click here: the hook's worker and the core use it too.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Protocol

# C0 and C1 controls but newline and tab, and DEL: a file name may hold ESC sequences
# that would move the cursor, recolour or retitle the user's terminal (issue 22).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    r"""`text` as the terminal may show it: control characters as `\xNN`, a file name
    that is not UTF-8 (kept as surrogates) with U+FFFD.

    >>> print(terminal_safe("name\x1b]0;owned\x07.py"))
    name\x1b]0;owned\x07.py
    """
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
        message = terminal_safe(message)
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
