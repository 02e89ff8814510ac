"""Rust Redis patches (redis-rs): SET NX and SADD counts for claims, INCRBY as the read for
counters (the step given back on each rejection), guidance where neither fits."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import propose_patches

from ._remediate_rust_helpers import verified_patch

HEADER = textwrap.dedent(
    """\
    use axum::extract::{Path, State};
    use redis::AsyncCommands;
    use std::sync::Arc;

    struct AppState {
        redis: redis::Client,
    }

    """
)


def _handler(name: str, body: str) -> str:
    signature = (
        f"async fn {name}(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<bool, E> {{\n"
    )
    opening = "    let mut con = state.redis.get_multiplexed_async_connection().await?;\n"
    return HEADER + signature + opening + textwrap.indent(textwrap.dedent(body), "    ") + "}\n"


def test_a_claim_becomes_set_nx_answered_like_the_check(tmp_path: Path) -> None:
    source = _handler(
        "claim",
        """\
        let seen: Option<String> = con.get(format!("claim:{}", id)).await?;
        if seen.is_some() {
            return Ok(false);
        }
        con.set(format!("claim:{}", id), "1").await?;
        Ok(true)
        """,
    )
    patched = verified_patch(source, "src/claims.rs", "RC501", "claim", tmp_path)
    assert patched == source.replace(
        '    con.set(format!("claim:{}", id), "1").await?;\n',
        '    let claimed: bool = con.set_nx(format!("claim:{}", id), "1").await?;\n'
        "    if !claimed {\n        return Ok(false);\n    }\n",
    )


def test_a_set_membership_claim_uses_the_sadd_count(tmp_path: Path) -> None:
    source = _handler(
        "spend",
        """\
        let used: bool = con.sismember("codes:used", &id).await?;
        if used {
            return Ok(false);
        }
        con.sadd("codes:used", &id).await?;
        Ok(true)
        """,
    )
    patched = verified_patch(source, "src/codes.rs", "RC501", "spend", tmp_path)
    assert '    let added: i64 = con.sadd("codes:used", &id).await?;\n    if added == 0 {\n' in patched


def test_a_stock_counter_is_decremented_first_and_given_back_on_rejection(tmp_path: Path) -> None:
    source = _handler(
        "sell",
        """\
        let stock: i64 = con.get(format!("stock:{}", id)).await?;
        if stock < 1 {
            return Ok(false);
        }
        con.set(format!("stock:{}", id), stock - 1).await?;
        Ok(true)
        """,
    )
    patched = verified_patch(source, "src/stock.rs", "RC501", "sell", tmp_path)
    assert patched == source.replace(
        'con.get(format!("stock:{}", id)).await?;',
        'con.incr::<_, _, i64>(format!("stock:{}", id), -1).await? + 1;',
    ).replace(
        "    if stock < 1 {\n        return Ok(false);",
        "    if stock < 1 {\n"
        '        con.incr::<_, _, ()>(format!("stock:{}", id), 1).await?;\n'
        "        return Ok(false);",
    ).replace('    con.set(format!("stock:{}", id), stock - 1).await?;\n', "")
    assert propose_patches(source, "src/stock.rs").patches[0].safety == "unsafe"


def test_a_rate_limiter_counts_first(tmp_path: Path) -> None:
    source = _handler(
        "limited",
        """\
        let used: i64 = con.get(format!("rate:{}", id)).await?;
        if used >= 100 {
            return Ok(false);
        }
        con.incr(format!("rate:{}", id), 1).await?;
        Ok(true)
        """,
    )
    patched = verified_patch(source, "src/rate.rs", "RC502", "limited", tmp_path)
    assert 'let used: i64 = con.incr::<_, _, i64>(format!("rate:{}", id), 1).await? - 1;' in patched
    assert 'con.incr::<_, _, ()>(format!("rate:{}", id), -1).await?;\n        return Ok(false);' in patched
    assert patched.count(".incr(") == 0


def test_a_value_read_from_elsewhere_gets_guidance() -> None:
    source = _handler(
        "points",
        """\
        let points: i64 = con.hget(format!("user:{}", id), "points").await?;
        con.hset(format!("user:{}", id), "points", points + 10).await?;
        Ok(true)
        """,
    )
    report = propose_patches(source, "src/points.rs")
    assert report.patches == []
    assert [u.rule_id for u in report.unpatched] == ["RC501"]
    assert "set_nx" in report.unpatched[0].guidance and "Script::new" in report.unpatched[0].guidance


def test_incr_then_expire_gets_atomic_pipeline_guidance() -> None:
    source = _handler(
        "window",
        """\
        let used: i64 = con.incr(format!("win:{}", id), 1).await?;
        con.expire(format!("win:{}", id), 60).await?;
        Ok(used < 10)
        """,
    )
    report = propose_patches(source, "src/window.rs")
    assert [u.rule_id for u in report.unpatched] == ["RC503"]
    assert "redis::pipe()" in report.unpatched[0].guidance
