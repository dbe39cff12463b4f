"""GGUF files for tests: a bare header with chosen metadata, and copies of the bundled model
dressed as CodeLlama-Instruct or CodeGemma-it (their chat template and special tokens)."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

from tests.helpers.chat_templates import CODEGEMMA_TEMPLATE, CODELLAMA_TEMPLATE


def write_gguf(path: Path, kv: dict[str, str], tensors: int = 0) -> Path:
    """A GGUF header alone: `kv` as string values, `tensors` as the tensor count."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, tensors, len(kv)))
    for key, value in kv.items():
        raw_key, raw_value = key.encode(), value.encode()
        out += struct.pack("<Q", len(raw_key)) + raw_key + struct.pack("<I", 8)
        out += struct.pack("<Q", len(raw_value)) + raw_value
    path.write_bytes(bytes(out))
    return path


# -- rewritten copies of a real model ------------------------------------------------------

_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _BOOL = 8, 9, 7
_TOKENS = "tokenizer.ggml.tokens"


def _skip(data: bytes, pos: int, vtype: int) -> int:
    if vtype in _SIZES:
        return pos + _SIZES[vtype]
    if vtype == _STRING:
        (length,) = struct.unpack_from("<Q", data, pos)
        return pos + 8 + length
    assert vtype == _ARRAY, vtype
    itype, count = struct.unpack_from("<IQ", data, pos)
    pos += 12
    if itype in _SIZES:
        return pos + _SIZES[itype] * count
    for _ in range(count):
        pos = _skip(data, pos, itype)
    return pos


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(value: str | bool) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return _BOOL, struct.pack("<?", value)
    return _STRING, _string(value)


def _strings(data: bytes, pos: int) -> list[str]:
    itype, count = struct.unpack_from("<IQ", data, pos)
    assert itype == _STRING
    pos += 12
    out = []
    for _ in range(count):
        (length,) = struct.unpack_from("<Q", data, pos)
        out.append(data[pos + 8 : pos + 8 + length].decode("utf-8"))
        pos += 8 + length
    return out


def rewrite_gguf(
    source: Path,
    dest: Path,
    *,
    values: Mapping[str, str | bool] | None = None,
    tokens: Mapping[int, str] | None = None,
) -> Path:
    """A copy of `source` with metadata `values` set and vocabulary entries renamed.

    Tensor data is copied byte for byte; only the header is rebuilt, padded to the file's
    alignment, so tensor offsets (relative to the data section) stay valid.
    """
    values = dict(values or {})
    data = source.read_bytes()
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    pos = 24
    alignment = 32
    entries: list[bytes] = []
    for _ in range(n_kv):
        (length,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8 : pos + 8 + length].decode("utf-8")
        pos += 8 + length
        (vtype,) = struct.unpack_from("<I", data, pos)
        pos += 4
        end = _skip(data, pos, vtype)
        raw = data[pos:end]
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", data, pos)
        if key in values:
            vtype, raw = _value(values.pop(key))
        elif key == _TOKENS and tokens:
            vocab = _strings(data, pos)
            for index, text in tokens.items():
                vocab[index] = text
            raw = struct.pack("<IQ", _STRING, len(vocab)) + b"".join(_string(t) for t in vocab)
        entries.append(_string(key) + struct.pack("<I", vtype) + raw)
        pos = end
    for key, value in values.items():  # keys the source did not have
        vtype, raw = _value(value)
        entries.append(_string(key) + struct.pack("<I", vtype) + raw)
    infos_start = pos
    for _ in range(n_tensors):
        pos = _skip(data, pos, _STRING)
        (n_dims,) = struct.unpack_from("<I", data, pos)
        pos += 4 + 8 * n_dims + 4 + 8
    data_start = -(-pos // alignment) * alignment
    header = bytearray(b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(entries)))
    for entry in entries:
        header += entry
    header += data[infos_start:pos]
    header += b"\0" * (-len(header) % alignment)
    with dest.open("wb") as out:
        out.write(header)
        out.write(memoryview(data)[data_start:])
    return dest


def codellama_instruct(smollm: Path, dest: Path) -> Path:
    """SmolLM2 weights formatted as CodeLlama-Instruct: [INST], <s> BOS, </s> EOS.

    The renamed ids are SmolLM2's own BOS/EOS, so the model still ends its turns on
    the EOS id; add_bos_token is true, as in CodeLlama's files.
    """
    return rewrite_gguf(
        smollm,
        dest,
        values={
            "tokenizer.chat_template": CODELLAMA_TEMPLATE,
            "tokenizer.ggml.add_bos_token": True,
            "general.name": "CodeLlama-Instruct stand-in",
        },
        tokens={1: "<s>", 2: "</s>"},
    )


def codegemma_it(smollm: Path, dest: Path) -> Path:
    """SmolLM2 weights formatted as CodeGemma-it: turns, no system role, FIM tokens."""
    return rewrite_gguf(
        smollm,
        dest,
        values={
            "tokenizer.chat_template": CODEGEMMA_TEMPLATE,
            "general.name": "CodeGemma-it stand-in",
        },
        # SmolLM2's control tokens 3-9 are unused special tokens: renaming them keeps
        # them single control tokens, as in CodeGemma's vocabulary.
        tokens={
            1: "<bos>",
            2: "<eos>",
            3: "<start_of_turn>",
            4: "<end_of_turn>",
            5: "<|fim_prefix|>",
            6: "<|fim_suffix|>",
            7: "<|fim_middle|>",
            8: "<|file_separator|>",
        },
    )
