"""One model per run: created lazily, timed, and spoken to in chat or completion form."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from review_bot.llm import Backend, Completion, ModelInfo
from review_bot.llm.chat import Message, plain_chat, render_chat
from review_bot.llm.models import stop_tokens


@runtime_checkable
class ChatBackend(Backend, Protocol):
    """A backend that formats chat itself: a server applying the model's own template.

    The session sends it messages instead of a prompt rendered here (see llm/openai.py
    for when the server backend does this).
    """

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion: ...


class ModelSession:
    """Wraps a backend so that nothing is loaded until the first real model call."""

    def __init__(
        self,
        factory: Callable[[], Backend],
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
        on_first_use: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self._backend: Backend | None = None
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._on_first_use = on_first_use
        self.calls = 0
        self.generate_s = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.prompts: list[str] = []  # every prompt sent, for --verbose and tests
        self.last_cut = False  # the last reply stopped at max_tokens, not on its own

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self._on_first_use is not None:
                self._on_first_use()
            self._backend = self._factory()
        return self._backend

    @property
    def started(self) -> bool:
        return self._backend is not None

    def info(self) -> ModelInfo:
        return self.backend.info()

    @property
    def model_s(self) -> float:
        """Seconds spent in the model: loading (lazy, inside the first call) and generating."""
        return self.generate_s

    @property
    def load_s(self) -> float:
        return self._backend.load_seconds() if self._backend is not None else 0.0

    def render(self, messages: Sequence[Message]) -> str:
        info = self.info()
        if info.chat_template:
            return render_chat(
                info.chat_template, messages, bos_token=info.bos_token, eos_token=info.eos_token
            )
        return plain_chat(messages)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> str:
        backend = self.backend
        if isinstance(backend, ChatBackend):
            stops = stop_tokens(backend.info())
            start = time.perf_counter()
            result = backend.chat(
                messages,
                max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature if temperature is None else temperature,
                stop=stops,
                json_schema=json_schema,
                seed=seed,
            )
            # What was sent is the messages themselves; recorded as JSON.
            return self._account(result, json.dumps(list(messages), ensure_ascii=False), start)
        return self.complete(
            self.render(messages),
            json_schema=json_schema,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
        )

    def close(self) -> None:
        """Release the backend's resources (a server backend's connections), if any."""
        close = getattr(self._backend, "close", None)
        if callable(close):
            close()

    def complete(
        self,
        prompt: str,
        *,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> str:
        backend = self.backend
        stops = tuple(dict.fromkeys([*stop, *stop_tokens(backend.info())]))
        start = time.perf_counter()
        result = backend.complete(
            prompt,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature if temperature is None else temperature,
            stop=stops,
            json_schema=json_schema,
            seed=seed,
        )
        return self._account(result, prompt, start)

    def _account(self, result: Completion, prompt: str, start: float) -> str:
        # Wall time, not the backend's own figure, so that a slow tokenizer or a
        # grammar compile counts as model time too.
        self.generate_s += time.perf_counter() - start
        self.calls += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.last_cut = result.finish_reason == "length"
        self.prompts.append(prompt)
        return result.text
