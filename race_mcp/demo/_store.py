"""The demo shop's storage: a thin async wrapper over stdlib `sqlite3` or psycopg 3, plus the seed state.

The wrapper mirrors the `databases`/`aiosqlite` style (`await db.fetch_one(sql, *params)`): every
statement runs on a worker thread so the event loop keeps serving other requests meanwhile, and
every statement outside `transaction()` commits on its own, as in autocommit mode.

The shops write SQLite's dialect. On PostgreSQL (`$RACE_MCP_DEMO_DB=postgresql://...`) `?` becomes
`%s`, `INTEGER PRIMARY KEY` a `SERIAL`, an insert returns its id with `RETURNING id`, and a
transaction is a plain `BEGIN` whose row locks, not a queue in this process, keep writers apart.

Both shops (`shop.py` and `shop_fixed.py`) share this module; only their schema and handlers differ.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sqlite3
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, closing
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import anyio
from anyio import to_thread

__all__ = [
    "DAILY_VERIFICATION_CODES",
    "DATABASE_ENV",
    "REWARD_COSTS",
    "SEED_GIFT_CARDS",
    "SEED_LOYALTY_POINTS",
    "Database",
    "PostgresDatabase",
    "Row",
    "SqliteDatabase",
    "Statements",
    "Transaction",
    "is_database_url",
    "open_database",
]

T = TypeVar("T")
Row: TypeAlias = Any  # sqlite3.Row or psycopg's dict row: both answer row["column"] and dict(row)

DATABASE_ENV = "RACE_MCP_DEMO_DB"
"""Environment variable naming the SQLite file or a `postgresql://` URL; unset means a fresh temporary
SQLite file per server run."""

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


class Dialect:
    """How one database spells what the shops write in SQLite's dialect."""

    def sql(self, sql: str) -> str:
        return sql

    def insert(self, connection: Any, sql: str, params: tuple[Any, ...]) -> int:
        """Run an INSERT; the new row's id."""
        return int(connection.execute(sql, params).lastrowid or 0)


class Postgres(Dialect):
    """psycopg's `%s` placeholders for `?`, and `RETURNING id` for the new row's id."""

    def sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def insert(self, connection: Any, sql: str, params: tuple[Any, ...]) -> int:
        row = connection.execute(self.sql(sql) + " RETURNING id", params).fetchone()
        return int(row["id"])


SQLITE = Dialect()
POSTGRES = Postgres()


