"""The demo shop's storage: a thin async wrapper over stdlib `sqlite3`, plus the seed state.

The wrapper mirrors the `databases`/`aiosqlite` style (`await db.fetch_one(sql, *params)`): every
statement runs on a worker thread so the event loop keeps serving other requests meanwhile, and
every statement outside `transaction()` commits on its own, as in autocommit mode.

Both shops (`shop.py` and `shop_fixed.py`) share this module; only their schema and handlers differ.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio import to_thread

__all__ = [
    "DAILY_VERIFICATION_CODES",
    "DATABASE_ENV",
    "REWARD_COSTS",
    "SEED_GIFT_CARDS",
    "SEED_LOYALTY_POINTS",
    "Database",
    "Statements",
    "Transaction",
    "open_database",
]

T = TypeVar("T")

DATABASE_ENV = "RACE_MCP_DEMO_DB"
"""Environment variable naming the SQLite file; unset means a fresh temporary file per server run."""

SEED_SQL = """
INSERT INTO accounts (id, email, name, balance_cents) VALUES
    (1, 'alice@example.com', 'Alice', 10000),
    (2, 'bob@example.com', 'Bob', 2500),
    (3, 'carol@example.com', 'Carol', 0);
INSERT INTO products (id, name, price_cents, stock) VALUES
    (1, 'Signed first-edition print', 12000, 1),
    (2, 'Enamel camp mug', 1800, 40);
INSERT INTO coupons (code, value_cents) VALUES
    ('WELCOME10', 1000),
    ('SPRING25', 2500);
"""

SEED_GIFT_CARDS: dict[str, int] = {"GC-5000": 5000, "GC-2500": 2500}
"""Gift-card balances in cents, cached in memory by the shop (the issuer owns the real ledger)."""

SEED_LOYALTY_POINTS: dict[int, int] = {1: 500, 2: 120}
"""Loyalty points per account id, kept in memory by the shop."""

REWARD_COSTS: dict[str, int] = {"free-shipping": 100, "coffee-mug": 400}
"""What each loyalty reward costs in points."""

DAILY_VERIFICATION_CODES = 3
"""How many SMS verification codes one account may request per day."""


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Statements(ABC):
    """`fetch_one`, `fetch_all`, `execute` and `insert`, each run on a worker thread."""

    @abstractmethod
    def _on_connection(self, work: Callable[[sqlite3.Connection], T], writes: bool) -> T:
        """Run `work` on a connection (in the calling worker thread)."""

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, writes: bool = False) -> T:
        return await to_thread.run_sync(self._on_connection, work, writes)

    async def fetch_one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        row: sqlite3.Row | None = await self._run(lambda conn: conn.execute(sql, params).fetchone())
        return row

    async def fetch_all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Every row of a query."""
        return await self._run(lambda conn: conn.execute(sql, params).fetchall())

    async def execute(self, sql: str, *params: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        return await self._run(lambda conn: conn.execute(sql, params).rowcount, writes=True)

    async def insert(self, sql: str, *params: Any) -> int:
        """Run an INSERT; returns the new row's id."""
        return await self._run(lambda conn: conn.execute(sql, params).lastrowid or 0, writes=True)


class Transaction(Statements):
    """Statements on one connection inside `BEGIN IMMEDIATE` ... `COMMIT`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def _on_connection(self, work: Callable[[sqlite3.Connection], T], writes: bool) -> T:
        return work(self._connection)


class Database(Statements):
    """One SQLite file; each statement outside `transaction()` opens a connection and autocommits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # SQLite allows one writer at a time. Queuing this process's transactions here, instead of
        # inside SQLite's busy handler, keeps waiting transactions from holding worker threads that
        # the transaction in progress needs for its next statement.
        self._transaction_queue = asyncio.Lock()
        # Likewise single statements that write wait their turn here rather than in SQLite's busy
        # handler, whose sleep-and-retry backoff would add milliseconds to every contended write.
        self._writer_queue = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode, rows addressable by column name."""
        connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        # The usual setting for WAL mode: commits skip the fsync, checkpoints still sync.
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    def _on_connection(self, work: Callable[[sqlite3.Connection], T], writes: bool) -> T:
        with closing(self.connect()) as connection:
            if not writes:
                return work(connection)
            with self._writer_queue:
                return work(connection)

    def query_one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        """`fetch_one` for synchronous code (threaded endpoints)."""
        row: sqlite3.Row | None = self._on_connection(
            lambda conn: conn.execute(sql, params).fetchone(), writes=False
        )
        return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that commit together, or roll back together if the block raises."""
        async with self._transaction_queue:
            connection = await to_thread.run_sync(self._begin)
            try:
                yield Transaction(connection)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await to_thread.run_sync(self._finish, connection, "ROLLBACK")
                raise
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(self._finish, connection, "COMMIT")

    def _begin(self) -> sqlite3.Connection:
        connection = self.connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    @staticmethod
    def _finish(connection: sqlite3.Connection, statement: str) -> None:
        try:
            connection.execute(statement)
        finally:
            connection.close()

    async def reset(self, schema: str) -> None:
        """Drop every table, then create `schema` and load the seed rows, in one transaction."""
        await to_thread.run_sync(self._reset, schema)

    def _reset(self, schema: str) -> None:
        with closing(self.connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            tables = [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            drops = "".join(f"DROP TABLE {_quote_identifier(name)};\n" for name in tables)
            connection.executescript(f"BEGIN IMMEDIATE;\n{drops}{schema}\n{SEED_SQL}\nCOMMIT;")


@asynccontextmanager
async def open_database(schema: str, path: str | Path | None = None) -> AsyncIterator[Database]:
    """A seeded database at `path`, else at `$RACE_MCP_DEMO_DB`, else in a temporary file.

    A temporary file is removed on exit; a named file is kept (and re-seeded on the next start).
    """
    named = path if path is not None else os.environ.get(DATABASE_ENV) or None
    if named is not None:
        database = Database(Path(named))
        await database.reset(schema)
        yield database
        return
    with tempfile.TemporaryDirectory(prefix="race-mcp-shop-") as folder:
        database = Database(Path(folder) / "shop.sqlite3")
        await database.reset(schema)
        yield database
