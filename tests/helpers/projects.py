"""Projects on disk for the tests that run review-bot on one."""

from __future__ import annotations

from pathlib import Path


def make_project(root: Path, files: dict[str, str]) -> Path:
    """A small project: pyproject.toml plus the given files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
