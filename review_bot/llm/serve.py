"""`review-bot serve --runtime llama-cpp-python` below the command line: llama-cpp-python's
OpenAI-compatible server for the configured models, its command and its config file.
(The default runtime's server is llm/serve_x.py.)"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, NamedTuple

from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.llm.models import describe
from review_bot.llm.threads import default_server_threads

# What `python -m llama_cpp.server` imports beyond llama-cpp-python itself.
SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


class ServerPlan(NamedTuple):
    argv: list[str]
    config: dict[str, Any]
    config_path: Path
    base_url: str


def server_plan(
    settings: Settings, models: list[Path], *, host: str, port: int, n_threads: int | None = None
) -> ServerPlan:
    """The llama_cpp.server command and its config file for these models and settings."""
    from review_bot.llm.gpu import resolve_gpu_layers

    layers = resolve_gpu_layers(settings.gpu_layers, runtime="llama-cpp-python")
    # A resident server is not sized by this moment's load: --threads, else the
    # `threads` setting when set, else half the physical cores (llm/threads.py).
    n_threads = n_threads or settings.threads or default_server_threads()
    entries = []
    for path in models:
        info = describe(path)  # a bad file: one line now, not a traceback from the server
        absolute = str(path.resolve())
        entry: dict[str, Any] = {
            "model": absolute,
            # The id in /v1/models: the absolute path, so that a client on this
            # machine reads the same file's template and metadata.
            "model_alias": absolute,
            "n_ctx": min(settings.n_ctx, info.context_length or settings.n_ctx),
            "n_gpu_layers": layers,
            "seed": settings.seed,
            "verbose": False,
        }
        entry["n_threads"] = entry["n_threads_batch"] = n_threads
        entries.append(entry)
    config: dict[str, Any] = {"host": host, "port": port, "models": entries}
    if settings.api_key:
        config["api_key"] = settings.api_key
    config_path = settings.home / "serve" / f"{port}.json"
    argv = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return ServerPlan(argv, config, config_path, f"http://{shown}:{port}/v1")


def shown_config(plan: ServerPlan) -> dict[str, Any]:
    """The config as --print-command shows it: the API key hidden."""
    return {**plan.config, "api_key": "(set)"} if "api_key" in plan.config else plan.config


def missing_server_modules() -> list[str]:
    return [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise FatalError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port"
            ) from None


def prepare(plan: ServerPlan, host: str, port: int) -> None:
    """Everything the server needs before it starts: its modules, the port, the config."""
    missing = missing_server_modules()
    if missing:
        raise FatalError(
            "the llama-cpp-python server needs pip install 'review-bot[llama-cpp-python]' "
            f"(missing: {', '.join(missing)})"
        )
    check_port(host, port)
    plan.config_path.parent.mkdir(parents=True, exist_ok=True)
    # The file may hold the API key: readable by its owner only.
    fd = os.open(plan.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(plan.config, handle, indent=2)


def exec_server(plan: ServerPlan) -> None:
    """The server replaces this process: Ctrl-C and signals reach it directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(plan.argv[0], plan.argv)
