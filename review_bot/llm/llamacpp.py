"""The in-process backend: llama-cpp-python loading a GGUF file, lazily, once per run."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from review_bot.errors import ModelError
from review_bot.llm import Completion, ModelInfo
from review_bot.llm.models import describe


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level log lines while loading (they go straight to fd 2)."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no stderr at all
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class LlamaCppBackend:
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
        self.n_ctx = n_ctx
        self.gpu_layers = gpu_layers
        self.seed = seed
        self.n_threads = n_threads
        # The `threads` default: taken again before each call (llm/threads.py).
        self.follow_load = follow_load
        self.reloads = 0
        self._llama: Any = None
        self._load_s = 0.0

    def info(self) -> ModelInfo:
        return self._info

    def load_seconds(self) -> float:
        return self._load_s

    def _model(self) -> Any:
        if self._llama is None:
            start = time.perf_counter()
            try:
                import llama_cpp  # imported late: it costs ~0.3 s and a cached run needs none
            except ImportError as exc:  # pragma: no cover - a broken install
                raise ModelError(f"llama-cpp-python is not installed: {exc}") from None
            n_ctx = min(self.n_ctx, self._info.context_length or self.n_ctx)
            try:
                with _quiet_stderr():
                    self._llama = llama_cpp.Llama(
                        model_path=str(self.path),
                        n_ctx=n_ctx,
                        n_threads=self.n_threads,
                        n_threads_batch=self.n_threads,
                        n_gpu_layers=self.gpu_layers,
                        seed=self.seed,
                        verbose=False,
                    )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelError(f"{self.path}: llama.cpp cannot load the model: {exc}") from None
            self._load_s = time.perf_counter() - start
        return self._llama

    def reload(self, n_threads: int) -> None:
        """Load the model again with `n_threads` threads (llm/resident_daemon.py)."""
        self._llama = None
        self.n_threads, self.reloads = n_threads, self.reloads + 1
        self._model()

    def tokenize(self, prompt: str) -> list[int]:
        llama = self._model()
        bos = self._info.bos_token
        # A rendered chat template usually starts with the BOS text already; adding
        # another BOS would double it and degrade the output.
        add_bos = not (bos and prompt.startswith(bos))
        tokens: list[int] = llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens

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
        if self._llama is not None:
            from review_bot.llm.threads import threads_for_call

            fewer = threads_for_call(follow_load=self.follow_load, loaded=self.n_threads)
            if fewer is not None:
                # More threads than free cores collapse llama.cpp: load it again with fewer.
                self._llama = None
                self.n_threads, self.reloads = fewer, self.reloads + 1
        llama = self._model()
        tokens = self.tokenize(prompt)
        room = llama.n_ctx() - len(tokens)
        if room < 16:
            raise ModelError(
                f"prompt of {len(tokens)} tokens does not fit the context of {llama.n_ctx()}"
            )
        grammar = None
        if json_schema is not None:
            from llama_cpp.llama_grammar import LlamaGrammar

            with _quiet_stderr():
                grammar = LlamaGrammar.from_json_schema(json.dumps(json_schema), verbose=False)
        start = time.perf_counter()
        try:
            result = llama.create_completion(
                prompt=tokens,
                max_tokens=min(max_tokens, room),
                temperature=temperature,
                top_p=0.95,
                repeat_penalty=1.1,
                stop=list(stop) or None,
                grammar=grammar,
                seed=self.seed if seed is None else seed,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp failed while generating: {exc}") from None
        seconds = time.perf_counter() - start
        choice = result["choices"][0]
        usage = result.get("usage", {})
        return Completion(
            text=choice["text"],
            prompt_tokens=int(usage.get("prompt_tokens", len(tokens))),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )
