"""Finding the model file, describing it, and choosing a strategy for it."""

from __future__ import annotations

from pathlib import Path

from review_bot.cache import file_identity
from review_bot.errors import ModelError
from review_bot.llm import FimTokens, ModelInfo
from review_bot.llm.default_model import (
    DEFAULT_NAME,
    DEFAULT_NOTICE,
    SMOKE_NAME,
    SMOKE_NOTICE,
    packaged_identity,
    packaged_name,
    packaged_path,
)
from review_bot.llm.gguf import FILE_TYPES, read_header
from review_bot.progress import Progress
from review_bot.records import Strategy

# Architectures llama.cpp runs that review-bot has been used with. Others may work but
# a model file of an unknown family is more often a mistake (a vision projector, say).
KNOWN_ARCHS = frozenset(
    {
        "llama",
        "gemma",
        "gemma2",
        "gemma3",
        "qwen2",
        "qwen3",
        "mistral",
        "starcoder2",
        "phi3",
        "deepseek2",
        "granite",
    }
)

_FIM_FAMILIES = (
    # Real CodeLlama GGUFs spell these with a leading "▁"; llama.cpp accepts both, and
    # the prompt must use the vocabulary's own text to hit the special token.
    FimTokens("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", ("▁<EOT>", "<EOT>")),
    FimTokens("codellama", "<PRE>", "<SUF>", "<MID>", ("<EOT>",)),
    FimTokens(
        "codegemma",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        ("<|file_separator|>", "<|fim_prefix|>"),
    ),
)

# Below this size a model rarely writes a passing test but can still propose inputs.
SMALL_MODEL_PARAMS = 1_000_000_000


def resolve_model(
    configured: Path | None, home: Path, progress: Progress | None = None
) -> tuple[Path, bool]:
    """The model file to load and whether it is the default.

    `configured` is `--model` / REVIEW_BOT_MODEL / [tool.review-bot] model: a GGUF path or
    a packaged model's short name; None is the default, assembled on first use.
    """
    name = packaged_name(configured)
    if name is None:
        assert configured is not None
        return configured, False
    return packaged_path(name, home, progress), name == DEFAULT_NAME


def model_identity(configured: Path | None) -> str:
    """What cached results key the model on; cheap (no assembly, no hashing)."""
    name = packaged_name(configured)
    if name is None:
        assert configured is not None
        return file_identity(configured)
    return packaged_identity(name)


def model_notice(configured: Path | None) -> str | None:
    """A line worth showing when a packaged model is in use: what to expect of it."""
    name = packaged_name(configured)
    if name == DEFAULT_NAME:
        return DEFAULT_NOTICE
    if name == SMOKE_NAME:
        return SMOKE_NOTICE
    return None


def reports_disagreements(configured: Path | None, setting: bool | None) -> bool:
    """Whether a run shows oracle repair's disagreements: the `disagreements` setting, else
    on, except for the smoke model, whose expected values are seldom worth a reviewer's time."""
    if setting is not None:
        return setting
    return packaged_name(configured) != SMOKE_NAME


def describe(path: Path, bundled: bool = False) -> ModelInfo:
    """Read a GGUF file's header into a ModelInfo, with one-line errors for bad files."""
    header = read_header(path)
    meta = header.metadata
    arch = str(meta.get("general.architecture", ""))
    if not arch:
        raise ModelError(f"{path}: GGUF file has no architecture")
    if arch not in KNOWN_ARCHS:
        raise ModelError(f"{path}: unsupported model architecture {arch!r}")
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab: list[str] = tokens if isinstance(tokens, list) else []

    def token(key: str) -> str:
        index = meta.get(key)
        if isinstance(index, int) and 0 <= index < len(vocab):
            return vocab[index]
        return ""

    present = set(vocab) if vocab else set()
    fim = next((f for f in _FIM_FAMILIES if {f.prefix, f.suffix, f.middle} <= present), None)
    template = meta.get("tokenizer.chat_template")
    context = meta.get(f"{arch}.context_length")
    file_type = meta.get("general.file_type")
    return ModelInfo(
        path=str(path),
        arch=arch,
        name=str(meta.get("general.name", path.stem)),
        n_params=header.n_params or None,
        context_length=context if isinstance(context, int) else None,
        quantization=FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        chat_template=template if isinstance(template, str) and template.strip() else None,
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
        fim=fim,
        bundled=bundled,
    )


def auto_strategies(info: ModelInfo) -> tuple[Strategy, ...]:
    """Strategies to try in order for `--strategy auto`.

    Instruct models write tests in chat; base and FIM code models complete a
    skeleton. Small models go the other way round: they seldom write a passing
    test, but they can propose inputs, so `cases` comes first for them. Every
    list ends with a fallback, so one strategy's failure is not the last word.
    """
    primary: Strategy = (
        "chat" if info.chat_template and not _prefers_completion(info) else "complete"
    )
    small = info.n_params is not None and info.n_params < SMALL_MODEL_PARAMS
    return ("cases", primary) if small else (primary, "cases")


def _prefers_completion(info: ModelInfo) -> bool:
    # A FIM-capable model whose template is only a stub is a completion model.
    return info.fim is not None and "user" not in (info.chat_template or "")


def stop_tokens(info: ModelInfo) -> tuple[str, ...]:
    """Text stops per family; llama.cpp also stops on the end-of-generation token ids."""
    stops = {
        "<EOT>",
        "<end_of_turn>",
        "</s>",
        "<|im_end|>",
        "<|endoftext|>",
        "<|file_separator|>",
        "<|eot_id|>",
    }
    if info.eos_token:
        stops.add(info.eos_token)
    return tuple(sorted(stops))
