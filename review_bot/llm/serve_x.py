"""`review-bot serve` on the xllamacpp runtime: llama.cpp's own server, held by this process.

`xllamacpp.Server` is llama.cpp's OpenAI-compatible HTTP server with the model loaded; this
process keeps it until Ctrl-C. The model's id in /v1/models is the absolute path of its
file, so a client on the same machine reads the file's chat template and metadata (the
openai backend recognises llama.cpp's server by `owned_by: llamacpp`).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, NamedTuple

from review_bot.config import Settings
from review_bot.errors import FatalError
from review_bot.llm.models import describe
from review_bot.llm.threads import default_server_threads


class XServePlan(NamedTuple):
    path: Path
    config: dict[str, Any]  # what the server is started with
    base_url: str


def xserve_plan(
    settings: Settings, models: list[Path], *, host: str, port: int, n_threads: int | None = None
) -> XServePlan:
    """The server's settings for one model: one model per server on this runtime."""
    from review_bot.llm.gpu import resolve_gpu_layers

    if len(models) != 1:
        raise FatalError(
            "the xllamacpp runtime serves one model per port: start one `review-bot serve` "
            "per model, or use --runtime llama-cpp-python, whose server swaps models"
        )
    path = models[0]
    info = describe(path)  # a bad file: one line now, not an error from the engine
    # A resident server is not sized by this moment's load: --threads, else the `threads`
    # setting when set, else half the physical cores (llm/threads.py; llama.cpp's own
    # default took both cores of a 2-core machine, and collapsed beside a build: issue 23).
    threads = n_threads or settings.threads or default_server_threads()
    config: dict[str, Any] = {
        "model": str(path.resolve()),
        "host": host,
        "port": port,
        "n_ctx": min(settings.n_ctx, info.context_length or settings.n_ctx),
        "n_gpu_layers": resolve_gpu_layers(settings.gpu_layers, runtime="xllamacpp"),
        "seed": settings.seed,
        "n_threads": threads,
    }
    if settings.api_key:
        config["api_key"] = settings.api_key
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return XServePlan(path, config, f"http://{shown}:{port}/v1")


def shown_config(plan: XServePlan) -> dict[str, Any]:
    """The config as --print-command shows it: the API key hidden."""
    return {**plan.config, "api_key": "(set)"} if "api_key" in plan.config else plan.config


def equivalent_command(plan: XServePlan) -> str:
    """The same server as llama.cpp's own `llama-server` command line (the key hidden)."""
    config = plan.config
    argv = ["llama-server", "-m", config["model"], "--alias", config["model"]]
    argv += ["--host", config["host"], "--port", str(config["port"])]
    argv += ["-c", str(config["n_ctx"]), "-ngl", str(config["n_gpu_layers"])]
    argv += ["--seed", str(config["seed"]), "-np", "1"]
    argv += ["-t", str(config["n_threads"]), "-tb", str(config["n_threads"])]
    if "api_key" in config:
        argv += ["--api-key", "(set)"]
    return shlex.join(argv)


def start(plan: XServePlan) -> Any:
    """Load the model and listen; the returned Server stops when it is freed."""
    from review_bot.llm.xllamacpp import server_params, start_server

    config = plan.config
    params = server_params(
        Path(config["model"]),
        n_ctx=config["n_ctx"],
        gpu_layers=config["n_gpu_layers"],
        n_threads=config["n_threads"],
        seed=config["seed"],
        host=config["host"],
        port=config["port"],
        api_key=config.get("api_key"),
        alias=config["model"],
    )
    return start_server(params, plan.path)


def wait_for_interrupt() -> None:
    """Sleep until Ctrl-C (KeyboardInterrupt reaches the caller)."""
    while True:
        time.sleep(3600)
