from __future__ import annotations

from pathlib import Path

import pytest

from review_bot.errors import SourceError
from review_bot.source import read_source
from review_bot.targets import (
    import_root,
    module_name,
    select,
    targets_in_source,
    top_level_names,
)

SOURCE = '''\
import os

LIMIT = 3


@staticmethod
def decorated(a, /, b: int = 2, *rest, flag: bool = False, **extra) -> int:
    return a


async def fetch(url: str) -> str:
    """Fetch it."""
    return url


class Parser:
    def parse(self, text):
        def helper():
            return text
        return helper()
'''


def test_targets_in_source(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    targets = targets_in_source(tmp_path, path, SOURCE)
    assert [t.qualname for t in targets] == ["decorated", "fetch", "Parser.parse"]
    first = targets[0]
    assert (first.lineno, first.def_lineno, first.end_lineno) == (6, 7, 8)
    assert [(p.name, p.kind, p.default) for p in first.params] == [
        ("a", "positional_only", None),
        ("b", "positional", "2"),
        ("rest", "vararg", None),
        ("flag", "keyword_only", "False"),
        ("extra", "varkw", None),
    ]
    assert first.returns == "int" and first.docstring is None
    assert targets[1].is_async and targets[1].docstring == "Fetch it."
    method = targets[2]
    assert method.is_method and method.display == "mod.Parser.parse" and method.name == "parse"
    assert method.source.startswith("def parse(self, text):")
    assert top_level_names(__import__("ast").parse(SOURCE)) == [
        "LIMIT",
        "decorated",
        "fetch",
        "Parser",
    ]


def test_select(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    targets = targets_in_source(tmp_path, path, SOURCE)
    assert [t.qualname for t in select(targets, ["parse"])] == ["Parser.parse"]
    assert select(targets, []) == targets
    with pytest.raises(SourceError, match="no function named nope"):
        select(targets, ["nope"])


def test_package_roots(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "pkg" / "sub"
    pkg.mkdir(parents=True)
    for d in (pkg, pkg.parent):
        (d / "__init__.py").write_text("")
    mod = pkg / "util.py"
    mod.write_text("")
    assert import_root(mod) == tmp_path / "src"
    assert module_name(tmp_path / "src", mod) == "pkg.sub.util"
    assert module_name(tmp_path / "src", pkg / "__init__.py") == "pkg.sub"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bin.py", b"\x00\x01\x02", "binary file"),
        ("latin.py", "x = 'caf\xe9'\n".encode("latin-1"), "not UTF-8"),
        ("notes.txt", b"hello", "not a Python file"),
    ],
)
def test_read_source_rejects(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        read_source(path)


def test_read_source_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_source(tmp_path / "gone.py")
    with pytest.raises(SourceError, match="not a Python file"):
        read_source(tmp_path)
