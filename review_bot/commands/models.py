"""Commands for models: `serve`, `models list|info|pull|path` and `doctor`.

Parsing and echo; the work is llm/serve_x.py (xllamacpp's server), llm/serve.py
(llama-cpp-python's), llm/catalog.py, llm/report.py and doctor.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from review_bot.commands.options import (
    RUNTIME_HELP,
    backend_options,
    json_option,
    settings_flags,
)
from review_bot.config import RUNTIME_CHOICES, Settings, find_project_root, load_settings
from review_bot.doctor import diagnose
from review_bot.errors import EXIT_FATAL, EXIT_OK, FatalError, ModelError
from review_bot.llm import catalog
from review_bot.llm import serve as server
from review_bot.llm.default_model import DEFAULT_NAME, packaged_name
from review_bot.llm.gpu import runtime_facts
from review_bot.llm.models import describe, resolve_model
from review_bot.llm.report import facts_text, listing_json, listing_lines, model_facts, params_text
from review_bot.progress import ConsoleProgress, Progress


@contextlib.contextmanager
def _progress() -> Iterator[Progress]:
    """Where assembling the default model on first use reports (stderr)."""
    progress = ConsoleProgress()
    try:
        yield progress
    finally:
        progress.stop()


def _settings(options: dict[str, Any] | None = None) -> Settings:
    return load_settings(find_project_root(Path.cwd()), settings_flags(options or {}))


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PATH|NAME",
    help="GGUF file, curated or packaged name (repeatable: the server swaps between them).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--n-ctx", type=click.IntRange(min=128), help="Context size (else n_ctx).")
@click.option(
    "--gpu-layers", type=click.IntRange(min=-1), help="Layers on the GPU; -1: auto (else setting)."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads (default: the threads setting, else half the physical cores).",
)
@click.option("--runtime", type=click.Choice(RUNTIME_CHOICES), help=RUNTIME_HELP)
@click.option("--print-command", is_flag=True, help="Print the command and config; start nothing.")
def serve(
    models: tuple[str, ...],
    host: str,
    port: int,
    threads: int | None,
    print_command: bool,
    **options: Any,
) -> int:
    """Keep a model loaded in an OpenAI-compatible server on the chosen runtime.

    xllamacpp (the default): llama.cpp's own server, held by this process until Ctrl-C.
    llama-cpp-python: its server replaces this process. Point review-bot at it with
    REVIEW_BOT_BASE_URL=http://HOST:PORT/v1 and commits skip loading the model.
    REVIEW_BOT_API_KEY, if set, is required of every client.
    """
    from review_bot.llm.runtime import XLLAMACPP, resolve_runtime

    settings = _settings(options)
    with _progress() as progress:
        paths = [catalog.resolve(settings.home, ref, progress) for ref in models]
        paths = paths or [resolve_model(settings.model, settings.home, progress)[0]]
    if resolve_runtime(settings.runtime) == XLLAMACPP:
        return _serve_xllamacpp(settings, paths, host, port, threads, print_command)
    plan = server.server_plan(settings, paths, host=host, port=port, n_threads=threads)
    if print_command:
        click.echo(" ".join(plan.argv))
        click.echo(json.dumps(server.shown_config(plan), indent=2))
        return EXIT_OK
    server.prepare(plan, host, port)
    names = ", ".join(p.name for p in paths)
    click.echo(
        f"review-bot: serving {names} at {plan.base_url}\n"
        f"  use it with: REVIEW_BOT_BASE_URL={plan.base_url}",
        err=True,
    )
    server.exec_server(plan)
    return EXIT_OK  # not reached: the server replaced this process


def _serve_xllamacpp(
    settings: Settings,
    paths: list[Path],
    host: str,
    port: int,
    threads: int | None,
    print_command: bool,
) -> int:
    from review_bot.llm import serve_x

    plan = serve_x.xserve_plan(settings, paths, host=host, port=port, n_threads=threads)
    if print_command:
        click.echo(serve_x.equivalent_command(plan))
        click.echo(json.dumps(serve_x.shown_config(plan), indent=2))
        return EXIT_OK
    server.check_port(host, port)
    engine = serve_x.start(plan)
    click.echo(
        f"review-bot: serving {plan.path.name} at {plan.base_url} (xllamacpp; Ctrl-C stops)\n"
        f"  use it with: REVIEW_BOT_BASE_URL={plan.base_url}",
        err=True,
    )
    try:
        serve_x.wait_for_interrupt()
    finally:
        del engine  # stops llama.cpp's server and frees the model
        click.echo("review-bot: server stopped", err=True)
    return EXIT_OK  # not reached: only Ctrl-C ends the wait (exit 130)


@click.group()
def models() -> None:
    """List, describe and download GGUF models."""


@models.command("list")
@json_option
def list_models(as_json: bool) -> int:
    """The default model, the GGUF files in the model cache, and smollm2 if installed."""
    home = _settings().home
    if as_json:
        click.echo(json.dumps(listing_json(home), indent=2))
    else:
        for line in listing_lines(home):
            click.echo(line)
    return EXIT_OK


@models.command("info")
@click.argument("model")
@json_option
def info_command(model: str, as_json: bool) -> int:
    """What review-bot reads from a GGUF file (a path, a curated or packaged name), and the
    llama.cpp runtime that would run it here."""
    settings = _settings()
    with _progress() as progress:
        path = catalog.resolve(settings.home, model, progress)
    is_default = packaged_name(Path(model)) == DEFAULT_NAME
    facts = model_facts(describe(path, bundled=is_default), settings)
    facts["runtime"] = runtime_facts(settings.runtime)
    if as_json:
        click.echo(json.dumps(facts, indent=2))
    else:
        click.echo(facts_text(facts), nl=False)
    return EXIT_OK


@models.command("pull")
@click.argument("name", metavar="NAME|OWNER/REPO/FILE")
@click.option("--revision", help="A branch, tag or commit of the repository.")
def pull_command(name: str, revision: str | None) -> int:
    """Download a model into the cache directory and check its sha256."""
    path = catalog.pull(_settings().home, name, revision=revision)
    try:
        summary = describe(path)
    except ModelError as exc:
        raise FatalError(f"downloaded, but {exc}") from None
    click.echo(f"{path}\n  {summary.arch}, {params_text(summary.n_params)} parameters")
    return EXIT_OK


@models.command("unload")
def unload_command() -> int:
    """Stop the resident model processes of this user (see keep_alive_s)."""
    from review_bot.llm import resident

    if not resident.available():
        click.echo("review-bot: no resident models on this system", err=True)
        return EXIT_OK
    stopped = resident.unload()
    for each in stopped:
        click.echo(f"stopped {each.status['model']} (pid {each.status['pid']})")
    if not stopped:
        click.echo("review-bot: no resident model was loaded", err=True)
    return EXIT_OK


@models.command("path")
@click.argument("name")
def path_command(name: str) -> int:
    """Print the file of a model: `--model "$(review-bot models path NAME)"`."""
    with _progress() as progress:
        path = catalog.model_path(_settings().home, name, progress)
    click.echo(str(path))
    return EXIT_OK


@click.command()
@click.option("--model", help="GGUF file or curated name (else the configured model).")
@backend_options(backend_help="Check this backend.", base_url_help="Check this server.")
def doctor(model: str | None, **options: Any) -> int:
    """Report the llama.cpp runtime, the model, the cache and the settings; exit 1 if unfit."""
    with _progress() as progress:
        report = diagnose(find_project_root(Path.cwd()), settings_flags(options), model, progress)
    click.echo("\n".join(report.lines))
    return EXIT_FATAL if report.problems else EXIT_OK
