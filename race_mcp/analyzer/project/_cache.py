"""The on-disk cache of per-file facts: one SQLite database per format, keyed by content.

Where: `$RACE_MCP_CACHE_DIR` when set (`off` turns the cache off), else `$XDG_CACHE_HOME/race-mcp`,
else `~/.cache/race-mcp`. A default location that falls inside the analysed project is not used:
the cache is never written into the analysed tree unless the user asked for it.

A key is a hash of the race-mcp version, the format version, the file's module name and kind, and
its bytes: an edited file is a new key, an unchanged one is a hit whatever its timestamps. SQLite
makes each batch of writes atomic and lets the CLI's worker processes share the file (WAL; a
writer that finds it locked skips its writes: the cache is an optimisation, never a dependency).
Deleting the directory is always safe. An entry that does not decode is ignored (and rebuilt);
a file that is not a database is replaced; any other failure turns the cache off for the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..._version import __version__
from ._facts import FileFacts

__all__ = ["FORMAT_VERSION", "FactsCache", "cache_directory", "facts_key"]

FORMAT_VERSION = 8
_ENV = "RACE_MCP_CACHE_DIR"
_OFF = frozenset({"", "0", "off", "none", "false"})
_BATCH = 500
_DAY = 86_400
_KEEP_DAYS = 30  # entries no run has read for this long are dropped


def cache_directory(project_root: Path | None = None) -> Path | None:
    """The cache directory to use, or None when the cache is off (or would land in the project)."""
    configured = os.environ.get(_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _OFF else Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    directory = base / "race-mcp"
    if project_root is not None:
        resolved, root = directory.resolve(), project_root.resolve()
        if resolved == root or resolved.is_relative_to(root):
            return None
    return directory


def facts_key(data: bytes, module: str, kind: str, is_package: bool) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{__version__}\0{FORMAT_VERSION}\0{kind}\0{module}\0{int(is_package)}\0".encode())
    digest.update(data)
    return digest.hexdigest()


class FactsCache:
    """`get_many(keys)` / `put_many(entries)`; every failure degrades to a miss, never an error."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"index-v{FORMAT_VERSION}.sqlite3"
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        self._open(retry=True)

    @classmethod
    def default(cls, project_root: Path | None = None) -> FactsCache | None:
        directory = cache_directory(project_root)
        return cls(directory) if directory is not None else None

    @property
    def usable(self) -> bool:
        return self._db is not None

    def _open(self, *, retry: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            with contextlib.suppress(sqlite3.DatabaseError):
                db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, data BLOB NOT NULL, used INTEGER)"
            )
            self._db = db
        except sqlite3.DatabaseError:
            self._db = None
            if retry and self._discard():
                self._open(retry=False)
        except OSError:
            self._db = None

    def _discard(self) -> bool:
        """Remove a database file that SQLite cannot read (truncated, overwritten): it is only a cache."""
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def get_many(self, keys: Iterable[str]) -> dict[str, FileFacts]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, FileFacts] = {}
        if self._db is None:
            self.misses += len(wanted)
            return found
        try:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                for key, blob in self._db.execute(
                    f"SELECT key, data FROM facts WHERE key IN ({marks})", batch
                ):
                    facts = _decode(blob)
                    if facts is not None:
                        found[key] = facts
            self._touch(list(found))
        except sqlite3.DatabaseError:
            self._reset()
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def put_many(self, entries: Mapping[str, FileFacts]) -> None:
        if self._db is None or not entries:
            return
        today = int(time.time()) // _DAY
        rows = [(key, zlib.compress(json.dumps(f.dump(), separators=(",", ":")).encode(), 1), today)
                for key, f in entries.items()]  # fmt: skip
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO facts (key, data, used) VALUES (?, ?, ?)", rows)
            self._db.execute("DELETE FROM facts WHERE used < ?", (today - _KEEP_DAYS,))
            self._db.execute("COMMIT")
        except sqlite3.OperationalError:  # locked by another process for longer than the timeout
            with contextlib.suppress(sqlite3.DatabaseError):
                self._db.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            self._reset()

    def _touch(self, keys: list[str]) -> None:
        """Mark hits as used today (once a day per entry), so the age-out keeps what runs read."""
        if self._db is None or not keys:
            return
        today = int(time.time()) // _DAY
        try:
            for start in range(0, len(keys), _BATCH):
                batch = keys[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                self._db.execute(
                    f"UPDATE facts SET used = ? WHERE used < ? AND key IN ({marks})", [today, today, *batch]
                )
        except sqlite3.OperationalError:
            pass  # another process holds the write lock: the date can wait for another run

    def _reset(self) -> None:
        """The file went bad under us: replace it, or go on without a cache."""
        self.close()
        if self._discard():
            self._open(retry=False)

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def _decode(blob: object) -> FileFacts | None:
    try:
        assert isinstance(blob, bytes)
        return FileFacts.load(json.loads(zlib.decompress(blob)))
    except Exception:
        return None
