"""Rust ORM patches: a diesel UPDATE after a read becomes a compare-and-set (`.filter(col.eq(row.col))`
on its target) whose row count answers like the check; sea-orm and save_changes get guidance."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = "use diesel::prelude::*;\nuse crate::schema::accounts::dsl::{accounts, balance};\n\n"


def _function(body: str) -> str:
    signature = "fn withdraw(conn: &mut PgConnection, aid: i64, amount: i64) -> QueryResult<bool> {\n"
    return HEADER + signature + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"


def test_a_diesel_update_becomes_a_compare_and_set(tmp_path: Path) -> None:
    source = _function(
        """\
        let account: Account = accounts.find(aid).first(conn)?;
        if account.balance < amount {
            return Ok(false);
        }
        diesel::update(accounts.find(aid))
            .set(balance.eq(account.balance - amount))
            .execute(conn)?;
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/bank.rs", "RC304", "withdraw", tmp_path)
    assert patched == source.replace(
        "    diesel::update(accounts.find(aid))\n",
        "    let changed = diesel::update(accounts.find(aid).filter(balance.eq(account.balance)))\n",
    ).replace(
        "        .execute(conn)?;\n",
        "        .execute(conn)?;\n    if changed == 0 {\n        return Ok(false);\n    }\n",
    )


def test_a_guarded_diesel_update_only_gets_its_count_read(tmp_path: Path) -> None:
    source = _function(
        """\
        let account: Account = accounts.find(aid).first(conn)?;
        if account.balance < amount {
            return Ok(false);
        }
        diesel::update(accounts.find(aid).filter(balance.ge(amount)))
            .set(balance.eq(account.balance - amount))
            .execute(conn)?;
        Ok(true)
        """
    )
    patched = verified_patch(source, "src/bank.rs", "RC304", "withdraw", tmp_path)
    assert "balance.eq(account.balance))" not in patched
    assert "    let changed = diesel::update(accounts.find(aid).filter(balance.ge(amount)))\n" in patched


SEA = textwrap.dedent(
    """\
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    async fn withdraw(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
        let found = account::Entity::find_by_id(id).one(db).await?.unwrap();
        if found.balance < 10 {
            return Ok(false);
        }
        let mut active: account::ActiveModel = found.clone().into();
        active.balance = Set(found.balance - 10);
        active.update(db).await?;
        Ok(true)
    }
    """
)


def test_a_sea_orm_active_model_update_becomes_a_filtered_entity_update(tmp_path: Path) -> None:
    patched = verified_patch(SEA, "src/bank.rs", "RC304", "withdraw", tmp_path)
    made = "    let mut active: account::ActiveModel = found.clone().into();\n"
    update = "account::Entity::update(active).filter(account::Column::Balance.eq(seen_balance))"
    assert patched == SEA.replace(made, "    let seen_balance = found.balance.clone();\n" + made).replace(
        "    active.update(db).await?;\n", f"    {update}.exec(db).await?;\n"
    )


def test_a_sea_orm_claim_on_a_null_column_filters_is_null(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

        async fn claim(db: &DatabaseConnection, id: i64, user: i64) -> Result<bool, DbErr> {
            let found = seat::Entity::find_by_id(id).one(db).await?.unwrap();
            if found.owner.is_some() {
                return Ok(false);
            }
            let mut active: seat::ActiveModel = found.into();
            active.owner = Set(Some(user));
            active.update(db).await?;
            Ok(true)
        }
        """
    )
    patched = verified_patch(source, "src/seats.rs", "RC304", "claim", tmp_path)
    assert "seat::Entity::update(active).filter(seat::Column::Owner.is_null()).exec(db).await?;" in patched
    assert "seen_owner" not in patched


def test_save_changes_and_sea_orm_update_many_get_guidance() -> None:
    diesel = _function(
        """\
        let mut account: Account = accounts.find(aid).first(conn)?;
        if account.balance < amount {
            return Ok(false);
        }
        account.balance -= amount;
        account.save_changes::<Account>(conn)?;
        Ok(true)
        """
    )
    sea = textwrap.dedent(
        """\
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use sea_orm::sea_query::Expr;

        async fn withdraw(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
            let found = account::Entity::find_by_id(id).one(db).await?.unwrap();
            if found.balance < 10 {
                return Ok(false);
            }
            account::Entity::update_many()
                .col_expr(account::Column::Balance, Expr::value(found.balance - 10))
                .filter(account::Column::Id.eq(id))
                .exec(db)
                .await?;
            Ok(true)
        }
        """
    )
    for source in (diesel, sea):
        report = propose_patches(source, "src/bank.rs")
        assert report.patches == []
        assert [u.rule_id for u in report.unpatched] == ["RC304"]
        assert "update_many()" in report.unpatched[0].guidance
