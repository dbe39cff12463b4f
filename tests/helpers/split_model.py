"""Fake split-model packages: data parts in package directories of a site folder of their own,
shaped like the default model's wheels (`<prefix>_partN/data/partNN.bin` and `__init__.py`)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

from review_bot.llm.assemble import Part, SplitModel
from tests.helpers.gguf import write_gguf

_SERIAL = itertools.count()


def fake_gguf(path: Path, size: int) -> bytes:
    """A GGUF header (qwen2, with a name) padded with pseudo-random bytes to `size`."""
    write_gguf(path, {"general.architecture": "qwen2", "general.name": "fake split model"})
    header = path.read_bytes()
    padding = size - len(header)
    data = header + (os.urandom(padding) if padding > 0 else b"")
    path.write_bytes(data)
    return data


def make_split_packages(site: Path, data: bytes, n_parts: int) -> SplitModel:
    """Write `data` as `n_parts` packages under `site`; the spec that assembles them.

    Each call uses fresh package names, so the import system's caches never mix them up.
    """
    prefix = f"fake_split_{os.getpid()}_{next(_SERIAL)}"
    step = -(-len(data) // n_parts)
    parts = []
    for n in range(1, n_parts + 1):
        chunk = data[(n - 1) * step : n * step]
        package = site / f"{prefix}_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise ImportError('never imported')\n")
        (package / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        parts.append(
            Part(
                f"{prefix}_part{n}",
                f"data/part{n:02d}.bin",
                len(chunk),
                hashlib.sha256(chunk).hexdigest(),
                f"{prefix.replace('_', '-')}-part{n}==1.0",
            )
        )
    return SplitModel(
        title="Fake-Coder Q4",
        filename=f"{prefix}.gguf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        parts=tuple(parts),
    )


def spec_json(model: SplitModel) -> str:
    """The spec for a child process (`spec_from_json`)."""
    return json.dumps(model._asdict())


def spec_from_json(text: str) -> SplitModel:
    raw = json.loads(text)
    return SplitModel(**{**raw, "parts": tuple(Part(*p) for p in raw["parts"])})
