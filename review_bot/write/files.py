"""Atomic writes: a crash never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Replace `path`'s content with exactly `text` (UTF-8), all or nothing.

    The text goes to a temporary file in the same directory, is flushed to disk, then renamed
    over the original, so a crash never leaves a half-written file. The original's mode is
    kept; a symlink is followed, so the link stays and its target gets the new text.
    """
    path = path.resolve() if path.is_symlink() else path
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the usual 0o666 less the umask
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # os.open applied the umask; the original mode wins
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename itself is durable only once the directory is synced; not every platform
    # (Windows) or file system lets a directory be opened for that, which is harmless.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
