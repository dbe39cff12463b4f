"""The command line's shared options: which command takes which, the one way they become
settings, and click staying in commands/."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import click
import pytest

from review_bot.commands import LAZY_COMMANDS, cli
from review_bot.commands.options import backend_factory, settings_flags

PACKAGE = Path(__file__).resolve().parent.parent / "review_bot"

MODEL = ["--model", "m.gguf"]
GENERATION = ["--strategy", "chat", "--convention", "numpy", "--runs", "2"]
WHAT = ["--no-cache", "--no-tests", "--no-docstrings"]
OFF = {"cache": False, "tests": False, "docstrings": False}


def parse(name: str, args: list[str]) -> dict[str, Any]:
    """Parse `review-bot NAME ARGS` without running it: click's parsed options."""
    with click.Context(cli) as parent:
        command = cli.get_command(parent, name)
        assert command is not None
        return dict(command.make_context(name, args, parent=parent).params)


@pytest.mark.parametrize(
    ("name", "args", "flags"),
    [
        (
            "suggest",
            [
                "x.py",
                *MODEL,
                *GENERATION,
                "--backend",
                "openai",
                "--base-url",
                "http://h/v1",
                *WHAT,
            ],
            {
                "model": Path("m.gguf"),
                "strategy": "chat",
                "convention": "numpy",
                "runs": 2,
                "backend": "openai",
                "base_url": "http://h/v1",
                **OFF,
            },
        ),
        (
            "hook",
            [*MODEL, "--strategy", "cases", "--runs", "3", "--mode", "check", *WHAT],
            {"model": Path("m.gguf"), "strategy": "cases", "runs": 3, "mode": "check", **OFF},
        ),
        (
            "hook",
            ["--on-error", "fail"],
            {"on_error": "fail"},
        ),
        (
            # review has no --backend: its --base-url means the openai backend.
            "review",
            [*MODEL, *GENERATION, "--base-url", "http://h/v1", "--gpu-layers", "0", *WHAT],
            {
                "model": Path("m.gguf"),
                "strategy": "chat",
                "convention": "numpy",
                "runs": 2,
                "base_url": "http://h/v1",
                "backend": "openai",
                "gpu_layers": 0,
                **OFF,
            },
        ),
        ("review", [], {}),
        ("doctor", ["--base-url", "http://h/v1"], {"base_url": "http://h/v1"}),
        ("doctor", ["--backend", "openai"], {"backend": "openai"}),
        ("serve", ["--n-ctx", "2048", "--gpu-layers", "-1"], {"n_ctx": 2048, "gpu_layers": -1}),
        ("suggest", ["x.py"], {}),
        ("suggest", ["x.py", "--python", ".venv/bin/python"], {"python": ".venv/bin/python"}),
        ("hook", ["--python", "python3.11"], {"python": "python3.11"}),
        ("review", ["--python", "/e/bin/python"], {"python": "/e/bin/python"}),
    ],
)
def test_shared_options_become_settings_flags(
    name: str, args: list[str], flags: dict[str, Any]
) -> None:
    assert settings_flags(parse(name, args)) == flags


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("hook", "--convention"),  # from [tool.review-bot] or the environment only
        ("hook", "--base-url"),
        ("review", "--backend"),
        ("doctor", "--no-cache"),
        ("serve", "--strategy"),
    ],
)
def test_commands_reject_options_they_do_not_take(name: str, option: str) -> None:
    with pytest.raises(click.NoSuchOption):
        parse(name, [option, "x"])


def test_every_registered_command_resolves() -> None:
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(LAZY_COMMANDS)
        for name in LAZY_COMMANDS:
            assert isinstance(cli.get_command(ctx, name), click.Command)


def test_the_backend_factory_seam_is_ctx_obj() -> None:
    def factory(path: Path, bundled: bool, settings: Any) -> Any:
        raise AssertionError("not called")

    with click.Context(cli, obj={"backend_factory": factory}) as ctx:
        assert backend_factory(ctx) is factory
    with click.Context(cli) as ctx:
        assert backend_factory(ctx) is None


def _imports_click(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "click" or name.startswith("click.") for name in names):
            return True
    return False


def test_only_the_command_modules_import_click() -> None:
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if _imports_click(path)
    }
    assert importers, "the command line imports click somewhere"
    assert {p for p in importers if not p.startswith("commands/")} == set()
