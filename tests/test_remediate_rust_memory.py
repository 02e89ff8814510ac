"""Rust in-process state patches: one guard from the read to the write, atomics read-modify-write
(`fetch_add`, `fetch_update` refusing what the check refuses), DashMap's entry API; guidance where
a std guard would be held across an await."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = textwrap.dedent(
    """\
    use axum::extract::State;
    use dashmap::DashMap;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, RwLock};

    struct AppState {
        stock: Mutex<u64>,
        seats: RwLock<HashMap<String, u32>>,
        claims: DashMap<String, bool>,
        sold: AtomicU64,
    }

    """
)


def _handler(name: str, body: str, extra: str = "") -> str:
    signature = f"async fn {name}(State(state): State<Arc<AppState>>{extra}) -> u16 {{\n"
    return HEADER + signature + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"


def test_two_temporary_guards_become_one(tmp_path: Path) -> None:
    source = _handler(
        "buy",
        """\
        let left = *state.stock.lock().unwrap();
        if left == 0 {
            return 409;
        }
        *state.stock.lock().unwrap() = left - 1;
        200
        """,
    )
    patched = verified_patch(source, "src/shop.rs", "RC102", "buy", tmp_path)
    assert patched == source.replace(
        "    let left = *state.stock.lock().unwrap();\n",
        "    let mut stock = state.stock.lock().unwrap();\n    let left = *stock;\n",
    ).replace("    *state.stock.lock().unwrap() = left - 1;\n", "    *stock = left - 1;\n    drop(stock);\n")


def test_a_read_guard_then_a_write_guard_becomes_the_write_guard_first(tmp_path: Path) -> None:
    source = _handler(
        "reserve",
        """\
        let taken = state.seats.read().unwrap().contains_key(&seat);
        if taken {
            return 409;
        }
        let mut seats = state.seats.write().unwrap();
        seats.insert(seat, 1);
        200
        """,
        extra=", seat: String",
    )
    patched = verified_patch(source, "src/seats.rs", "RC102", "reserve", tmp_path)
    assert (
        "    let mut seats = state.seats.write().unwrap();\n    let taken = seats.contains_key(&seat);\n"
        in patched
    )
    assert "    seats.insert(seat, 1);\n    drop(seats);\n    200\n" in patched
    assert patched.count(".write().unwrap()") == 1 and ".read()" not in patched


def test_load_then_store_becomes_fetch_add(tmp_path: Path) -> None:
    source = _handler(
        "count",
        """\
        let seen = state.sold.load(Ordering::SeqCst);
        state.sold.store(seen + 1, Ordering::SeqCst);
        200
        """,
    )
    patched = verified_patch(source, "src/count.rs", "RC102", "count", tmp_path)
    assert "    let seen = state.sold.fetch_add(1, Ordering::SeqCst);\n    200\n" in patched


def test_a_checked_load_then_store_becomes_fetch_update(tmp_path: Path) -> None:
    source = _handler(
        "sell",
        """\
        let sold = state.sold.load(Ordering::Acquire);
        if sold >= 100 {
            return 409;
        }
        state.sold.store(sold + 1, Ordering::Release);
        200
        """,
    )
    patched = verified_patch(source, "src/sell.rs", "RC102", "sell", tmp_path)
    assert (
        "let sold = state.sold.fetch_update(Ordering::Release, Ordering::Acquire, "
        "|sold| if (sold >= 100) { None } else { Some(sold + 1) }).unwrap_or_else(|sold| sold);"
    ) in patched
    assert ".store(" not in patched


def test_dashmap_get_then_insert_becomes_the_entry_api(tmp_path: Path) -> None:
    source = _handler(
        "claim",
        """\
        if state.claims.get(&code).is_some() {
            return 409;
        }
        state.claims.insert(code, true);
        200
        """,
        extra=", code: String",
    )
    patched = verified_patch(source, "src/claims.rs", "RC102", "claim", tmp_path)
    assert (
        "    match state.claims.entry(code) {\n"
        "        dashmap::mapref::entry::Entry::Occupied(_) => {\n"
        "            return 409;\n"
        "        }\n"
        "        dashmap::mapref::entry::Entry::Vacant(slot) => {\n"
        "            slot.insert(true);\n"
        "        }\n"
        "    }\n"
    ) in patched


def test_a_std_guard_across_an_await_gets_guidance() -> None:
    source = _handler(
        "buy_later",
        """\
        let left = *state.stock.lock().unwrap();
        if left == 0 {
            return 409;
        }
        confirm().await;
        *state.stock.lock().unwrap() = left - 1;
        200
        """,
    )
    report = propose_patches(source, "src/later.rs")
    assert report.patches == []
    [unpatched] = report.unpatched
    assert unpatched.rule_id == "RC102" and "tokio::sync::Mutex" in unpatched.guidance