class Statements(ABC):
    """`fetch_one`, `fetch_all`, `execute` and `insert`, each run on a worker thread."""

    dialect: Dialect = SQLITE

    @abstractmethod
    def _on_connection(self, work: Callable[[Any], T], writes: bool) -> T:
        """Run `work` on a connection (in the calling worker thread)."""

    async def _run(self, work: Callable[[Any], T], *, writes: bool = False) -> T:
        return await to_thread.run_sync(self._on_connection, work, writes)

    async def fetch_one(self, sql: str, *params: Any) -> Row | None:
        """The first row of a query, or None."""
        query = self.dialect.sql(sql)
        row: Row | None = await self._run(lambda conn: conn.execute(query, params).fetchone())
        return row

    async def fetch_all(self, sql: str, *params: Any) -> list[Row]:
        """Every row of a query."""
        query = self.dialect.sql(sql)
        rows: list[Row] = await self._run(lambda conn: conn.execute(query, params).fetchall())
        return rows

    async def execute(self, sql: str, *params: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        query = self.dialect.sql(sql)
        count: int = await self._run(lambda conn: conn.execute(query, params).rowcount, writes=True)
        return count

    async def insert(self, sql: str, *params: Any) -> int:
        """Run an INSERT; returns the new row's id."""
        return await self._run(lambda conn: self.dialect.insert(conn, sql, params), writes=True)


class Transaction(Statements):
    """Statements on one connection inside a transaction (`BEGIN IMMEDIATE` on SQLite)."""

    def __init__(self, connection: Any, dialect: Dialect = SQLITE) -> None:
        self._connection = connection
        self.dialect = dialect

    def _on_connection(self, work: Callable[[Any], T], writes: bool) -> T:
        return work(self._connection)


class Database(Statements):
    """The shop's database: statements outside `transaction()` autocommit one by one."""

    @abstractmethod
    def query_one(self, sql: str, *params: Any) -> Row | None:
        """`fetch_one` for synchronous code (threaded endpoints)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Statements that commit together, or roll back together if the block raises."""

    @abstractmethod
    async def reset(self, schema: str) -> None:
        """Drop every table, then create `schema` (SQLite's dialect) and load the seed rows."""

    async def close(self) -> None:
        """Release what the database holds for this process (nothing, for a file)."""


class SqliteDatabase(Database):
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

    def _on_connection(self, work: Callable[[Any], T], writes: bool) -> T:
        with closing(self.connect()) as connection:
            if not writes:
                return work(connection)
            with self._writer_queue:
                return work(connection)

    def query_one(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = self._on_connection(lambda conn: conn.execute(sql, params).fetchone(), writes=False)
        return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
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


_SERIAL_KEY = re.compile(r"\bINTEGER PRIMARY KEY\b")


class PostgresDatabase(Database):
    """A PostgreSQL database (psycopg 3), the shop's tables in a schema of their own per server run.

    Statements outside `transaction()` autocommit. A transaction is a plain `BEGIN` (READ
    COMMITTED): nothing queues transactions in this process, so concurrent requests really
    interleave and only row locks (an `UPDATE ... WHERE` waits for the row and re-checks its
    condition) or `SELECT ... FOR UPDATE` keep them apart, as in production.
    """

    dialect = POSTGRES

    def __init__(self, url: str, schema_name: str | None = None) -> None:
        self.url = url
        self.schema_name = schema_name or f"race_mcp_demo_{secrets.token_hex(4)}"

    def connect(self) -> Any:
        """A new autocommit connection whose search path is this run's schema; rows as dicts."""
        import psycopg  # only when the demo runs on PostgreSQL
        from psycopg.rows import dict_row

        return psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            options=f"-c search_path={self.schema_name}",
            connect_timeout=10,
        )

    def _on_connection(self, work: Callable[[Any], T], writes: bool) -> T:
        with self.connect() as connection:
            return work(connection)

    def query_one(self, sql: str, *params: Any) -> Row | None:
        query = self.dialect.sql(sql)
        row: Row | None = self._on_connection(lambda conn: conn.execute(query, params).fetchone(), False)
        return row

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        connection = await to_thread.run_sync(self._begin)
        try:
            yield Transaction(connection, self.dialect)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(self._finish, connection, "ROLLBACK")
            raise
        with anyio.CancelScope(shield=True):
            await to_thread.run_sync(self._finish, connection, "COMMIT")

    def _begin(self) -> Any:
        connection = self.connect()
        try:
            connection.execute("BEGIN")
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _finish(connection: Any, statement: str) -> None:
        try:
            connection.execute(statement)
        finally:
            connection.close()

    async def reset(self, schema: str) -> None:
        await to_thread.run_sync(self._reset, schema)

    def _reset(self, schema: str) -> None:
        """Recreate this run's schema from scratch, seed it, and move the id sequences past the seed."""
        name = _quote_identifier(self.schema_name)
        tables = re.findall(r"CREATE TABLE (\w+) \(\s*id INTEGER PRIMARY KEY", schema)
        sequences = "".join(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false);\n"
            for table in tables
        )
        script = (
            f"BEGIN;\nDROP SCHEMA IF EXISTS {name} CASCADE;\nCREATE SCHEMA {name};\n"
            f"{_SERIAL_KEY.sub('SERIAL PRIMARY KEY', schema)}\n{SEED_SQL}\n{sequences}COMMIT;"
        )
        with self.connect() as connection:
            connection.execute(script)

    async def close(self) -> None:
        await to_thread.run_sync(self._drop)

    def _drop(self) -> None:
        with self.connect() as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {_quote_identifier(self.schema_name)} CASCADE")


def is_database_url(value: str) -> bool:
    """Whether `value` names a PostgreSQL server rather than a SQLite file."""
    return value.startswith(("postgresql://", "postgres://"))


@asynccontextmanager
async def open_database(schema: str, path: str | Path | None = None) -> AsyncIterator[Database]:
    """A seeded database at `path`, else at `$RACE_MCP_DEMO_DB`, else in a temporary SQLite file.

    `postgresql://...` names a PostgreSQL server: the tables live in a new schema for this run,
    dropped on exit. A temporary file is removed on exit; a named file is kept (and re-seeded on
    the next start).
    """
    named = str(path) if path is not None else os.environ.get(DATABASE_ENV) or None
    if named is not None and is_database_url(named):
        database: Database = PostgresDatabase(named)
        await database.reset(schema)
        try:
            yield database
        finally:
            with anyio.CancelScope(shield=True):
                await database.close()
        return
    if named is not None:
        database = SqliteDatabase(Path(named))
        await database.reset(schema)
        yield database
        return
    with tempfile.TemporaryDirectory(prefix="race-mcp-shop-") as folder:
        database = SqliteDatabase(Path(folder) / "shop.sqlite3")
        await database.reset(schema)
        yield database
