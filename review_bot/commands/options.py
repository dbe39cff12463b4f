"""The options several commands share, and the one way parsed options become settings.

Every command that takes a setting on its command line takes it through a decorator here,
with one help text, and hands click's parsed options to `settings_flags`, which builds the
`flags` mapping `config.load_settings` reads (flags > env > pyproject > defaults).

The test seam: a command that runs the core (`suggest`, `review`) asks `backend_factory`
for the backend to use. Tests invoke the group with `obj={"backend_factory": FACTORY}`
(click's `ctx.obj`), FACTORY being `(model path, bundled, settings) -> Backend`, e.g. a
scripted model; without it the settings choose (core/backends.py). The hook runs the core
in a worker process and has its own seam (`hook.run.run_hook(run_core=...)`).

Imported on every commit (the hook command): nothing heavy here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from review_bot.config import BACKEND_CHOICES, CONVENTIONS, RUNTIME_CHOICES, STRATEGY_CHOICES

if TYPE_CHECKING:
    from review_bot.core.backends import BackendFactory

F = TypeVar("F", bound=Callable[..., Any])

# Options whose value, when given, is the setting of the same name.
SETTING_OPTIONS = (
    "model",
    "strategy",
    "convention",
    "runs",
    "backend",
    "runtime",
    "base_url",
    "gpu_layers",
    "n_ctx",
    "mode",
    "on_error",
    "python",
    "disagreements",
)
# Flags that turn a setting off: --no-cache -> cache = False.
OFF_SWITCHES = {
    "no_cache": "cache",
    "no_tests": "tests",
    "no_docstrings": "docstrings",
    "no_oracle_repair": "oracle_repair",
    "no_mutation": "mutation",
}

BACKEND_HELP = "llamacpp (in process) or openai (an OpenAI-compatible server at --base-url)."
RUNTIME_HELP = (
    "The llama.cpp that runs the model in process: auto (xllamacpp when installed), "
    "xllamacpp or llama-cpp-python."
)
BASE_URL_HELP = "The server of --backend openai, e.g. http://host:8000/v1."


def settings_flags(options: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed options -> the `flags` of `config.load_settings`: only what was given.

    A command without --backend (`review`): its --base-url means the openai backend.
    """
    flags: dict[str, Any] = {
        name: options[name]
        for name in SETTING_OPTIONS
        if name in options and options[name] is not None
    }
    for switch, setting in OFF_SWITCHES.items():
        if options.get(switch):
            flags[setting] = False
    if "backend" not in options and options.get("base_url"):
        flags["backend"] = "openai"
    return flags


def backend_factory(ctx: click.Context) -> BackendFactory | None:
    """The test seam: `ctx.obj["backend_factory"]`, if a test passed one (see above)."""
    obj = ctx.find_object(dict)
    factory: BackendFactory | None = (obj or {}).get("backend_factory")
    return factory


def _apply(decorators: list[Callable[[Any], Any]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for decorator in reversed(decorators):  # the first one listed shows first in --help
            func = decorator(func)
        return func

    return decorate


def model_options(func: F) -> F:
    """--model: a GGUF file or a packaged model's name."""
    return _apply(
        [
            click.option(
                "--model",
                type=click.Path(path_type=Path, dir_okay=False),
                metavar="PATH|NAME",
                help="GGUF model file, or qwen2.5-coder-0.5b (the default) or smollm2 "
                "(else REVIEW_BOT_MODEL, [tool.review-bot] model, the default).",
            )
        ]
    )(func)


def generation_options(*, convention: bool = True) -> Callable[[F], F]:
    """--strategy, --convention (unless `convention` is False), --runs and --python."""
    decorators: list[Callable[[Any], Any]] = [
        click.option(
            "--strategy", type=click.Choice(STRATEGY_CHOICES), help="How tests are written."
        )
    ]
    if convention:
        decorators.append(
            click.option(
                "--convention", type=click.Choice(CONVENTIONS), help="Docstring convention."
            )
        )
    decorators.append(
        click.option("--runs", type=click.IntRange(min=1), help="A kept test passes N of N runs.")
    )
    decorators.append(
        click.option(
            "--python",
            metavar="PATH",
            help="The interpreter that runs the tests (else REVIEW_BOT_PYTHON, "
            "[tool.review-bot] python, the project's .venv, ...).",
        )
    )
    return _apply(decorators)


def backend_options(*, backend_help: str | None, base_url_help: str) -> Callable[[F], F]:
    """--backend and --runtime (unless `backend_help` is None) and --base-url."""
    decorators: list[Callable[[Any], Any]] = []
    if backend_help is not None:
        decorators.append(
            click.option("--backend", type=click.Choice(BACKEND_CHOICES), help=backend_help)
        )
        decorators.append(
            click.option("--runtime", type=click.Choice(RUNTIME_CHOICES), help=RUNTIME_HELP)
        )
    decorators.append(click.option("--base-url", metavar="URL", help=base_url_help))
    return _apply(decorators)


def what_options(func: F) -> F:
    """--no-cache, --no-tests, --no-docstrings, --no-mutation."""
    return _apply(
        [
            click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
            click.option("--no-tests", is_flag=True, help="Docstrings only."),
            click.option("--no-docstrings", is_flag=True, help="Tests only."),
            click.option(
                "--no-mutation",
                is_flag=True,
                help="Keep tests without scoring them against mutants of the function.",
            ),
        ]
    )(func)


def oracle_options(func: F) -> F:
    """--no-oracle-repair, --disagreements/--no-disagreements (generate/oracle.py)."""
    return _apply(
        [
            click.option(
                "--no-oracle-repair",
                is_flag=True,
                help="Do not replace a failing test's wrong expected values by observed ones.",
            ),
            click.option(
                "--disagreements/--no-disagreements",
                default=None,
                help="Report the expected values oracle repair replaced (default: on, "
                "except for smollm2).",
            ),
        ]
    )(func)


def json_option(func: F) -> F:
    """--json: one JSON object on stdout."""
    return _apply([click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")])(
        func
    )
