"""The command line: parses, dispatches, maps errors to exit codes. No logic."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import traceback
from pathlib import Path
from typing import Any

import click

from review_bot import __version__
from review_bot.config import (
    BACKEND_CHOICES,
    CONVENTIONS,
    STRATEGY_CHOICES,
    find_project_root,
    load_settings,
)
from review_bot.errors import EXIT_BUG, EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, FatalError

# Commands that live in their own modules, imported only when used: a commit with no
# Python change must not pay for importing the model stack.
LAZY_COMMANDS: dict[str, str] = {
    "hook": "review_bot.hook_cli:hook",
    "install": "review_bot.hook_cli:install",
    "uninstall": "review_bot.hook_cli:uninstall",
    "review": "review_bot.review_cli:review",
    "serve": "review_bot.models_cli:serve",
    "models": "review_bot.models_cli:models",
    "doctor": "review_bot.models_cli:doctor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [
            name
            for name, spec in LAZY_COMMANDS.items()
            if importlib.util.find_spec(spec.partition(":")[0]) is not None
        ]
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            if importlib.util.find_spec(module_name) is None:
                return None
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="review-bot")
def cli() -> None:
    """Write pytest tests and docstrings with a local model, keeping only verified ones."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME",
    help="Only this function (repeatable); a plain or Class.method name.",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="GGUF model file (else REVIEW_BOT_MODEL, [tool.review-bot] model, bundled).",
)
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), help="How tests are written.")
@click.option("--convention", type=click.Choice(CONVENTIONS), help="Docstring convention.")
@click.option("--runs", type=click.IntRange(min=1), help="A kept test passes N of N runs.")
@click.option(
    "--backend",
    type=click.Choice(BACKEND_CHOICES),
    help="llamacpp (in process) or openai (an OpenAI-compatible server at --base-url).",
)
@click.option(
    "--base-url", metavar="URL", help="The server of --backend openai, e.g. http://host:8000/v1."
)
@click.option("--write", is_flag=True, help="Write kept tests and insert kept docstrings.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--no-tests", is_flag=True, help="Docstrings only.")
@click.option("--no-docstrings", is_flag=True, help="Tests only.")
def suggest(
    path: Path,
    functions: tuple[str, ...],
    model: Path | None,
    strategy: str | None,
    convention: str | None,
    runs: int | None,
    backend: str | None,
    base_url: str | None,
    write: bool,
    as_json: bool,
    no_cache: bool,
    no_tests: bool,
    no_docstrings: bool,
) -> None:
    """Suggest verified tests and docstrings for the functions in PATH."""
    from review_bot import report
    from review_bot.progress import ConsoleProgress
    from review_bot.suggest import suggest as run_suggest

    flags: dict[str, Any] = {
        "model": model,
        "strategy": strategy,
        "convention": convention,
        "runs": runs,
        "backend": backend,
        "base_url": base_url,
    }
    if no_cache:
        flags["cache"] = False
    if no_tests:
        flags["tests"] = False
    if no_docstrings:
        flags["docstrings"] = False
    settings = load_settings(find_project_root(path.absolute()), flags)
    progress = ConsoleProgress()
    try:
        result = run_suggest(path, settings, functions=functions, write=write, progress=progress)
    finally:
        progress.stop()
    if as_json:
        click.echo(json.dumps(report.to_json(result), indent=2))
    else:
        click.echo(report.to_text(result), nl=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: one handler maps every failure to a documented exit code."""
    try:
        # Without standalone mode click returns what the command returned, or the code
        # of a ctx.exit(n); commands that return nothing succeeded.
        result = cli.main(args=argv, prog_name="review-bot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except FatalError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_FATAL
    except KeyboardInterrupt:
        click.echo("Interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("REVIEW_BOT_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"Error: internal error: {type(exc).__name__}: {exc} "
            "(set REVIEW_BOT_DEBUG=1 for the traceback)",
            err=True,
        )
        return EXIT_BUG
    return result if isinstance(result, int) else EXIT_OK
