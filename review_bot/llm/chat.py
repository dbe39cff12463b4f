"""Chat formatting from the GGUF's own Jinja2 chat template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, TypedDict

import jinja2
import jinja2.sandbox


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class TemplateRejected(jinja2.TemplateError):
    """The template called raise_exception(), e.g. "System role not supported"."""


def _raise_exception(message: str) -> NoReturn:
    raise TemplateRejected(message)


def _environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    # Chat templates come from model files: render them in Jinja2's sandbox, as
    # transformers and llama-cpp-python do.
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    env.globals["raise_exception"] = _raise_exception
    return env


_ENV = _environment()


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """Merge a leading system message into the first user turn.

    CodeGemma's template raises "System role not supported"; the instructions still
    matter, so they travel at the top of the first user message instead.
    """
    if not messages or messages[0]["role"] != "system":
        return list(messages)
    system, rest = messages[0], list(messages[1:])
    if rest and rest[0]["role"] == "user":
        merged: Message = {
            "role": "user",
            "content": f"{system['content']}\n\n{rest[0]['content']}",
        }
        return [merged, *rest[1:]]
    return [{"role": "user", "content": system["content"]}, *rest]


def render_chat(
    template: str,
    messages: Sequence[Message],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    """Render `messages` with the model's template, folding the system role if refused."""
    compiled = _ENV.from_string(template)

    def render(msgs: Sequence[Message]) -> str:
        return compiled.render(
            messages=list(msgs),
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )

    try:
        return render(messages)
    except TemplateRejected:
        if not messages or messages[0]["role"] != "system":
            raise
        return render(fold_system(messages))


def plain_chat(messages: Sequence[Message]) -> str:
    """A completion-style rendering for models without a chat template."""
    parts: list[str] = []
    for message in fold_system(messages):
        label = "### Response:" if message["role"] == "assistant" else "### Instruction:"
        parts.append(f"{label}\n{message['content'].strip()}\n")
    parts.append("### Response:\n")
    return "\n".join(parts)
