"""The plain git pre-commit hook, for repositories that do not use the pre-commit framework.

The script is `pre-commit.sh` next to this module; `hooks/pre-commit` in the repository is
the same text (a test checks it), with INSTALL_PYTHON empty.
"""

from __future__ import annotations

import os
import shlex
import sys
from importlib import resources
from pathlib import Path

from review_bot import git
from review_bot.errors import FatalError

HOOK_MARKER = "# review-bot: plain git pre-commit hook"
BACKUP_NAME = "pre-commit.before-review-bot"
PYTHON_LINE = "INSTALL_PYTHON=''\n"  # in the script as shipped; install fills it in


def hook_template() -> str:
    """The script as shipped (hooks/pre-commit): no interpreter named."""
    return resources.files("review_bot.hook").joinpath("pre-commit.sh").read_text(encoding="utf-8")


def hook_script(python: str) -> str:
    """The script, running review-bot with `python` (when that is executable)."""
    return hook_template().replace(PYTHON_LINE, f"INSTALL_PYTHON={shlex.quote(python)}\n", 1)


def install(cwd: Path, *, force: bool = False, python: str | None = None) -> str:
    """Put the plain hook into the repository's hooks directory; returns a message."""
    hooks = git.hooks_dir(cwd)
    path = hooks / "pre-commit"
    backup = hooks / BACKUP_NAME
    script = hook_script(python or sys.executable)
    existing = _hook_text(path)
    if existing is not None and HOOK_MARKER not in existing:
        if not force:
            extra = (
                " (it is pre-commit's: add review-bot to .pre-commit-config.yaml instead)"
                if "pre-commit" in existing and "INSTALL_PYTHON" in existing
                else ""
            )
            raise FatalError(
                f"{path}: a pre-commit hook not installed by review-bot is in place{extra}; "
                "use --force to replace it (review-bot uninstall restores it)"
            )
        if backup.exists() or backup.is_symlink():
            raise FatalError(f"{backup}: exists; move it away before --force")
        os.replace(path, backup)
    hooks.mkdir(parents=True, exist_ok=True)
    tmp = hooks / f".pre-commit.review-bot.{os.getpid()}.tmp"
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)
    if existing is not None and HOOK_MARKER in existing:
        return f"review-bot: updated {path}"
    if existing is not None:
        return f"review-bot: installed {path} (the previous hook is saved as {backup.name})"
    return f"review-bot: installed {path}"


def uninstall(cwd: Path) -> str:
    hooks = git.hooks_dir(cwd)
    path = hooks / "pre-commit"
    backup = hooks / BACKUP_NAME
    existing = _hook_text(path)
    if existing is None:
        return "review-bot: no pre-commit hook installed"
    if HOOK_MARKER not in existing:
        raise FatalError(f"{path}: not installed by review-bot; leaving it alone")
    path.unlink()
    if backup.exists() or backup.is_symlink():
        os.replace(backup, path)
        return f"review-bot: removed the hook and restored the previous {path}"
    return f"review-bot: removed {path}"


def _hook_text(path: Path) -> str | None:
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # unreadable (a dangling link): certainly not ours
