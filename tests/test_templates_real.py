"""Chat-template fidelity on real weights: the exact prompt text, the tokens, the stops.

Real CodeLlama and CodeGemma files are gigabytes; their *formatting* lives in the GGUF
metadata, not in the weights. So these tests copy the bundled SmolLM2 GGUF and give the
copy CodeLlama-Instruct's or CodeGemma-it's chat template and special tokens (BOS, EOS,
turn markers, fill-in-the-middle markers), then load the real weights through llama.cpp.
A template-less base model is the real Gemma 3 270M.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from review_bot.llm import Completion, ModelInfo
from review_bot.llm.chat import Message, plain_chat
from review_bot.llm.models import auto_strategies, describe
from review_bot.llm.session import ModelSession
from review_bot.llm.xllamacpp import XllamacppBackend
from tests.helpers.chat_templates import CODELLAMA_TEMPLATE
from tests.helpers.gguf import codegemma_it, codellama_instruct

pytestmark = pytest.mark.model

MESSAGES: list[Message] = [
    {"role": "system", "content": "You write pytest tests."},
    {"role": "user", "content": "Test add()."},
]


class Recorder:
    """The real backend, with every call's prompt and stops recorded."""

    def __init__(self, backend: XllamacppBackend) -> None:
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
    recorder = Recorder(XllamacppBackend(path, n_ctx=512))
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
