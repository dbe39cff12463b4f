"""The server backend: any OpenAI-compatible HTTP server runs the model.

llama.cpp's own server (what `review-bot serve` runs with the xllamacpp runtime),
llama-cpp-python's `python -m llama_cpp.server` (`serve --runtime llama-cpp-python`),
Ollama and vLLM all speak the same `/v1/completions`, `/v1/chat/completions` and
`/v1/models`. A team shares one GPU box this way, and a
commit reuses a model that stays loaded instead of loading it again.

How chat is formatted. When the server's model is a GGUF file this machine can read (the
path the server reports, or `--model` naming a local copy), review-bot reads its chat
template, renders the prompt itself exactly as the in-process backend does and sends it
to `/v1/completions`, so both backends send the same text. llama.cpp's server also tells
its template through `/props`. Otherwise the messages go to `/v1/chat/completions` and the
server applies the model's own template; a template that refuses the system role gets it
folded into the first user turn, and a model with no chat template at all gets a plain
completion prompt.

Constraints. JSON schemas travel as each server expects them: a GBNF grammar (ours, with
bounded numbers) for llama.cpp and llama-cpp-python, `response_format` for the others.
A server that ignores them still works: every caller validates the JSON it gets back.

The API key (REVIEW_BOT_API_KEY) is sent as a bearer token and appears in no message.

The xllamacpp runtime (llm/xllamacpp.py) runs llama.cpp's server engine in this process
and sends the very same bodies through a Transport that calls it directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from review_bot.llm import Completion, ModelInfo
from review_bot.llm.chat import Message, fold_system, plain_chat
from review_bot.llm.openai_http import (
    DEFAULT_RETRIES,
    LLAMA_CPP,
    LLAMA_CPP_PYTHON,
    Client,
    ServerError,
    ServerModel,
    discover,
)

_GRAMMARS: dict[str, str] = {}


class Transport(Protocol):
    """Where request bodies go: an HTTP server (openai_http.Client), or llama.cpp's server
    engine in this process (llm/xllamacpp.py). One request builder serves both."""

    @property
    def where(self) -> str:
        """`the model server at URL`, for messages."""
        ...

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON reply to `body` sent to `path` (`completions`, `chat/completions`)."""
        ...

    def close(self) -> None: ...


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    """llama.cpp's GBNF for a JSON schema: llama-cpp-python's own converter when it is
    installed, else review-bot's (llm/gbnf.py), so a client needs no llama-cpp-python.

    Key order matters: properties are generated in the schema's order, as in process.
    """
    key = json.dumps(schema)
    if key not in _GRAMMARS:
        try:
            from llama_cpp.llama_grammar import json_schema_to_gbnf
        except ImportError:
            from review_bot.llm.gbnf import schema_to_gbnf

            _GRAMMARS[key] = schema_to_gbnf(schema)
        else:
            _GRAMMARS[key] = json_schema_to_gbnf(key)
    return _GRAMMARS[key]


class OpenAIBackend:
    """Completions from a server; chat is rendered here with the model's own template."""

    def __init__(self, transport: Transport, model: ServerModel, *, seed: int = 1234) -> None:
        self.transport = transport
        self.model = model
        self.seed = seed
        self.last_request: dict[str, Any] = {}  # the JSON body last sent, for tests

    def info(self) -> ModelInfo:
        return self.model.info

    def load_seconds(self) -> float:
        return 0.0  # the model is loaded on the server, not here

    def close(self) -> None:
        self.transport.close()

    def _options(
        self,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        json_schema: Mapping[str, Any] | None,
        seed: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model.id,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 0.95,
            "seed": self.seed if seed is None else seed,
        }
        if stop:
            body["stop"] = list(stop)
        flavor = self.model.flavor
        if flavor in (LLAMA_CPP_PYTHON, LLAMA_CPP):
            body["repeat_penalty"] = 1.1  # as the in-process backend samples
        if json_schema is not None:
            if flavor in (LLAMA_CPP_PYTHON, LLAMA_CPP):
                # GBNF for both: llama.cpp's own `json_schema` may go through llguidance
                # (xllamacpp's build), which bounds no integer; a small model then writes a
                # number of a hundred digits until max_tokens cuts the reply off.
                body["grammar"] = json_schema_grammar(json_schema)
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": dict(json_schema)},
                }
        return body

    def _send(self, path: str, body: dict[str, Any], *, chat: bool) -> Completion:
        self.last_request = body
        start = time.perf_counter()
        data = self.transport.post(path, body)
        seconds = time.perf_counter() - start
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ServerError(f"{self.transport.where} returned no choice")
        choice = choices[0]
        if chat:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        return Completion(
            text=text if isinstance(text, str) else "",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )

    def completion_prompt(self, prompt: str) -> str:
        """The text sent for `prompt`: without a rendered BOS when the server adds one."""
        bos = self.model.info.bos_token
        if self.model.add_bos and bos and prompt.startswith(bos):
            return prompt[len(bos) :]
        return prompt

    def completion_body(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body of a /v1/completions request (`stream` may be added to it)."""
        body = self._options(
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )
        body["prompt"] = self.completion_prompt(prompt)
        return body

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
        body = self.completion_body(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )
        return self._send("completions", body, chat=False)


class OpenAIChatBackend(OpenAIBackend):
    """A server whose chat template is unknown here: chat goes to its chat endpoint."""

    def __init__(self, transport: Transport, model: ServerModel, *, seed: int = 1234) -> None:
        super().__init__(transport, model, seed=seed)
        self.fold_system = False  # set once the server's template refuses the system role
        self.no_chat = False  # set once the server says the model has no chat template

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
        json_schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Completion:
        while True:
            if self.no_chat:
                return self.complete(
                    plain_chat(messages),
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    json_schema=json_schema,
                    seed=seed,
                )
            body = self._options(
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop,
                json_schema=json_schema,
                seed=seed,
            )
            sent = fold_system(messages) if self.fold_system else list(messages)
            body["messages"] = [dict(m) for m in sent]
            try:
                return self._send("chat/completions", body, chat=True)
            except ServerError as exc:
                reason = str(exc).lower()
                if exc.status is None or exc.status < 400 or exc.status in (401, 403):
                    raise
                if "system" in reason and not self.fold_system and _has_system(messages):
                    self.fold_system = True  # CodeGemma: "System role not supported"
                    continue
                if "template" in reason:
                    self.no_chat = True  # a base model: no chat template at all
                    continue
                raise


def _has_system(messages: Sequence[Message]) -> bool:
    return bool(messages) and messages[0]["role"] == "system"


def connect(
    base_url: str,
    *,
    model: Path | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    seed: int = 1234,
    retries: int = DEFAULT_RETRIES,
) -> OpenAIBackend:
    """A backend for the model `model` names on the server (its default when None)."""
    client = Client(base_url, api_key=api_key, timeout_s=timeout_s, retries=retries)
    try:
        served = discover(client, model, ready_timeout_s=timeout_s)
    except BaseException:
        client.close()
        raise
    kind = OpenAIChatBackend if served.server_chat else OpenAIBackend
    return kind(client, served, seed=seed)
