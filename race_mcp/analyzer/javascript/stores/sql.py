"""SQL from JavaScript: `pg` (`pool.query(text, params)`, `client.query`), `mysql2`
(`conn.query` / `conn.execute`) and `postgres`-style tagged templates (`` sql`...` ``). The SQL text
is read by the SQL store's own parser (`python/stores/_sql_text.py` works on statement text, not on
Python), so reads, guarded `UPDATE ... WHERE balance >= $1`, `FOR UPDATE` and `BEGIN`/`COMMIT`
are judged exactly as for Python."""

from __future__ import annotations

from ...core.stores import add_recognizer
from ...python.stores.sql import SqlFacts, SqlRecognizer
from ._calls import SpanText

__all__ = ["JsSqlRecognizer"]


class _JsSqlFacts(SpanText, SqlFacts):
    pass


class JsSqlRecognizer(SqlRecognizer):
    facts_type = _JsSqlFacts
    markers = ("SELECT", "select ", "UPDATE", "update ", "INSERT", "insert ", "DELETE", "BEGIN", "query(")


add_recognizer("sql", "javascript", JsSqlRecognizer)
