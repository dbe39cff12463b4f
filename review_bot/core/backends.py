"""Which backend runs the model: decided here, once, for every front end.

`uses_server` is the rule (issue 5): `backend = "openai"`, or a `base_url` alone, means an
OpenAI-compatible server runs the model; otherwise llama.cpp runs it, on the runtime the
`runtime` setting picks (xllamacpp by default, or llama-cpp-python): in a resident process
started on first use when `keep_alive_s` is above 0 (the hook's default; llm/resident.py),
else in this process.
Tests pass their own factory (a scripted model) to the core instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.llm import Backend

if TYPE_CHECKING:
    from review_bot.llm.llamacpp import LlamaCppBackend
    from review_bot.llm.xllamacpp import XllamacppBackend

# (model path, whether it is the bundled default, settings) -> a backend, loaded lazily.
BackendFactory = Callable[[Path, bool, Settings], Backend]

NO_URL = "the openai backend needs the server's URL: --base-url or REVIEW_BOT_BASE_URL"


def llamacpp_factory(path: Path, bundled: bool, settings: Settings) -> Backend:
    """llama.cpp in this process, on the runtime the `runtime` setting picks (llm/runtime.py)."""
    from review_bot.llm.gpu import resolve_gpu_layers
    from review_bot.llm.runtime import XLLAMACPP, resolve_runtime
    from review_bot.llm.threads import resolve_threads

    runtime = resolve_runtime(settings.runtime)
    kind: type[LlamaCppBackend | XllamacppBackend]
    if runtime == XLLAMACPP:
        from review_bot.llm.xllamacpp import XllamacppBackend as kind
    else:
        from review_bot.llm.llamacpp import LlamaCppBackend as kind
    return kind(
        path,
        bundled=bundled,
        n_ctx=settings.n_ctx,
        gpu_layers=resolve_gpu_layers(settings.gpu_layers, runtime=runtime),
        seed=settings.seed,
        n_threads=resolve_threads(settings.threads).n,
        # The default follows the load call by call (llm/threads.py).
        follow_load=settings.threads == 0,
    )


def openai_factory(path: Path, bundled: bool, settings: Settings) -> Backend:
    """A model on an OpenAI-compatible server; `settings.model`, if set, names which."""
    from review_bot.llm.openai import connect

    if not settings.base_url:
        raise FatalError(NO_URL)
    return connect(
        settings.base_url,
        model=settings.model,
        api_key=settings.api_key,
        timeout_s=settings.request_timeout_s,
        seed=settings.seed,
    )


def resident_factory(path: Path, bundled: bool, settings: Settings) -> Backend:
    """llama.cpp in a resident process of this user, started on first use (llm/resident.py)."""
    from review_bot.llm.resident import ResidentBackend

    return ResidentBackend.of(path, bundled, settings)


def uses_resident(settings: Settings) -> bool:
    """A resident process keeps the model: `keep_alive_s` above 0, where Unix sockets exist."""
    from review_bot.llm.resident import available

    return not uses_server(settings) and bool(settings.keep_alive_s) and available()


def uses_server(settings: Settings) -> bool:
    """A server runs the model: `backend = "openai"`, or a base_url alone (issue 5)."""
    return settings.backend == "openai" or bool(settings.base_url)


def backend_factory(settings: Settings) -> BackendFactory:
    """The factory the settings name: an HTTP server, a resident process, or llama.cpp in
    this process."""
    if uses_server(settings):
        return openai_factory
    return resident_factory if uses_resident(settings) else llamacpp_factory
