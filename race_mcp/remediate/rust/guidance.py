"""Guidance in Rust for the families without a sound mechanical rewrite here.

- RC1xx (in-process state): the guard taken for the read is dropped before the write (a second
  `lock()`, an `.await` between), atomics `load` then `store`, DashMap `get` then `insert`. Which
  scope the guard must cover (and whether a `std::sync::Mutex` may be held across an `.await`) is a
  design choice, so the fix is shown, not applied.
- RC3xx (diesel, sea-orm): the atomic forms need the model's columns and the handler's answer to a
  lost race; shown for both ORMs.
"""

from __future__ import annotations

from ...findings import Finding
from .._fixers import Fixed, Guidance, register_text

__all__ = ["memory_guidance", "orm_guidance"]

_MEMORY = """Hold one guard from the read to the write, or let one atomic operation do both:

    // one guard for the check and the write (tokio::sync::Mutex when an .await is in between)
    let mut stock = state.stock.lock().await;
    if *stock == 0 {
        return Err(AppError::SoldOut);
    }
    *stock -= 1;
    drop(stock);

    // atomics: fetch_update / compare_exchange instead of load then store
    state.tickets.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .map_err(|_| AppError::SoldOut)?;

    // DashMap: the entry API holds the shard lock for the check and the insert
    match state.claims.entry(code) {
        Entry::Occupied(_) => return Err(AppError::Taken),
        Entry::Vacant(slot) => { slot.insert(user); }
    }

In-process state is per process: with several instances, keep it in the database or Redis."""

_ORM = """Write with one statement that re-checks what was read, and look at the row count:

    // diesel
    let changed = diesel::update(accounts.filter(id.eq(account_id)).filter(balance.ge(amount)))
        .set(balance.eq(balance - amount))
        .execute(conn)?;
    if changed == 0 {
        return Err(AppError::Insufficient);
    }

    // sea-orm
    let done = account::Entity::update_many()
        .col_expr(account::Column::Balance, Expr::col(account::Column::Balance).sub(amount))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::Balance.gte(amount))
        .exec(&db).await?;
    if done.rows_affected == 0 {
        return Err(AppError::Insufficient);
    }

Or lock the row for the transaction: diesel `.for_update()` inside `conn.transaction(|conn| ..)`,
sea-orm `.lock_exclusive()` on a `db.begin()` transaction. Creates after a lookup: a unique index,
with `on_conflict_do_nothing()` (diesel) / `OnConflict::column(..).do_nothing()` (sea-orm) or the
duplicate-key error answered (`DatabaseErrorKind::UniqueViolation`, `SqlErr::UniqueConstraintViolation`)."""


@register_text("rust", "RC1")
def memory_guidance(text: str, finding: Finding) -> Fixed | Guidance:
    return Guidance(_MEMORY)


@register_text("rust", "RC3")
def orm_guidance(text: str, finding: Finding) -> Fixed | Guidance:
    return Guidance(_ORM)
