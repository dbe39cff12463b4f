"""A small reader for GGUF headers: metadata and tensor shapes, without loading weights.

It lets review-bot say clearly what is wrong with a model file (not GGUF, truncated,
unknown architecture) before llama.cpp prints pages of log lines, and lets it choose a
strategy and read the chat template without loading the model.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any, NamedTuple

from review_bot.errors import ModelError

_MAGIC = b"GGUF"
# value type -> struct format of a scalar
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# Arrays we keep; the others (merges, scores, token types) are skipped for speed.
_KEEP_ARRAYS = {"tokenizer.ggml.tokens"}

# llama.cpp's `general.file_type` values, for a readable quantization name.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


class GGUFHeader(NamedTuple):
    version: int
    metadata: dict[str, Any]
    n_params: int  # sum of tensor element counts


_LENGTH = struct.Struct("<Q")


class _Reader:
    def __init__(self, data: mmap.mmap | bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ModelError(f"{self.path}: truncated GGUF file")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.pos + length > len(self.data):
            raise ModelError(f"{self.path}: truncated GGUF file")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.unpack("<Q")
        self.pos += length

    def _strings(self, count: int, keep: bool) -> list[str]:
        data, pos, end = self.data, self.pos, len(self.data)
        length_at = _LENGTH.unpack_from
        out: list[str] = []
        for _ in range(count):
            if pos + 8 > end:
                raise ModelError(f"{self.path}: truncated GGUF file")
            (length,) = length_at(data, pos)
            pos += 8
            if keep:
                out.append(bytes(data[pos : pos + length]).decode("utf-8", errors="replace"))
            pos += length
        if pos > end:
            raise ModelError(f"{self.path}: truncated GGUF file")
        self.pos = pos
        return out

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.unpack("<I")
            count = self.unpack("<Q")
            if itype == _STRING:
                # A vocabulary is 150,000 strings: one tight loop, not a call per string.
                strings = self._strings(count, keep)
                return strings if keep else count
            if not keep:
                if itype in _SCALARS:
                    self.pos += struct.calcsize(_SCALARS[itype]) * count
                    return count
                for _ in range(count):
                    self.value(itype, keep=False)
                return count
            return [self.value(itype, keep=True) for _ in range(count)]
        raise ModelError(f"{self.path}: corrupt GGUF file (unknown value type {vtype})")


def read_header(path: Path) -> GGUFHeader:
    """Parse metadata and tensor infos; raise ModelError with one clear line on bad files."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            if handle.read(4) != _MAGIC:
                raise ModelError(f"{path}: not a GGUF model file")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(_Reader(data, path))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file: {exc.strerror}") from None
    except (ValueError, OverflowError, MemoryError):
        raise ModelError(f"{path}: corrupt GGUF file") from None


def _parse(reader: _Reader) -> GGUFHeader:
    reader.pos = 4
    version = reader.unpack("<I")
    if version not in (2, 3):
        raise ModelError(f"{reader.path}: unsupported GGUF version {version}")
    n_tensors = reader.unpack("<Q")
    n_kv = reader.unpack("<Q")
    if n_kv > 100_000 or n_tensors > 1_000_000:
        raise ModelError(f"{reader.path}: corrupt GGUF file")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string()
        vtype = reader.unpack("<I")
        metadata[key] = reader.value(vtype, keep=key in _KEEP_ARRAYS)
    n_params = 0
    for _ in range(n_tensors):
        reader.skip_string()
        n_dims = reader.unpack("<I")
        if n_dims > 8:
            raise ModelError(f"{reader.path}: corrupt GGUF file")
        count = 1
        for _ in range(n_dims):
            count *= reader.unpack("<Q")
        reader.unpack("<I")  # tensor type
        reader.unpack("<Q")  # offset
        n_params += count
    return GGUFHeader(version, metadata, n_params)
