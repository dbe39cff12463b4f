"""The in-process backend on xllamacpp: llama.cpp's own server engine, prebuilt.

`xllamacpp.Server` loads the GGUF once (lazily, on the first call) and answers
OpenAI-shaped request bodies directly, without HTTP. The bodies are built by the same
code as for an HTTP server (llm/openai.py, flavor llama.cpp: a GBNF grammar in the body,
the chat rendered here with the GGUF's own template and sent as a completion), so every
backend sends the same text.

The engine also listens on 127.0.0.1 at a random port. In process nobody should use it:
it gets a random API key that never leaves this object (other local processes, and the
generated code in the sandbox, are answered 401). `review-bot serve` uses the same
engine as its product, with the user's host, port and key (llm/serve_x.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from review_bot.errors import ModelError
from review_bot.llm import Completion, ModelInfo
from review_bot.llm.models import describe
from review_bot.llm.openai import OpenAIBackend
from review_bot.llm.openai_http import LLAMA_CPP, ServerModel, _adds_bos


def server_params(
    path: Path,
    *,
    n_ctx: int,
    gpu_layers: int,
    n_threads: int | None,
    seed: int,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    alias: str | None = None,
) -> Any:
    """xllamacpp's CommonParams for one model; llama.cpp's log lines silenced."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.n_parallel = 1  # one slot: the whole context for one request at a time
    if n_threads is not None:
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
    params.n_gpu_layers = gpu_layers
    params.sampling.seed = seed
    params.verbosity = -1
    params.hostnames = [host]
    params.port = port
    if api_key:
        params.api_keys = [api_key]
    if alias:
        params.model_alias = {alias}
    return params


def start_server(params: Any, path: Path) -> Any:
    """`xllamacpp.Server(params)`: loads the model; a failure is one line naming the file."""
    import xllamacpp

    try:
        return xllamacpp.Server(params)
    except RuntimeError as exc:
        raise ModelError(f"{path}: llama.cpp (xllamacpp) cannot load the model: {exc}") from None


def error_text(error: Any) -> str:
    """One line for an `{"error": ...}` reply of the engine."""
    if not isinstance(error, Mapping):
        return f"llama.cpp (xllamacpp) refused the request: {error}"
    if error.get("type") == "exceed_context_size_error":
        return (
            f"the prompt of {error.get('n_prompt_tokens', '?')} tokens does not fit the "
            f"model's context of {error.get('n_ctx', '?')} tokens: raise n_ctx "
            "(REVIEW_BOT_N_CTX) up to the model's context length"
        )
    message = " ".join(str(error.get("message", error)).split())
    return f"llama.cpp (xllamacpp) refused the request: {message}"


class InProcessTransport:
    """llm/openai.py's Transport onto an xllamacpp.Server in this process."""

    def __init__(self, server: Any) -> None:
        self.server = server

    @property
    def where(self) -> str:
        return "llama.cpp (xllamacpp, in process)"

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if path == "completions":
            reply = self.server.handle_completions(dict(body))
        elif path == "chat/completions":
            reply = self.server.handle_chat_completions(dict(body))
        else:  # pragma: no cover - a bug in the caller
            raise ValueError(f"no in-process endpoint {path}")
        if not isinstance(reply, dict):
            raise ModelError(f"{self.where} answered /{path} with something that is not JSON")
        if "error" in reply:
            raise ModelError(error_text(reply["error"]))
        return reply

    def close(self) -> None:
        self.server = None  # the engine (and its port) stops when the Server is freed


class XllamacppBackend:
    """A GGUF run by xllamacpp in this process, loaded on the first call."""

    def __init__(
        self,
        path: Path,
        *,
        bundled: bool = False,
        n_ctx: int = 4096,
        gpu_layers: int = 0,
        seed: int = 1234,
        n_threads: int = 1,
        follow_load: bool = False,
    ) -> None:
        self.path = path
        self._info = describe(path, bundled)  # validates the file before any load
        self.n_ctx = min(n_ctx, self._info.context_length or n_ctx)
        self.gpu_layers = gpu_layers
        self.seed = seed
        self.n_threads = n_threads
        # The `threads` default: taken again before each call (llm/threads.py).
        self.follow_load = follow_load
        self.reloads = 0
        self._api_key = secrets.token_urlsafe(32)
        self._requests: OpenAIBackend | None = None
        self._server: Any = None
        self._load_s = 0.0

    def info(self) -> ModelInfo:
        return self._info

    def load_seconds(self) -> float:
        return self._load_s

    @property
    def listening_address(self) -> str:
        """The engine's HTTP address (loads the model): protected by a random key."""
        self._backend()
        return str(self._server.listening_address)

    def _backend(self) -> OpenAIBackend:
        if self._requests is None:
            start = time.perf_counter()
            try:
                import xllamacpp  # noqa: F401 - imported late: a cached run needs none
            except ImportError as exc:
                raise ModelError(f"xllamacpp cannot be imported: {exc}") from None
            params = server_params(
                self.path,
                n_ctx=self.n_ctx,
                gpu_layers=self.gpu_layers,
                n_threads=self.n_threads,
                seed=self.seed,
                api_key=self._api_key,
            )
            server = self._server = start_server(params, self.path)
            model = ServerModel(
                str(self.path),
                LLAMA_CPP,
                self._info,
                self.path,
                _adds_bos(self.path),
                server_chat=False,
            )
            self._requests = OpenAIBackend(InProcessTransport(server), model, seed=self.seed)
            self._load_s = time.perf_counter() - start
        return self._requests

    def tokenize(self, prompt: str) -> list[int]:
        """The tokens the engine makes of `prompt` (BOS added unless the text has it), as
        LlamaCppBackend.tokenize; asked of the engine's own /tokenize with its key."""
        import httpx

        bos = self._info.bos_token
        body = {
            "content": prompt,
            "add_special": not (bos and prompt.startswith(bos)),
            "parse_special": True,
        }
        reply = httpx.post(
            self.listening_address + "/tokenize",
            json=body,
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=30.0,
        )
        reply.raise_for_status()
        return [int(token) for token in reply.json()["tokens"]]

    @property
    def last_request(self) -> dict[str, Any]:
        """The body last sent to the engine, for tests."""
        return self._requests.last_request if self._requests is not None else {}

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
        if self._requests is not None:
            from review_bot.llm.threads import threads_for_call

            fewer = threads_for_call(follow_load=self.follow_load, loaded=self.n_threads)
            if fewer is not None:
                # More threads than free cores collapse llama.cpp: load it again with fewer.
                self.close()
                self.n_threads, self.reloads = fewer, self.reloads + 1
        return self._backend().complete(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            json_schema=json_schema,
            seed=seed,
        )

    def reload(self, n_threads: int) -> None:
        """Load the engine again with `n_threads` threads (a resident model whose cores
        came free: llm/resident_daemon.py)."""
        self.close()
        self.n_threads, self.reloads = n_threads, self.reloads + 1
        self._backend()

    def close(self) -> None:
        if self._requests is not None:
            self._requests.close()
            self._requests = self._server = None
