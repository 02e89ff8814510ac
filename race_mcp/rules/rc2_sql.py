"""Catalog entries for the RC2xx raw-SQL rules (sqlite3, psycopg, asyncpg, `databases`, SQLAlchemy Core)."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC2"
FAMILY = "RC2xx raw SQL"
_DRIVERS = (
    "Recognised drivers: `sqlite3`, psycopg 2 and 3, asyncpg, `databases`, SQLAlchemy `text()` and "
    "Core `select()` / `update()` / `insert()` on connections, and thin wrappers whose methods take "
    "the SQL string as their first argument."
)
_REFERENCES = [
    CWE_362,
    "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS",
    "https://www.postgresql.org/docs/current/transaction-iso.html",
    "Warszawski & Bailis, ACIDRain: Concurrency-Related Attacks on Database-Backed Web "
    "Applications, SIGMOD 2017",
]


RULES: list[Rule] = [
    Rule(
        id="RC201",
        name="sql-select-then-update-without-lock",
        title="SELECT, decide in application code, then UPDATE the same table without a row lock",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Make the write atomic and guarded: `UPDATE t SET x = x - :n WHERE id = :id AND x >= :n` and "
            "check the rowcount; or `SELECT ... FOR UPDATE` inside the same transaction as the UPDATE."
        ),
        what_it_does=(
            "Flags a SELECT whose result feeds a decision or a computation in Python, followed by an "
            "UPDATE or DELETE of the same table, when the SELECT is not `... FOR UPDATE` inside the "
            "same transaction and the write is not an atomic guarded UPDATE whose affected-row count "
            "is checked. The read and the write may sit in different helpers or repository methods "
            "of the same file. A SERIALIZABLE transaction, `BEGIN IMMEDIATE`/`EXCLUSIVE` (SQLite), "
            "`LOCK TABLE` or `pg_advisory_xact_lock` taken before the SELECT also count as a lock."
        ),
        why_bad=(
            "Under the default isolation (READ COMMITTED in PostgreSQL and MySQL, deferred "
            "transactions in SQLite) a plain SELECT takes no lock. Twenty concurrent requests all "
            "read `seats_left = 1`, all pass the check and all write: the last seat is sold twenty "
            "times, a balance goes negative, a counter loses updates. Wrapping the sequence in a "
            "transaction does not help by itself; the row must be locked or the check must move "
            "into the UPDATE. `FOR UPDATE` under autocommit is released when the SELECT returns."
        ),
        example=snippet(
            """
            import sqlite3
            from flask import Flask, abort

            app = Flask(__name__)

            @app.post("/events/<int:event_id>/seats")
            def book_seat(event_id):
                db = sqlite3.connect("app.db")
                row = db.execute("SELECT seats_left FROM events WHERE id = ?", (event_id,)).fetchone()
                if row is None or row[0] < 1:
                    abort(409)
                db.execute("UPDATE events SET seats_left = ? WHERE id = ?", (row[0] - 1, event_id))
                db.commit()
                return {"ok": True}
            """
        ),
        use_instead=snippet(
            """
            import sqlite3
            from flask import Flask, abort

            app = Flask(__name__)

            @app.post("/events/<int:event_id>/seats")
            def book_seat(event_id):
                db = sqlite3.connect("app.db")
                cur = db.execute(
                    "UPDATE events SET seats_left = seats_left - 1 WHERE id = ? AND seats_left > 0",
                    (event_id,),
                )
                db.commit()
                if cur.rowcount == 0:
                    abort(409)
                return {"ok": True}
            """
        ),
        fix_safety=(
            "The guarded UPDATE changes behaviour only in the losing request, which now gets a "
            "refusal instead of a silent overdraft; code after it must check the row count (or "
            "`RETURNING`) rather than assume success. `SELECT ... FOR UPDATE` is only a lock inside a "
            "transaction (`with conn.transaction()`, `engine.begin()`, `transaction.atomic()`), "
            "serialises concurrent requests on that row, and can deadlock if two code paths lock "
            "rows in different orders. SERIALIZABLE requires the caller to retry on serialization "
            "failures. `FOR UPDATE` is a no-op on SQLite; use `BEGIN IMMEDIATE` there."
        ),
        known_problems=(
            "Tables and columns are read from string literals, module-level constants and "
            "concatenations of them; SQL whose table is only known at run time (query builders, "
            "f-strings naming the table) is skipped. Whether another code "
            "path takes the same lock, or whether the connection is autocommit, is not known "
            "across files. " + _DRIVERS
        ),
        references=[
            *_REFERENCES,
            "https://www.sqlite.org/lang_transaction.html",
            "https://docs.sqlalchemy.org/en/20/core/selectable.html#sqlalchemy.sql.expression.Select.with_for_update",
        ],
    ),
    Rule(
        id="RC202",
        name="sql-multi-statement-write-outside-transaction",
        title="Writes that belong together issued as separate statements outside a transaction",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Wrap the writes in one transaction (`with conn:`, `async with conn.transaction():`).",
        what_it_does=(
            "Flags a function (or a handler and the helpers it calls) that issues two or more "
            "INSERT, UPDATE or DELETE statements, such as a debit and a credit or an order row and a "
            "stock decrement, with no transaction around them: no `with conn:` (sqlite3, psycopg2), "
            "`conn.transaction()` (psycopg 3, asyncpg), `database.transaction()` (`databases`), "
            "`engine.begin()` / `conn.begin()` (SQLAlchemy), `transaction.atomic()` (Django) or "
            "explicit `BEGIN` ... `COMMIT`, or with a commit between the writes."
        ),
        why_bad=(
            "Each statement commits on its own. Concurrent requests see, and act on, the state "
            "between the two writes (a debited account whose credit has not happened yet), and a "
            "crash, timeout or cancelled request between them leaves the invariant broken for good: "
            "money destroyed, stock decremented without an order. asyncpg pools, `databases`, "
            "Django and autocommit connections all run outside a transaction unless told otherwise."
        ),
        example=snippet(
            """
            import asyncpg
            from fastapi import FastAPI

            app = FastAPI()
            DEBIT = "UPDATE accounts SET points = points - $1 WHERE id = $2"
            CREDIT = "UPDATE accounts SET points = points + $1 WHERE id = $2"

            @app.post("/points/move")
            async def move_points(source: int, target: int, points: int):
                conn = await asyncpg.connect("postgresql://127.0.0.1/shop")
                await conn.execute(DEBIT, points, source)
                await conn.execute(CREDIT, points, target)
                await conn.close()
                return {"ok": True}
            """
        ),
        use_instead=snippet(
            """
            import asyncpg
            from fastapi import FastAPI

            app = FastAPI()
            DEBIT = "UPDATE accounts SET points = points - $1 WHERE id = $2"
            CREDIT = "UPDATE accounts SET points = points + $1 WHERE id = $2"

            @app.post("/points/move")
            async def move_points(source: int, target: int, points: int):
                conn = await asyncpg.connect("postgresql://127.0.0.1/shop")
                async with conn.transaction():
                    await conn.execute(DEBIT, points, source)
                    await conn.execute(CREDIT, points, target)
                await conn.close()
                return {"ok": True}
            """
        ),
        fix_safety=(
            "A transaction makes the writes all-or-nothing and hides the intermediate state; it does "
            "not by itself make a preceding read safe (see RC201). Exceptions raised inside the "
            "block now roll back the earlier writes, which callers that relied on partial progress "
            "may notice."
        ),
        known_problems=(
            "psycopg2, psycopg 3 and sqlite3 open a transaction implicitly at the first statement "
            "unless autocommit is on; a single `commit()` after all writes is therefore treated as "
            "one transaction, and autocommit set on a connection created in another file is not "
            "seen. Writes in mutually exclusive branches are not counted together. " + _DRIVERS
        ),
        references=[
            *_REFERENCES,
            "https://magicstack.github.io/asyncpg/current/api/index.html#transactions",
            "https://www.psycopg.org/psycopg3/docs/basic/transactions.html",
        ],
    ),
    Rule(
        id="RC203",
        name="sql-check-then-insert-without-unique",
        title="SELECT to check absence, then INSERT, with no unique constraint to back it",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix=(
            "Add a UNIQUE constraint on the looked-up column and insert with `ON CONFLICT DO NOTHING` (or "
            "catch IntegrityError and answer 409) instead of checking first."
        ),
        what_it_does=(
            "Flags `SELECT ... WHERE email = ?` followed, when no row was found, by an INSERT into "
            "the same table, when nothing makes the insert itself refuse a duplicate: no UNIQUE or "
            "PRIMARY KEY on those columns visible in the same file (a `CREATE TABLE` / `CREATE "
            "UNIQUE INDEX` string, a SQLAlchemy `unique=True` column or `UniqueConstraint`), no "
            "`ON CONFLICT` / `INSERT OR IGNORE` / `ON DUPLICATE KEY`, and no `IntegrityError` / "
            "`UniqueViolation` handled around the insert."
        ),
        why_bad=(
            "Both concurrent requests run the SELECT before either INSERT commits, both find "
            "nothing, and both insert: two accounts with one e-mail, a one-per-customer coupon "
            "claimed twice, a device registered twice. Only the database can arbitrate between "
            "them, through a unique index."
        ),
        example=snippet(
            """
            import sqlite3
            from flask import Flask, request

            app = Flask(__name__)

            @app.post("/waitlist")
            def join_waitlist():
                email = request.json["email"]
                db = sqlite3.connect("app.db")
                if db.execute("SELECT 1 FROM waitlist WHERE email = ?", (email,)).fetchone():
                    return {"error": "already on the list"}, 409
                db.execute("INSERT INTO waitlist (email) VALUES (?)", (email,))
                db.commit()
                return {"ok": True}, 201
            """
        ),
        use_instead=snippet(
            """
            import sqlite3
            from flask import Flask, request

            app = Flask(__name__)
            SCHEMA = "CREATE TABLE waitlist (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)"

            @app.post("/waitlist")
            def join_waitlist():
                email = request.json["email"]
                db = sqlite3.connect("app.db")
                try:
                    with db:
                        db.execute("INSERT INTO waitlist (email) VALUES (?)", (email,))
                except sqlite3.IntegrityError:
                    return {"error": "already on the list"}, 409
                return {"ok": True}, 201
            """
        ),
        fix_safety=(
            "Adding a unique index to an existing table fails if it already holds duplicates; clean "
            "them up in the migration first. With the index in place the losing request gets an "
            "`IntegrityError` (or no row from `ON CONFLICT DO NOTHING`) that must become a 409, not "
            "a 500. Case-insensitive uniqueness needs an index on `lower(email)`."
        ),
        known_problems=(
            "Constraints are looked for in the same file only; a unique index created by a migration "
            "elsewhere is not seen, so the finding says which constraint to confirm. A constraint "
            "on a different column set than the SELECT's WHERE is not treated as covering it. " + _DRIVERS
        ),
        references=[
            *_REFERENCES,
            "https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT",
            "https://www.sqlite.org/lang_conflict.html",
        ],
    ),
]
