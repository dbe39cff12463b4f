"""The command line: the `review-bot` group, its lazy registry and `main()`.

One module per command (suggest, hook, review, models); they parse, call the package and
echo, and never import each other. No logic here beyond dispatch and the one error handler:

- a command returns its exit code (an int; None is 0) or raises FatalError;
- main() maps: FatalError -> 1 with one line, a usage error -> 2, Ctrl-C -> 130, any
  other exception (a bug) -> 3 with one line, the traceback under REVIEW_BOT_DEBUG=1.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import traceback
from typing import Any

import click

from review_bot import __version__
from review_bot.errors import EXIT_BUG, EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, FatalError
from review_bot.progress import terminal_safe

# Every command lives in its own module, imported only when used: a commit with no Python
# change must not pay for importing the model stack.
LAZY_COMMANDS: dict[str, str] = {
    "suggest": "review_bot.commands.suggest:suggest",
    "hook": "review_bot.commands.hook:hook",
    "install": "review_bot.commands.hook:install",
    "uninstall": "review_bot.commands.hook:uninstall",
    "review": "review_bot.commands.review:review",
    "serve": "review_bot.commands.models:serve",
    "models": "review_bot.commands.models:models",
    "doctor": "review_bot.commands.models:doctor",
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


@cli.result_callback()
@click.pass_context
def _exit_code(ctx: click.Context, /, code: Any, **_: Any) -> None:
    """A command's non-zero return value is the process's exit status, however the group
    is run: main() (click returns it) or click's standalone mode (tests' CliRunner)."""
    if isinstance(code, int) and code != EXIT_OK:
        ctx.exit(code)


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
        click.echo(f"Error: {terminal_safe(str(exc))}", err=True)
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
