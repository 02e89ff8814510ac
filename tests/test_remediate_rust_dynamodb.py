"""Rust DynamoDB patches (aws-sdk-dynamodb builders): conditions inserted before `.send()`, each
rewrite re-analysed, parsed and applied with `git apply`; guidance where no rewrite is sound."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import analyze_source, propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = textwrap.dedent(
    """\
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_sdk_dynamodb::Client;
    use axum::extract::{Path, State};
    use std::sync::Arc;

    struct AppState {
        client: Client,
    }

    """
)

# Seed 002's racy shape: the version read, incremented in Rust, put back blindly.
SEED = textwrap.dedent(
    """\
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_sdk_dynamodb::Client;

    async fn bump(client: &Client, id: &str) -> Result<(), aws_sdk_dynamodb::Error> {
        let out = client.get_item().table_name("items").key("id", AttributeValue::S(id.into())).send().await?;
        let version = version_of(&out);
        client.put_item().table_name("items")
            .item("id", AttributeValue::S(id.into()))
            .item("version", AttributeValue::N((version + 1).to_string()))
            .send().await?;
        Ok(())
    }
    """
)


def test_seed_002_becomes_a_compare_and_set_on_the_version(tmp_path: Path) -> None:
    patched = verified_patch(SEED, "src/items.rs", "RC401", "bump", tmp_path)
    condition = "(attribute_not_exists(#cas_version) OR #cas_version = :cas_version)"
    expected = (
        f'        .condition_expression("{condition}")\n'
        '        .expression_attribute_names("#cas_version", "version")\n'
        '        .expression_attribute_values(":cas_version", out.item().and_then(|item| item.get("version"))'
        ".cloned().unwrap_or(AttributeValue::Null(true)))\n"
        "        .send().await?;"
    )
    assert patched == SEED.replace("        .send().await?;", expected)


def test_a_checked_balance_is_compared_at_the_write(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn withdraw(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<(), Error> {
            let out = state.client.get_item().table_name("accounts")
                .key("id", AttributeValue::S(id.clone())).send().await?;
            let balance: i64 = out.item().and_then(|i| i.get("balance"))
                .and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
            if balance < 10 {
                return Err(Error::Insufficient);
            }
            state.client.put_item().table_name("accounts").item("id", AttributeValue::S(id))
                .item("balance", AttributeValue::N((balance - 10).to_string())).send().await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/wallet.rs", "RC401", "withdraw", tmp_path)
    condition = "(attribute_not_exists(#cas_balance) OR #cas_balance = :cas_balance)"
    assert f'.condition_expression("{condition}")' in patched
    assert '.expression_attribute_names("#cas_balance", "balance")' in patched
    assert patched.count(".send().await?") == 2


def test_a_not_found_check_over_a_put_becomes_attribute_not_exists(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn register(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<(), Error> {
            let out = state.client.get_item().table_name("users")
                .key("user_id", AttributeValue::S(id.clone())).send().await?;
            if out.item().is_some() {
                return Err(Error::Exists);
            }
            state.client.put_item().table_name("users").item("user_id", AttributeValue::S(id)).send().await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/users.rs", "RC401", "register", tmp_path)
    assert (
        '.item("user_id", AttributeValue::S(id)).condition_expression("attribute_not_exists(#pk)")'
        '.expression_attribute_names("#pk", "user_id").send().await?;' in patched
    )


def test_a_decrement_update_after_a_check_is_guarded_once(tmp_path: Path) -> None:
    """The update both completes the read's RC401 and decrements: one finding, one condition."""
    source = HEADER + textwrap.dedent(
        """\
        async fn spend(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<(), Error> {
            let out = state.client.get_item().table_name("cards")
                .key("id", AttributeValue::S(id.clone())).send().await?;
            if credit_of(&out) < 5 {
                return Err(Error::Insufficient);
            }
            state.client.update_item().table_name("cards").key("id", AttributeValue::S(id))
                .update_expression("SET #c = #c - :five")
                .expression_attribute_names("#c", "credit")
                .expression_attribute_values(":five", AttributeValue::N("5".into()))
                .send().await?;
            Ok(())
        }
        """
    )
    assert [f.rule_id for f in analyze_source(source, "src/cards.rs")] == ["RC401"]
    patched = verified_patch(source, "src/cards.rs", "RC401", "spend", tmp_path)
    assert '        .expression_attribute_names("#cas_credit", "credit")\n' in patched


def test_an_unguarded_decrement_gets_a_floor(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn charge(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<(), Error> {
            state.client.update_item().table_name("wallets").key("id", AttributeValue::S(id))
                .update_expression("SET balance = balance - :amt")
                .expression_attribute_values(":amt", AttributeValue::N("5".into())).send().await?;
            Ok(())
        }
        """
    )
    patched = verified_patch(source, "src/charge.rs", "RC402", "charge", tmp_path)
    assert '.condition_expression("balance >= :amt").send().await?;' in patched
    report = propose_patches(source, "src/charge.rs")
    assert report.patches[0].safety == "unsafe"


def test_a_query_that_decides_gets_guidance_not_a_rewrite() -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn book(State(state): State<Arc<AppState>>, Path(slot): Path<String>) -> Result<(), Error> {
            let taken = state.client.query().table_name("bookings").key_condition_expression("slot = :s")
                .expression_attribute_values(":s", AttributeValue::S(slot.clone())).send().await?;
            if taken.count() > 0 {
                return Err(Error::Taken);
            }
            state.client.put_item().table_name("bookings").item("slot", AttributeValue::S(slot))
                .send().await?;
            Ok(())
        }
        """
    )
    report = propose_patches(source, "src/book.rs")
    assert report.patches == []
    [unpatched] = report.unpatched
    assert unpatched.rule_id == "RC401"
    assert ".condition_expression(" in unpatched.guidance


def test_separate_writes_get_transact_write_items_guidance() -> None:
    source = HEADER + textwrap.dedent(
        """\
        async fn move_stock(State(state): State<Arc<AppState>>, Path(sku): Path<String>) -> Result<(), E> {
            state.client.update_item().table_name("stock").key("sku", AttributeValue::S(sku.clone()))
                .update_expression("ADD qty :m")
                .expression_attribute_values(":m", AttributeValue::N("-1".into())).send().await?;
            state.client.update_item().table_name("reserved").key("sku", AttributeValue::S(sku))
                .update_expression("ADD qty :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into())).send().await?;
            Ok(())
        }
        """
    )
    report = propose_patches(source, "src/stock.rs")
    assert [u.rule_id for u in report.unpatched] == ["RC403"]
    assert "transact_write_items()" in report.unpatched[0].guidance
