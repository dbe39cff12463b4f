"""Atomic writes: a crash never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from review_bot.errors import FatalError


class OutsideRoot(FatalError):
    """A write that would leave the repository, or go through a symbolic link."""


def check_inside(root: Path, path: Path) -> Path:
    """`path`, once it is sure that writing it stays inside `root`: it lies under `root`
    as written, and no component from `root` down, the file itself included, is a
    symbolic link (issue 22: a committed `build -> /elsewhere` with `testpaths =
    ["build"]` sent a generated test outside the repository; a symlinked module got its
    docstring written into the link's target). Raises OutsideRoot with one line.
    Components that do not exist yet are fine: they are made as directories here.
    """
    base = Path(os.path.abspath(root))
    full = Path(os.path.abspath(path))
    if not full.is_relative_to(base) or full == base:
        raise OutsideRoot(f"{path}: outside the repository {root}; review-bot writes nothing there")
    if base.is_symlink():
        base = base.resolve()
        full = base / Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root)))
    current = base
    for part in full.relative_to(base).parts:
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            break
        if stat.S_ISLNK(info.st_mode):
            shown = current.relative_to(base).as_posix()
            raise OutsideRoot(
                f"{shown}: a symbolic link; review-bot writes only inside the repository, "
                f"never through a link ({full.relative_to(base).as_posix()} not written)"
            )
    return full


def atomic_write(path: Path, text: str, *, root: Path) -> None:
    """Replace `path`'s content with exactly `text` (UTF-8), all or nothing.

    The text goes to a temporary file in the same directory, is flushed to disk, then renamed
    over the original, so a crash never leaves a half-written file. The original's mode is
    kept. `path` must stay inside `root` without a symbolic link on the way (check_inside);
    missing directories are made.
    """
    path = check_inside(root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_inside(root, path)  # nothing was swapped for a link while they were made
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
