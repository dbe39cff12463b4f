"""Commands `review-bot hook`, `install` and `uninstall`; parsing only.

Imported on every commit: nothing heavy at module level (the model stack, libcst and
GitPython load only when a commit has Python changes to work on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from review_bot.config import MODE_CHOICES, ON_ERROR_CHOICES, STRATEGY_CHOICES


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
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="GGUF model file (else REVIEW_BOT_MODEL, [tool.review-bot] model, bundled).",
)
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), help="How tests are written.")
@click.option("--runs", type=click.IntRange(min=1), help="A kept test passes N of N runs.")
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
@click.option("--no-tests", is_flag=True, help="Docstrings only.")
@click.option("--no-docstrings", is_flag=True, help="Tests only.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
def hook(
    files: tuple[Path, ...],
    mode: str | None,
    hook_id: str,
    model: Path | None,
    strategy: str | None,
    runs: int | None,
    on_error: str | None,
    timeout: float | None,
    no_tests: bool,
    no_docstrings: bool,
    no_cache: bool,
) -> None:
    """Verified tests and docstrings for the staged changes (the pre-commit hook).

    FILES, as pre-commit passes them, limit the hook to those files; without them it looks
    at every staged Python file. Exit codes: 0 nothing to do or tests staged; 1 files were
    written for review, docstrings inserted, check mode found gaps, kept tests were blocked
    by unstaged changes, or on_error = fail and the model failed.
    """
    if not _python_staged(files):
        return  # the common commit: nothing for review-bot, and nothing more imported
    from review_bot.hook.run import HookOptions, run_hook

    flags: dict[str, Any] = {
        "mode": mode,
        "model": model,
        "strategy": strategy,
        "runs": runs,
        "on_error": on_error,
    }
    if no_tests:
        flags["tests"] = False
    if no_docstrings:
        flags["docstrings"] = False
    if no_cache:
        flags["cache"] = False
    options = HookOptions(hook_id=hook_id, files=tuple(str(f) for f in files), timeout_s=timeout)
    result = run_hook(Path.cwd(), flags, options)
    for line in result.lines:
        click.echo(printable(line))
    if result.exit_code:
        # Not click's Exit: cli.main() runs click in non-standalone mode, where click turns
        # Exit into a return value that main() does not pass on.
        raise SystemExit(result.exit_code)


def _python_staged(files: tuple[Path, ...]) -> bool:
    """Whether any Python file is staged (and among FILES, if given).

    Asked here, before the hook module is even imported, so that a commit without a Python
    change costs one small git call. hook.run.run_hook asks again, precisely.
    """
    if files:
        return any(f.suffix == ".py" for f in files)
    from review_bot import git

    repo = git.find_repo(Path.cwd())
    return any(c.status != "D" for c in git.staged_changes(repo, pattern="*.py"))


def printable(line: str) -> str:
    """A file name that is not UTF-8 (kept as surrogates) shown with U+FFFD, not a crash."""
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@click.command()
@click.option("--force", is_flag=True, help="Replace a hook review-bot did not install.")
def install(force: bool) -> None:
    """Install the plain git pre-commit hook (for repositories without pre-commit)."""
    from review_bot.hook.install import install as install_hook

    click.echo(install_hook(Path.cwd(), force=force))


@click.command()
def uninstall() -> None:
    """Remove the plain git hook and restore the one it replaced."""
    from review_bot.hook.install import uninstall as uninstall_hook

    click.echo(uninstall_hook(Path.cwd()))
