from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from review_bot.errors import ModelError
from review_bot.llm.chat import TemplateRejected, fold_system, plain_chat, render_chat
from review_bot.llm.gguf import read_header
from review_bot.llm.models import auto_strategies, describe, resolve_model
from review_bot.llm.scripted import ScriptedBackend, scripted_info
from review_bot.llm.session import ModelSession
from tests.helpers.chat_templates import CODEGEMMA_TEMPLATE, CODELLAMA_TEMPLATE
from tests.helpers.gguf import write_gguf

MESSAGES = [
    {"role": "system", "content": "You write pytest tests."},
    {"role": "user", "content": "Test add()."},
]


def test_codegemma_template_rejects_system_and_review_bot_folds_it() -> None:
    prompt = render_chat(CODEGEMMA_TEMPLATE, MESSAGES, bos_token="<bos>", eos_token="<eos>")
    assert prompt == (
        "<bos><start_of_turn>user\nYou write pytest tests.\n\nTest add().<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_codegemma_template_still_raises_for_other_errors() -> None:
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(TemplateRejected, match="alternate"):
        render_chat(CODEGEMMA_TEMPLATE, bad, bos_token="<bos>", eos_token="<eos>")


def test_codellama_template_keeps_the_system_message() -> None:
    prompt = render_chat(CODELLAMA_TEMPLATE, MESSAGES, bos_token="<s>", eos_token="</s>")
    assert prompt == "<s>[INST] <<SYS>>\nYou write pytest tests.\n<</SYS>>\n\nTest add(). [/INST]"


def test_fold_system_without_user_turn() -> None:
    assert fold_system([{"role": "system", "content": "x"}]) == [{"role": "user", "content": "x"}]
    assert fold_system([]) == []


def test_plain_chat_for_template_less_models() -> None:
    text = plain_chat(MESSAGES)
    assert text.startswith("### Instruction:\nYou write pytest tests.\n\nTest add().")
    assert text.endswith("### Response:\n")


def test_bad_model_files_give_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        read_header(tmp_path / "missing.gguf")
    text = tmp_path / "notes.gguf"
    text.write_text("hello, not a model")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        read_header(text)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 5))
    with pytest.raises(ModelError, match="truncated GGUF file"):
        read_header(truncated)
    odd = write_gguf(tmp_path / "odd.gguf", {"general.architecture": "clip"})
    with pytest.raises(ModelError, match="unsupported model architecture 'clip'"):
        describe(odd)
    with pytest.raises(ModelError, match="not a file"):
        read_header(tmp_path)


def test_truncated_copy_of_the_real_model_is_reported(tmp_path: Path, smollm: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm.read_bytes()[:200_000])
    with pytest.raises(ModelError, match="truncated GGUF file"):
        describe(cut)


def test_describe_smoke_model(smollm: Path) -> None:
    info = describe(smollm)
    assert info.arch == "llama"
    assert info.chat_template is not None and "<|im_start|>" in info.chat_template
    assert info.quantization == "Q4_1"
    assert info.n_params is not None and 100_000_000 < info.n_params < 200_000_000
    assert info.fim is None
    assert info.eos_token == "<|im_end|>"
    # A small chat model proposes inputs first, then falls back to writing tests.
    assert auto_strategies(info) == ("cases", "chat")


def test_describe_template_less_base_model(gemma_base: Path) -> None:
    info = describe(gemma_base)
    assert info.arch == "gemma3"
    assert info.chat_template is None
    assert info.bos_token == "<bos>"
    assert auto_strategies(info) == ("cases", "complete")


def test_auto_strategies_for_large_models() -> None:
    assert auto_strategies(scripted_info()) == ("chat", "cases")
    assert auto_strategies(scripted_info(chat_template=None)) == ("complete", "cases")


def test_resolve_model(tmp_path: Path, smollm: Path) -> None:
    given = tmp_path / "m.gguf"
    assert resolve_model(given, tmp_path) == (given, False)
    assert resolve_model(Path("smollm2"), tmp_path) == (smollm, False)
    # (None, the default, is assembled: tests/test_default_model.py.)


def test_session_is_lazy_and_counts() -> None:
    created: list[int] = []

    def factory() -> ScriptedBackend:
        created.append(1)
        return ScriptedBackend(replies=["hello"])

    session = ModelSession(factory)
    assert not session.started and created == []
    assert session.chat(MESSAGES) == "hello"
    assert created == [1] and session.calls == 1
    backend = session.backend
    assert isinstance(backend, ScriptedBackend)
    # The scripted template shows the system message went through untouched.
    assert backend.calls[0].prompt.startswith("<system>You write pytest tests.")
    assert "<|im_end|>" in backend.calls[0].stop


@pytest.mark.model
def test_real_model_chat_and_grammar(smollm: Path) -> None:
    from review_bot.llm.xllamacpp import XllamacppBackend

    backend = XllamacppBackend(smollm, n_ctx=1024)
    session = ModelSession(lambda: backend, max_tokens=48, temperature=0.0)
    reply = session.chat([{"role": "user", "content": "Write a Python function that adds."}])
    assert reply.strip()
    assert backend.load_seconds() > 0
    schema = {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
        "required": ["cases"],
        "additionalProperties": False,
    }
    constrained = session.chat(
        [{"role": "user", "content": "Give three numbers as JSON."}], json_schema=schema
    )
    data = json.loads(constrained)
    assert set(data) == {"cases"} and all(isinstance(n, int) for n in data["cases"])
    # The chat template of the GGUF itself was used: ChatML markers in the prompt.
    assert session.prompts[0].startswith("<|im_start|>system\n")
    assert session.prompts[0].endswith("<|im_start|>assistant\n")


@pytest.mark.model
def test_real_base_model_completion(gemma_base: Path) -> None:
    from review_bot.llm.xllamacpp import XllamacppBackend

    backend = XllamacppBackend(gemma_base, n_ctx=512)
    tokens = backend.tokenize("<bos>def add(a, b):")
    assert tokens.count(tokens[0]) == 1  # no doubled BOS
    result = backend.complete("def add(a, b):\n", max_tokens=16, temperature=0.0)
    assert result.completion_tokens > 0 and result.text


@pytest.mark.llama_cpp_python
def test_corrupt_weights_fail_at_load(tmp_path: Path, smollm: Path) -> None:
    """A valid header with missing tensor data: llama.cpp refuses; one line, no traceback."""
    from review_bot.llm.llamacpp import LlamaCppBackend

    data = smollm.read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: len(data) // 2])
    backend = LlamaCppBackend(broken, n_ctx=256)
    with pytest.raises(ModelError, match="cannot load the model"):
        backend.complete("x", max_tokens=1, temperature=0.0)
