"""Model backends: a Protocol and the records they return (which one runs: core/backends.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol


class FimTokens(NamedTuple):
    """Fill-in-the-middle markers of a code model family."""

    family: str  # "codellama" | "codegemma"
    prefix: str
    suffix: str
    middle: str
    stop: tuple[str, ...]


class ModelInfo(NamedTuple):
    path: str
    arch: str  # general.architecture, e.g. "llama", "gemma", "gemma3"
    name: str
    n_params: int | None
    context_length: int | None
    quantization: str | None
    chat_template: str | None  # the GGUF's own Jinja2 chat template, if any
    bos_token: str
    eos_token: str
    fim: FimTokens | None
    bundled: bool = False


class Completion(NamedTuple):
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str  # "stop" | "length"


class Backend(Protocol):
    """A backend only completes text; chat formatting and strategies live above it."""

    def info(self) -> ModelInfo: ...

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion: ...

    def load_seconds(self) -> float:
        """Time spent loading the model so far (0 until it is loaded)."""
        ...
