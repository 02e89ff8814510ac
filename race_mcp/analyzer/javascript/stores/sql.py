"""SQL from JavaScript: `pg` (`pool.query(text, params)`, `client.query`), `mysql2`
(`conn.query` / `conn.execute`), postgres.js tagged templates (`` sql`...` ``, `sql.begin(async
(sql) => ...)`) and knex query builders (`knex`). SQL text is read by the SQL store's own parser
(`python/stores/_sql_text.py` works on statement text, not on Python), so reads, guarded
`UPDATE ... WHERE balance >= $1`, `FOR UPDATE` and `BEGIN`/`COMMIT` are judged exactly as for
Python; a knex chain is turned into the statement it runs and judged the same way."""

from __future__ import annotations

from ...core import model
from ...core.effects import CallContext, Effect
from ...core.stores import add_recognizer
from ...python.stores.sql import SqlFacts, SqlRecognizer
from ..callbacks import takes_transaction, transaction_callback
from ._calls import SpanText
from ._orm import serializable
from .knex import begin_effects, knex_chain, knex_statement, reselects_claim

__all__ = ["JsSqlRecognizer"]


# Drivers whose statements autocommit (no implicit transaction as in Python's DB-API): two writes
# that belong together, issued outside `BEGIN` / `beginTransaction()`, are two units (RC202).
_AUTOCOMMIT_DRIVERS = frozenset({"pg", "mysql", "mysql2", "pg-promise"})


class _JsSqlFacts(SpanText, SqlFacts):
    def __init__(self, module: model.ModuleModel) -> None:
        super().__init__(module)
        self.autocommit_driver = self.autocommit_driver or any(
            source.split(".")[0].split("/")[0] in _AUTOCOMMIT_DRIVERS for source in self.imports.values()
        )


def _tagged(call: model.Call) -> bool:
    """`` sql`SELECT ...` ``: a tagged template runs its statement (postgres.js, `@vercel/postgres`)."""
    origin = call.origin
    arguments = origin.child_by_field_name("arguments") if origin is not None else None
    return arguments is not None and arguments.type == "template_string"


class JsSqlRecognizer(SqlRecognizer):
    facts_type = _JsSqlFacts
    positional_rows = False  # `const [row] = await sql\`...\``: destructuring takes rows, not columns
    markers = (
        "SELECT",
        "select",
        "UPDATE",
        "update",
        "INSERT",
        "insert",
        "DELETE",
        "BEGIN",
        "query(",
        "knex",
        "postgres",
        "where(",
        "crement(",
    )

    def owns_chain(self, call: model.Call) -> bool:
        return knex_chain(call) is not None

    def transactional(self, function: model.Function) -> bool:
        """`knex.transaction(async (trx) => ...)`, `sql.begin(async (sql) => ...)`."""
        return (
            super().transactional(function) or transaction_callback(function) or takes_transaction(function)
        )

    def autocommit(self, call: model.Call, ctx: CallContext) -> bool:
        # knex and postgres.js commit each statement on its own outside a transaction.
        return _tagged(call) or knex_chain(call) is not None or super().autocommit(call, ctx)

    def recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        found = self._recognize(call, ctx)
        return serializable(found, ctx)

    def _recognize(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        if _tagged(call) and call.func is not None:
            # `sql` is no SQL-text wrapper here: the tagged template is the query.
            call = model.Call(call.func, call.args, "<tagged-template>", span=call.span, origin=call.origin)
        begin = begin_effects(call)
        if begin is not None:
            return begin
        if call.method == "beginTransaction" and not call.args:  # mysql2: `await conn.beginTransaction()`
            return [Effect("begin")]
        chain = knex_chain(call)
        if chain is None:
            return super().recognize(call, ctx)
        found = knex_statement(chain, ctx)
        if found is None:
            return []
        statement, values = found
        if statement.kind == "update" and call.method not in ("update", "increment", "decrement"):
            # A `where*` link ending the chain names the rows (`.whereIn("id", rows.map(..))`): what
            # flows into an UPDATE is its data only, as with an ORM update's filter.
            ctx.args.clear()
        if values is not None and call.args and not any(arg.value is values for arg in call.args):
            ctx.args.extend(ctx.evaluate(values))  # `.update({...}).returning("*")`
        effects = [Effect("lock")] if statement.for_update and ctx.state.in_transaction else []
        if statement.kind == "select":
            return effects + [e for e in self.select(statement, call, ctx) if e.kind != "lock"]
        if statement.kind == "insert":
            return self.insert(statement, call, ctx)
        # A guarded UPDATE's columns, for `checks_result` (which `update` asks next).
        self._claims = statement.set_columns if statement.guarded else frozenset()
        return self.update(statement, call, ctx)

    def checks_result(self, call: model.Call, ctx: CallContext) -> bool:
        """Besides a count that is read: a knex claim whose rows are then queried by what it set."""
        if super().checks_result(call, ctx):
            return True
        claims: frozenset[str] = getattr(self, "_claims", frozenset())
        self._claims = frozenset()
        return bool(claims) and reselects_claim(call, claims, ctx)


add_recognizer("sql", "javascript", JsSqlRecognizer)
