"""A method of a module-level instance of a project class can be a lock wrapper (lnbits: `db =
Database("main")`, whose `connect()` acquires the database's `asyncio.Lock` and yields while it
holds it): a check and a write inside one `async with db.connect()` block are serialized; the
same statements across two blocks are not."""

from __future__ import annotations

from pathlib import Path

from race_mcp import analyze_paths
from tests._project_files import write_project

_DB = """
    import asyncio
    from contextlib import asynccontextmanager


    class Database:
        def __init__(self, name):
            self.name = name
            self.lock = asyncio.Lock()

        @asynccontextmanager
        async def connect(self):
            await self.lock.acquire()
            try:
                yield Connection(self.name)
            finally:
                self.lock.release()
"""

_CORE_DB = """
    from app.db import Database

    db = Database("main")
"""

_VIEWS = """
    from fastapi import FastAPI

    from app.core_db import db

    app = FastAPI()


    @app.post("/wallets/{wallet_id}/spend")
    async def spend(wallet_id: str, amount: int):
        async with db.connect() as conn:
            row = await conn.fetchone("SELECT balance FROM wallets WHERE id = :id", {"id": wallet_id})
            if row["balance"] < amount:
                return {"ok": False}
            left = row["balance"] - amount
            await conn.execute("UPDATE wallets SET balance = :b WHERE id = :id", {"b": left, "id": wallet_id})
        return {"ok": True}


    @app.post("/wallets/{wallet_id}/spend-split")
    async def spend_split(wallet_id: str, amount: int):
        async with db.connect() as conn:
            row = await conn.fetchone("SELECT balance FROM wallets WHERE id = :id", {"id": wallet_id})
        if row["balance"] < amount:
            return {"ok": False}
        async with db.connect() as conn:
            left = row["balance"] - amount
            await conn.execute("UPDATE wallets SET balance = :b WHERE id = :id", {"b": left, "id": wallet_id})
        return {"ok": True}
"""


def test_a_check_and_write_inside_one_locked_connection_are_serialized(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "proj",
        {"app/__init__.py": "", "app/db.py": _DB, "app/core_db.py": _CORE_DB, "app/views.py": _VIEWS},
    )
    findings = analyze_paths([root]).findings
    assert {(f.rule_id, f.function) for f in findings} == {("RC201", "spend_split")}
