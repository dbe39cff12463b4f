from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from review_bot.cache import Cache, digest, file_identity
from review_bot.errors import FatalError


def test_roundtrip_and_counts(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c" / "cache.sqlite3")
    key = digest("test", "def f(): pass")
    assert cache.get(key) is None
    cache.put(key, "test", {"status": "kept"})
    assert cache.get(key) == {"status": "kept"}
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.peek(key) == {"status": "kept"} and cache.hits == 1
    cache.close()
    reopened = Cache(tmp_path / "c" / "cache.sqlite3")
    assert reopened.get(key) == {"status": "kept"}
    with sqlite3.connect(tmp_path / "c" / "cache.sqlite3") as db:
        assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == ["m001_entries"]
    reopened.close()


def test_disabled_cache_remembers_nothing() -> None:
    cache = Cache(None)
    cache.put("k", "test", 1)
    assert cache.get("k") is None and cache.peek("k") is None and cache.misses == 1


def test_digest_and_identity(tmp_path: Path) -> None:
    assert digest("a", 1) == digest("a", 1) != digest("a", 2)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"1")
    before = file_identity(model)
    model.write_bytes(b"22")
    assert file_identity(model) != before
    assert file_identity(tmp_path / "none").endswith(":missing")


def test_corrupt_cache_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FatalError, match="cache unusable"):
        Cache(path).get("k")
