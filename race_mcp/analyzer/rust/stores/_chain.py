"""Builder chains as the Rust SDKs write them: `client.update_item().table_name(t).key(..).send()`."""

from __future__ import annotations

from collections.abc import Iterator

from ...core import model

__all__ = ["chain_calls", "setter"]


def chain_calls(call: model.Call) -> Iterator[model.Call]:
    """The calls of a method chain, outermost first (`send`, `key`, `table_name`, `update_item`)."""
    current: model.Expr | None = call
    while isinstance(current, model.Call):
        yield current
        current = current.receiver


def setter(calls: list[model.Call], name: str) -> model.Call | None:
    """The last call of `name` in the chain (`.condition_expression(...)`)."""
    return next((c for c in calls if c.method == name), None)
