"""Chat-template fidelity on real weights: the exact prompt text, the tokens, the stops.

Real CodeLlama and CodeGemma files are gigabytes; their *formatting* lives in the GGUF
metadata, not in the weights. So these tests copy the bundled SmolLM2 GGUF and give the
copy CodeLlama-Instruct's or CodeGemma-it's chat template and special tokens (BOS, EOS,
turn markers, fill-in-the-middle markers), then load the real weights through llama.cpp.
A template-less base model is the real Gemma 3 270M.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from review_bot.llm import Completion, ModelInfo
from review_bot.llm.chat import Message, plain_chat
from review_bot.llm.llamacpp import LlamaCppBackend
from review_bot.llm.models import auto_strategies, describe
from review_bot.llm.session import ModelSession
from tests.test_llm import CODEGEMMA_TEMPLATE, CODELLAMA_TEMPLATE

pytestmark = pytest.mark.model

MESSAGES: list[Message] = [
    {"role": "system", "content": "You write pytest tests."},
    {"role": "user", "content": "Test add()."},
]

# -- a small GGUF metadata rewriter ------------------------------------------------------

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


# -- the tests ---------------------------------------------------------------------------


class Recorder:
    """The real backend, with every call's prompt and stops recorded."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        self.backend = backend
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.results: list[Completion] = []

    def info(self) -> ModelInfo:
        return self.backend.info()

    def load_seconds(self) -> float:
        return self.backend.load_seconds()

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        self.calls.append((prompt, tuple(stop)))
        result = self.backend.complete(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )
        self.results.append(result)
        return result


@pytest.fixture(scope="module")
def codellama_gguf(smollm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return codellama_instruct(smollm, tmp_path_factory.mktemp("codellama") / "codellama.gguf")


@pytest.fixture(scope="module")
def codegemma_gguf(smollm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return codegemma_it(smollm, tmp_path_factory.mktemp("codegemma") / "codegemma.gguf")


def _session(path: Path) -> tuple[ModelSession, Recorder]:
    recorder = Recorder(LlamaCppBackend(path, n_ctx=512))
    return ModelSession(lambda: recorder, max_tokens=12, temperature=0.0), recorder


def test_codellama_instruct_prompt_tokens_and_stops(codellama_gguf: Path) -> None:
    info = describe(codellama_gguf)
    assert (info.chat_template, info.bos_token, info.eos_token) == (
        CODELLAMA_TEMPLATE,
        "<s>",
        "</s>",
    )
    session, recorder = _session(codellama_gguf)
    session.chat(MESSAGES)
    prompt, stops = recorder.calls[0]
    assert prompt == "<s>[INST] <<SYS>>\nYou write pytest tests.\n<</SYS>>\n\nTest add(). [/INST]"
    assert "</s>" in stops
    # The rendered <s> became the one BOS token: not doubled although the model adds BOS.
    tokens = recorder.backend.tokenize(prompt)
    assert tokens[0] == 1 and tokens.count(1) == 1
    assert recorder.results[0].completion_tokens > 0  # real weights generated


def test_codegemma_it_folds_system_and_keeps_turn_tokens(codegemma_gguf: Path) -> None:
    info = describe(codegemma_gguf)
    assert info.fim is not None and info.fim.family == "codegemma"
    assert "<|file_separator|>" in info.fim.stop
    # An instruct model with FIM tokens still chats; a small one proposes cases first.
    assert auto_strategies(info) == ("cases", "chat")
    session, recorder = _session(codegemma_gguf)
    session.chat(MESSAGES)
    prompt, stops = recorder.calls[0]
    assert prompt == (
        "<bos><start_of_turn>user\nYou write pytest tests.\n\nTest add().<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    assert "<end_of_turn>" in stops
    tokens = recorder.backend.tokenize(prompt)
    # Each marker is one control token, as in CodeGemma's own vocabulary.
    assert tokens[:3] == [1, 3, *recorder.backend.tokenize("user")[:1]]
    assert tokens.count(3) == 2 and tokens.count(4) == 1
    fim = recorder.backend.tokenize("<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>")
    assert {5, 6, 7} <= set(fim)
    # SmolLM2 under a foreign template ends its turn at once; a completion shows the
    # weights generate under this vocabulary.
    assert recorder.results[0].finish_reason == "stop"
    assert session.complete("def add(a, b):\n    return", max_tokens=8) != ""


def test_template_less_base_model_gets_a_plain_prompt(gemma_base: Path) -> None:
    info = describe(gemma_base)
    assert info.chat_template is None
    session, recorder = _session(gemma_base)
    session.chat(MESSAGES)
    prompt, stops = recorder.calls[0]
    assert prompt == plain_chat(MESSAGES)
    assert prompt == "### Instruction:\nYou write pytest tests.\n\nTest add().\n\n### Response:\n"
    assert {"<end_of_turn>", "</s>", "<EOT>"} <= set(stops)
    assert recorder.results[0].completion_tokens > 0


def test_rewritten_copy_keeps_the_weights(smollm: Path, codellama_gguf: Path) -> None:
    """The copy differs only in its header: the tensor data section is identical."""
    original, copy = describe(smollm), describe(codellama_gguf)
    assert (original.n_params, original.quantization) == (copy.n_params, copy.quantization)
    tail = 4 << 20
    assert smollm.read_bytes()[-tail:] == codellama_gguf.read_bytes()[-tail:]
