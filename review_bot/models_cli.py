"""Commands for models: `serve`, `models list|info|pull|path` and `doctor`.

They parse, call llm/catalog.py, llm/openai.py and llm/gpu.py, and print; no logic of
their own beyond formatting.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import click

from review_bot import __version__
from review_bot.config import (
    BACKEND_CHOICES,
    Settings,
    find_project_root,
    load_settings,
    read_pyproject,
)
from review_bot.errors import FatalError, ModelError
from review_bot.llm import ModelInfo, catalog
from review_bot.llm.models import auto_strategies, describe, resolve_model, stop_tokens

# What `python -m llama_cpp.server` imports beyond llama-cpp-python itself.
SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


def _settings(flags: Mapping[str, Any] | None = None) -> tuple[Path, Settings]:
    root = find_project_root(Path.cwd())
    return root, load_settings(root, dict(flags or {}))


def _resolve(home: Path, ref: str) -> Path:
    """A model argument: an existing file, `bundled`, a curated name or a pulled file."""
    path = Path(ref).expanduser()
    if path.exists():
        return path
    try:
        return catalog.model_path(home, ref)
    except ModelError:
        if ref in catalog.CATALOG or ref == catalog.BUNDLED_NAME:
            raise
        return path  # reported as a missing model file where it is used


# -- models info ---------------------------------------------------------------


def system_role(info: ModelInfo) -> str:
    """Whether the model's chat template takes a system message as it is."""
    if not info.chat_template:
        return "no chat template"
    from review_bot.llm.chat import _ENV, TemplateRejected

    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        _ENV.from_string(info.chat_template).render(
            messages=messages,
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            add_generation_prompt=True,
        )
    except TemplateRejected as exc:
        return f"not supported ({exc}): folded into the first user turn"
    except Exception as exc:  # a broken template in a model file: report, do not crash
        return f"template error: {type(exc).__name__}: {exc}"
    return "supported"


def model_facts(info: ModelInfo, settings: Settings) -> dict[str, Any]:
    if settings.strategy == "auto":
        strategies: list[str] = list(auto_strategies(info))
        chosen = "auto: " + ", then ".join(strategies)
    else:
        strategies = [settings.strategy]
        chosen = f"{settings.strategy} (set in the configuration)"
    return {
        "path": info.path,
        "name": info.name,
        "architecture": info.arch,
        "parameters": info.n_params,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "chat_template": info.chat_template is not None,
        "system_role": system_role(info),
        "fim": None
        if info.fim is None
        else {
            "family": info.fim.family,
            "tokens": [info.fim.prefix, info.fim.suffix, info.fim.middle],
            "stop": list(info.fim.stop),
        },
        "bos_token": info.bos_token,
        "eos_token": info.eos_token,
        "stop_tokens": list(stop_tokens(info)),
        "strategies": strategies,
        "strategy": chosen,
        "bundled": info.bundled,
    }


def _params(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def facts_text(facts: Mapping[str, Any]) -> str:
    fim = facts["fim"]
    lines = [
        f"path:           {facts['path']}" + (" (bundled)" if facts["bundled"] else ""),
        f"name:           {facts['name']}",
        f"architecture:   {facts['architecture']}",
        f"parameters:     {_params(facts['parameters'])}",
        f"quantization:   {facts['quantization'] or 'unknown'}",
        f"context length: {facts['context_length'] or 'unknown'}",
        f"chat template:  {'yes' if facts['chat_template'] else 'no'}",
        f"system role:    {facts['system_role']}",
        "FIM tokens:     "
        + ("none" if fim is None else f"{fim['family']} {' '.join(fim['tokens'])}"),
        f"stop tokens:    {' '.join(facts['stop_tokens'])}",
        f"strategy:       {facts['strategy']}",
    ]
    return "\n".join(lines) + "\n"


# -- serve ---------------------------------------------------------------------


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

    layers = resolve_gpu_layers(settings.gpu_layers)
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
        if n_threads is not None:
            # Else llama-cpp-python's defaults: half the cores generate, all read prompts,
            # which leaves room for the rest of a developer's machine.
            entry["n_threads"] = entry["n_threads_batch"] = n_threads
        entries.append(entry)
    config: dict[str, Any] = {"host": host, "port": port, "models": entries}
    if settings.api_key:
        config["api_key"] = settings.api_key
    config_path = settings.home / "serve" / f"{port}.json"
    argv = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return ServerPlan(argv, config, config_path, f"http://{shown}:{port}/v1")


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise FatalError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port"
            ) from None


def missing_server_modules() -> list[str]:
    return [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PATH|NAME",
    help="GGUF file, curated name or `bundled` (repeatable: the server swaps between them).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--n-ctx", type=click.IntRange(min=128), help="Context size (else n_ctx).")
