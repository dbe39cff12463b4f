"""Commands `review-bot hook`, `install` and `uninstall`; parsing and echo only.

Imported on every commit: nothing heavy at module level (the model stack, libcst and
GitPython load only when a commit has Python changes to work on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from review_bot.commands.options import (
    generation_options,
    model_options,
    settings_flags,
    what_options,
)
from review_bot.config import MODE_CHOICES, ON_ERROR_CHOICES
from review_bot.errors import EXIT_OK


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(MODE_CHOICES),
    help="stage (default): write and stage kept tests; write: write only, exit 1; "
    "check: write nothing, exit 1 listing what lacks tests or docstrings.",
)
@click.option(
    "--hook-id",
    type=click.Choice(["llm-tests", "llm-docstrings"]),
    default="llm-tests",
    show_default=True,
    help="llm-docstrings: docstrings alone. SKIP=<id> skips the hook.",
)
@model_options
@generation_options(convention=False)
@click.option(
    "--on-error",
    type=click.Choice(ON_ERROR_CHOICES),
    help="When the model is missing, crashes or times out: warn (commit goes on) or fail.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Give up on the model after SECONDS (then on_error decides).",
)
@what_options
def hook(files: tuple[Path, ...], hook_id: str, timeout: float | None, **options: Any) -> int:
    """Verified tests and docstrings for the staged changes (the pre-commit hook).

    FILES, as pre-commit passes them, limit the hook to those files; without them it looks
    at every staged Python file. Exit codes: 0 nothing to do or tests staged; 1 files were
    written for review, docstrings inserted, check mode found gaps, kept tests were blocked
    by unstaged changes, or on_error = fail and the model failed.
    """
    from review_bot.hook.select import python_staged

    if not python_staged(Path.cwd(), files):
        return EXIT_OK  # the common commit: nothing for review-bot, and nothing more imported
    from review_bot.hook.run import HookOptions, run_hook
    from review_bot.hook.summary import printable

    hook_options = HookOptions(
        hook_id=hook_id, files=tuple(str(f) for f in files), timeout_s=timeout
    )
    result = run_hook(Path.cwd(), settings_flags(options), hook_options)
    for line in result.lines:
        click.echo(printable(line))
    return result.exit_code


@click.command()
@click.option("--force", is_flag=True, help="Replace a hook review-bot did not install.")
def install(force: bool) -> int:
    """Install the plain git pre-commit hook (for repositories without pre-commit)."""
    from review_bot.hook.install import install as install_hook

    click.echo(install_hook(Path.cwd(), force=force))
    return EXIT_OK


@click.command()
def uninstall() -> int:
    """Remove the plain git hook and restore the one it replaced."""
    from review_bot.hook.install import uninstall as uninstall_hook

    click.echo(uninstall_hook(Path.cwd()))
    return EXIT_OK
