"""SQLite cache keyed by content hashes: unchanged code makes no model call."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from review_bot import __version__
from review_bot.errors import FatalError

# Named migrations, applied in order and recorded, as simonw/llm does.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_entries",
        "CREATE TABLE entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
        "value TEXT NOT NULL, created REAL NOT NULL)",
    ),
]


def digest(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts."""
    text = json.dumps([__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_identity(path: Path) -> str:
    """Path, size and mtime: cheap, and a changed model file misses the cache.

    Hashing gigabytes of weights on every commit would cost more than it saves.
    """
    try:
        stat = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


class Cache:
    def __init__(self, path: Path | None) -> None:
        """`path=None` gives a cache that remembers nothing (--no-cache)."""
        self.path = path
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10)
                db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)")
                done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
                for name, sql in MIGRATIONS:
                    if name not in done:
                        with db:
                            db.execute(sql)
                            db.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
            except sqlite3.DatabaseError as exc:
                raise FatalError(
                    f"{self.path}: cache unusable ({exc}); delete it or use --no-cache"
                ) from None
            except OSError as exc:
                raise FatalError(f"{self.path}: cannot create cache: {exc.strerror}") from None
            self._db = db
        return self._db

    def get(self, key: str) -> Any | None:
        db = self._connect()
        row = None
        if db is not None:
            row = db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def peek(self, key: str) -> Any | None:
        """Like get() without counting: for bookkeeping entries, not model results."""
        db = self._connect()
        if db is None:
            return None
        row = db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, kind: str, value: Any) -> None:
        db = self._connect()
        if db is None:
            return
        with db:
            db.execute(
                "INSERT OR REPLACE INTO entries (key, kind, value, created) VALUES (?, ?, ?, ?)",
                (key, kind, json.dumps(value), time.time()),
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
