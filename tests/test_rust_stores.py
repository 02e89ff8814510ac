"""The Rust recognizers added for issue 12 (diesel, sea-orm, std::fs/tokio::fs) beyond the corpus:
transaction closures lowered as a `With` the SQL recognizer opens, stores named by the file alone
(no framework), and untrusted text that must stay cheap."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import analyze_source
from race_mcp.analyzer.core import model
from race_mcp.analyzer.rust.lower import lower_module

DIESEL = """\
use diesel::prelude::*;

fn pay(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    let paid = conn.transaction(|conn| {
        let order: Order = orders::table.find(id).for_update().first(conn)?;
        if order.paid {
            return Ok(false);
        }
        diesel::update(orders::table.find(id)).set(orders::paid.eq(true)).execute(conn)?;
        Ok(true)
    })?;
    Ok(paid)
}
"""


def test_a_transaction_closure_is_lowered_as_a_with_over_its_block() -> None:
    function = lower_module(DIESEL, "pay.rs").module.functions["pay"]
    with_statement = function.body[0]
    assert isinstance(with_statement, model.With)
    context = with_statement.items[0].context
    assert isinstance(context, model.Call) and context.method == "transaction"
    assert "conn" in function.locals and "paid" in function.locals
    assert any(isinstance(s, model.Assign) for s in with_statement.body)


def test_the_closure_body_is_analysed_inside_the_transaction() -> None:
    assert analyze_source(DIESEL, "pay.rs") == []
    unlocked = DIESEL.replace(".for_update()", "")
    assert [(f.rule_id, f.line) for f in analyze_source(unlocked, "pay.rs")] == [("RC304", 5)]


def test_a_closure_that_is_not_a_transaction_stays_opaque() -> None:
    source = DIESEL.replace("conn.transaction(", "conn.retry(")
    function = lower_module(source, "pay.rs").module.functions["pay"]
    assert not any(isinstance(s, model.With) for s in function.body)


@pytest.mark.parametrize(
    "source",
    [
        "use diesel::prelude::*;\nfn f(c: &mut PgConnection) { "
        "let a: A = t.filter({w}.eq(1)).first(c).unwrap(); "
        "diesel::update(t.filter({w}.ge(1))).set({w}.eq(a.x)).execute(c).unwrap(); }\n",
        "use sea_orm::*;\nasync fn f(db: &D) { x::Entity::update_many().col_expr({w}, 1).filter({w}.gte(1))"
        ".exec(db).await.unwrap(); }\n",
        "use std::fs;\nfn f() { if {w}.exists() { return; } fs::write(&{w}, 1).unwrap(); }\n",
    ],
    ids=["diesel", "sea-orm", "fs"],
)
def test_long_identifiers_stay_cheap(source: str) -> None:
    """Column and path text is untrusted: a pattern re-tried inside a long word is quadratic."""
    text = source.replace("{w}", "w" * 200_000)
    started = time.perf_counter()
    assert len(analyze_source(text, "long.rs")) <= 1
    assert time.perf_counter() - started < 5