@click.option(
    "--gpu-layers", type=click.IntRange(min=-1), help="Layers on the GPU; -1: auto (else setting)."
)
@click.option(
    "--threads", type=click.IntRange(min=1), help="CPU threads (default: half the cores)."
)
@click.option("--print-command", is_flag=True, help="Print the command and config; start nothing.")
def serve(
    models: tuple[str, ...],
    host: str,
    port: int,
    n_ctx: int | None,
    gpu_layers: int | None,
    threads: int | None,
    print_command: bool,
) -> None:
    """Keep a model loaded in llama-cpp-python's OpenAI-compatible server.

    Point review-bot at it with REVIEW_BOT_BASE_URL=http://HOST:PORT/v1 and commits skip
    loading the model. REVIEW_BOT_API_KEY, if set, is required of every client.
    """
    _, settings = _settings({"n_ctx": n_ctx, "gpu_layers": gpu_layers})
    paths = [_resolve(settings.home, ref) for ref in models] or [resolve_model(settings.model)[0]]
    plan = server_plan(settings, paths, host=host, port=port, n_threads=threads)
    shown = {**plan.config, "api_key": "(set)"} if "api_key" in plan.config else plan.config
    if print_command:
        click.echo(" ".join(plan.argv))
        click.echo(json.dumps(shown, indent=2))
        return
    missing = missing_server_modules()
    if missing:
        raise FatalError(
            f"the server needs llama-cpp-python[server] (missing: {', '.join(missing)})"
        )
    _check_port(host, port)
    plan.config_path.parent.mkdir(parents=True, exist_ok=True)
    # The file may hold the API key: readable by its owner only.
    fd = os.open(plan.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(plan.config, handle, indent=2)
    names = ", ".join(p.name for p in paths)
    click.echo(
        f"review-bot: serving {names} at {plan.base_url}\n"
        f"  use it with: REVIEW_BOT_BASE_URL={plan.base_url}",
        err=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # The server replaces this process: Ctrl-C and signals reach it directly.
    os.execv(plan.argv[0], plan.argv)


# -- models --------------------------------------------------------------------


@click.group()
def models() -> None:
    """List, describe and download GGUF models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_models(as_json: bool) -> None:
    """GGUF files in the model cache directory and the bundled default."""
    _, settings = _settings()
    local = catalog.local_models(settings.home)
    have = {m.name for m in local}
    available = [e for e in catalog.CATALOG.values() if e.name not in have]
    if as_json:
        data = {
            "dir": str(catalog.models_dir(settings.home)),
            "models": [{"name": m.name, "path": str(m.path), "size": m.size} for m in local],
            "available": [e._asdict() for e in available],
        }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"model cache: {catalog.models_dir(settings.home)}")
    width = max((len(m.name) for m in local), default=4)
    for model in local:
        size = catalog.human_size(model.size)
        click.echo(f"  {model.name:<{width}}  {size:>9}  {model.path}")
    if not local:
        click.echo("  (none)")
    if available:
        click.echo("available with `review-bot models pull NAME`:")
        width = max(len(e.name) for e in available)
        for entry in available:
            click.echo(f"  {entry.name:<{width}}  {entry.size:>7}  {entry.description}")


@models.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info_command(model: str, as_json: bool) -> None:
    """What review-bot reads from a GGUF file (a path, curated name or `bundled`)."""
    _, settings = _settings()
    path = _resolve(settings.home, model)
    facts = model_facts(describe(path, bundled=model == catalog.BUNDLED_NAME), settings)
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        click.echo(facts_text(facts), nl=False)


@models.command("pull")
@click.argument("name", metavar="NAME|OWNER/REPO/FILE")
@click.option("--revision", help="A branch, tag or commit of the repository.")
def pull_command(name: str, revision: str | None) -> None:
    """Download a model into the cache directory and check its sha256."""
    _, settings = _settings()
    path = catalog.pull(settings.home, name, revision=revision)
    try:
        summary = describe(path)
    except ModelError as exc:
        raise FatalError(f"downloaded, but {exc}") from None
    click.echo(f"{path}\n  {summary.arch}, {_params(summary.n_params)} parameters")


@models.command("path")
@click.argument("name")
def path_command(name: str) -> None:
    """Print the file of a model: `--model "$(review-bot models path NAME)"`."""
    _, settings = _settings()
    click.echo(str(catalog.model_path(settings.home, name)))


# -- doctor --------------------------------------------------------------------


def config_sources(root: Path, settings: Settings, flags: Mapping[str, Any]) -> list[str]:
    """`name = value (where from)` for every setting; secrets are not shown."""
    pyproject = read_pyproject(root)
    lines = []
    for field in dataclasses.fields(settings):
        name = field.name
        value: Any = getattr(settings, name)
        if flags.get(name) is not None:
            origin = "flag"
        elif os.environ.get(f"REVIEW_BOT_{name.upper()}"):
            origin = f"REVIEW_BOT_{name.upper()}"
        elif name in pyproject:
            origin = "pyproject.toml"
        else:
            origin = "default"
        if name == "api_key":
            value = "(set)" if value else "(not set)"
        lines.append(f"  {name} = {value}  ({origin})")
    return lines


@click.command()
@click.option("--model", help="GGUF file or curated name (else the configured model).")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), help="Check this backend.")
@click.option("--base-url", metavar="URL", help="Check this server.")
def doctor(model: str | None, backend: str | None, base_url: str | None) -> None:
    """Report the llama.cpp build, the model, the cache and the settings; exit 1 if unfit."""
    from review_bot.core.backends import uses_server
    from review_bot.llm.gpu import build_info, describe_gpu_layers, resolve_gpu_layers

    problems: list[str] = []
    notes: list[str] = []
    root = find_project_root(Path.cwd())
    flags: dict[str, Any] = {"backend": backend, "base_url": base_url}
    base_settings = load_settings(root, flags)
    if model:
        flags["model"] = _resolve(base_settings.home, model)
    settings = load_settings(root, flags)
    out = [f"review-bot {__version__} (Python {sys.version.split()[0]})"]

    gpu_offload = False
    try:
        build = build_info()
    except FatalError as exc:
        problems.append(str(exc))
    else:
        gpu_offload = build.gpu_offload
        offload = "GPU offload available" if build.gpu_offload else "no GPU offload"
        out.append(f"llama-cpp-python {build.version}: {build.backend} build ({offload})")
        out.append(f"  {build.system_info}")
    try:
        layers = resolve_gpu_layers(settings.gpu_layers, gpu_offload=gpu_offload)
    except FatalError as exc:
        problems.append(str(exc))
    else:
        account = describe_gpu_layers(settings.gpu_layers, layers)
        out.append(f"gpu_layers: {settings.gpu_layers} ({account})")
        if settings.gpu_layers > 0 and not gpu_offload:
            notes.append(
                "gpu_layers is set but this llama-cpp-python has no GPU backend: rebuild it "
                'with CMAKE_ARGS="-DGGML_CUDA=on" (or -DGGML_METAL=on) to use the GPU'
            )

    if uses_server(settings):
        out.append(f"backend: openai, server at {settings.base_url}")
        out.extend(_check_server(settings, problems))
    else:
        out.append("backend: llamacpp (in process)")
        out.extend(_check_local_model(settings, problems))

    directory = catalog.models_dir(settings.home)
    count, size = catalog.directory_size(directory)
    out.append(f"model cache: {directory} ({count} GGUF files, {catalog.human_size(size)})")
    out.append(f"state directory: {settings.home}")
    missing = missing_server_modules()
    if missing:
        notes.append(f"`review-bot serve` needs llama-cpp-python[server]: {', '.join(missing)}")
    out.append(f"configuration (project {root}):")
    out.extend(config_sources(root, settings, flags))
    for note in notes:
        out.append(f"note: {note}")
    if problems:
        out.append("missing:")
        out.extend(f"  - {problem}" for problem in problems)
    else:
        out.append("all needed parts are present")
    click.echo("\n".join(out))
    if problems:
        # SystemExit, not ctx.exit(): the entry point runs click outside standalone
        # mode, where an exit code given to ctx.exit() is lost.
        raise SystemExit(1)


def _check_local_model(settings: Settings, problems: list[str]) -> list[str]:
    try:
        path, bundled = resolve_model(settings.model)
        info = describe(path, bundled)
    except ModelError as exc:
        problems.append(str(exc))
        return ["model: unusable"]
    return _model_lines(info, settings)


def _model_lines(info: ModelInfo, settings: Settings) -> list[str]:
    facts = model_facts(info, settings)
    return [
        f"model: {info.path}" + (" (bundled smoke-test model)" if info.bundled else ""),
        f"  {info.arch}, {_params(info.n_params)} parameters, "
        f"{info.quantization or 'unknown quantization'}, context {info.context_length}",
        f"  chat template: {'yes' if info.chat_template else 'no'}; "
        f"system role: {facts['system_role']}; "
        f"FIM: {info.fim.family if info.fim else 'none'}",
        f"  strategy: {facts['strategy']}",
    ]


def _check_server(settings: Settings, problems: list[str]) -> list[str]:
    from review_bot.llm.openai_http import Client, discover

    if not settings.base_url:
        problems.append("backend openai needs base_url (--base-url or REVIEW_BOT_BASE_URL)")
        return []
    try:
        client = Client(
            settings.base_url,
            api_key=settings.api_key,
            timeout_s=min(settings.request_timeout_s, 10.0),
            retries=1,
        )
    except FatalError as exc:
        problems.append(str(exc))
        return []
    try:
        served = discover(
            client,
            settings.model,
            ready_timeout_s=min(settings.request_timeout_s, 10.0),
            connect_grace_s=1.0,
        )
    except FatalError as exc:
        problems.append(str(exc))
        return ["  server: unreachable or unusable"]
    finally:
        client.close()
    how = (
        "chat through the server's template"
        if served.server_chat
        else "chat template rendered here, sent as completions"
    )
    lines = [f"  server: {served.flavor}, serving {served.id}; {how}"]
    return lines + _model_lines(served.info, settings)
