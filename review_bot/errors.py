"""One error type for everything the user can fix, and the exit codes we document."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FATAL = 1  # a problem with input, model or environment; one line on stderr
EXIT_USAGE = 2  # click's usage errors
EXIT_BUG = 3  # an unexpected exception: a bug in review-bot
EXIT_INTERRUPTED = 130


class FatalError(RuntimeError):
    """A problem the user can act on; printed as one line, exit code 1."""


class ModelError(FatalError):
    """The model file is missing, corrupt or cannot be loaded."""


class SourceError(FatalError):
    """The input file is not a readable Python source file."""
