"""`review-bot suggest`: verified tests and docstrings for one file; parsing and echo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from review_bot.commands.options import (
    BACKEND_HELP,
    BASE_URL_HELP,
    backend_factory,
    backend_options,
    generation_options,
    json_option,
    model_options,
    oracle_options,
    settings_flags,
    what_options,
)
from review_bot.config import find_project_root, load_settings
from review_bot.errors import EXIT_OK
from review_bot.progress import terminal_safe


@click.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME",
    help="Only this function (repeatable); a plain or Class.method name.",
)
@model_options
@generation_options()
@backend_options(backend_help=BACKEND_HELP, base_url_help=BASE_URL_HELP)
@click.option("--write", is_flag=True, help="Write kept tests and insert kept docstrings.")
@json_option
@what_options
@oracle_options
@click.pass_context
def suggest(
    ctx: click.Context,
    /,
    path: Path,
    functions: tuple[str, ...],
    write: bool,
    as_json: bool,
    **options: Any,
) -> int:
    """Suggest verified tests and docstrings for the functions in PATH."""
    from review_bot import report
    from review_bot.progress import ConsoleProgress
    from review_bot.suggest import suggest as run_suggest

    settings = load_settings(find_project_root(path.absolute()), settings_flags(options))
    progress = ConsoleProgress()
    try:
        result = run_suggest(
            path,
            settings,
            functions=functions,
            write=write,
            backend_factory=backend_factory(ctx),
            progress=progress,
        )
    finally:
        progress.stop()
    if as_json:
        click.echo(json.dumps(report.to_json(result), indent=2))
    else:
        click.echo(terminal_safe(report.to_text(result)), nl=False)
    return EXIT_OK
