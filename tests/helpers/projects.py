"""Projects on disk for the tests that run review-bot on one."""

from __future__ import annotations

import os
import subprocess
import sys
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


# -- projects as users have them: a src layout, dependencies, their own virtualenv ----------

SHOP_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "shop"
version = "0.1"
dependencies = ["toolz"]

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

SHOP_CART = """\
from toolz import unique


def sku(name: str, size: str) -> str:
    return f"{name.upper()}-{size}"


def distinct(items: list[str]) -> list[str]:
    return list(unique(items))
"""

SHOP_FILES = {
    "pyproject.toml": SHOP_PYPROJECT,
    ".gitignore": ".venv/\n*.egg-info/\n__pycache__/\n",
    "src/shop/__init__.py": "",
    "src/shop/cart.py": SHOP_CART,
    # The project's own fixture: generated tests may use it, as the project's tests do.
    "tests/conftest.py": (
        "import pytest\n\n\n@pytest.fixture\ndef sizes():\n    return ['S', 'M']\n"
    ),
    "tests/test_cart.py": (
        "from shop.cart import distinct\n\n\n"
        "def test_distinct():\n    assert distinct(['a', 'b', 'a']) == ['a', 'b']\n"
    ),
}


def make_shop(root: Path) -> Path:
    """A standard project: src layout, a dependency (toolz), pytest's testpaths, a conftest
    fixture and a test of `distinct` (so `sku` is the function without a test)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in SHOP_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(env: Path, *packages: str, editable: Path | None = None) -> Path:
    """A real virtualenv (`python -m venv`) with `packages` installed by pip (from its
    cache) and `editable` installed with `pip install -e`; its interpreter. Without
    packages or an editable project it has no pip at all: a bare environment."""
    bare = not packages and editable is None
    subprocess.run(
        [sys.executable, "-m", "venv", *(["--without-pip"] if bare else []), str(env)],
        check=True,
        capture_output=True,
    )
    python = venv_python(env)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if packages:
        _run([*pip, *packages])
    if editable is not None:
        _run([*pip, "--no-deps", "-e", str(editable)])
    return python


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
