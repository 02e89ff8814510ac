"""SQL from JavaScript: `pg` (`pool.query(text, params)`, `client.query`), `mysql2`
(`conn.query` / `conn.execute`) and `postgres`-style tagged templates (`` sql`...` ``). The SQL text
is read by the SQL store's own parser (`python/stores/_sql_text.py` works on statement text, not on
Python), so reads, guarded `UPDATE ... WHERE balance >= $1`, `FOR UPDATE` and `BEGIN`/`COMMIT`
are judged exactly as for Python.

Node's drivers commit every statement on its own unless the code opened a transaction (`BEGIN`,
mysql2's `conn.beginTransaction()`): two writes that belong together, issued one after the other,
are two units of work (RC202), as with asyncpg in Python.
"""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.sql import SqlFacts, SqlRecognizer
from ._calls import SpanText

__all__ = ["JsSqlRecognizer"]

# Drivers whose statements autocommit (no implicit transaction as in Python's DB-API).
_AUTOCOMMIT_DRIVERS = frozenset({"pg", "mysql", "mysql2", "pg-promise"})


class _JsSqlFacts(SpanText, SqlFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        self.autocommit_driver = self.autocommit_driver or any(
            source.split(".")[0].split("/")[0] in _AUTOCOMMIT_DRIVERS for source in self.imports.values()
        )


class JsSqlRecognizer(SqlRecognizer):
    facts_type = _JsSqlFacts
    markers = ("SELECT", "select ", "UPDATE", "update ", "INSERT", "insert ", "DELETE", "BEGIN", "query(")

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        if call.method == "beginTransaction" and not call.args:  # mysql2: `await conn.beginTransaction()`
            return [Effect("begin")]
        return super().recognize(call, ctx)


add_recognizer("sql", "javascript", JsSqlRecognizer)
