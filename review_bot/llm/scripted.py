"""A scripted backend for tests: replies are queued with enqueue(), prompts recorded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from review_bot.llm import Completion, ModelInfo


class Call(NamedTuple):
    prompt: str
    json_schema: dict[str, Any] | None
    stop: tuple[str, ...]


def scripted_info(
    *,
    chat_template: str | None = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
    n_params: int = 7_000_000_000,
    arch: str = "llama",
) -> ModelInfo:
    return ModelInfo(
        path="scripted.gguf",
        arch=arch,
        name="scripted",
        n_params=n_params,
        context_length=4096,
        quantization=None,
        chat_template=chat_template,
        bos_token="<s>",
        eos_token="</s>",
        fim=None,
    )


Reply = str | Callable[[str], str]


class ScriptedBackend:
    def __init__(self, info: ModelInfo | None = None, replies: Sequence[Reply] = ()) -> None:
        self._info = info or scripted_info()
        self.replies: deque[Reply] = deque(replies)
        self.calls: list[Call] = []
        self.default: Reply | None = None  # used when the queue is empty

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def info(self) -> ModelInfo:
        return self._info

    def load_seconds(self) -> float:
        return 0.0

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
        self.calls.append(Call(prompt, json_schema, tuple(stop)))
        if self.replies:
            reply = self.replies.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise AssertionError(f"scripted backend: no reply queued for prompt:\n{prompt}")
        text = reply(prompt) if callable(reply) else reply
        return Completion(text, len(prompt.split()), len(text.split()), 0.0, "stop")
