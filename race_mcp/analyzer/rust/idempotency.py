"""How an Axum or actix-web handler receives an idempotency key, for RC601 (`core/idempotency.py`
judges).

Header reads in the body are found by the core (`headers.get("Idempotency-Key")` on an Axum
`HeaderMap`, actix's `req.headers().get(..)`, a body field `body.idempotency_key`). What only the
front-end reads:

- extractors whose type names a key: `TypedHeader(key): TypedHeader<IdempotencyKey>`, a project's
  own `IdempotencyKey(key): IdempotencyKey` (the parameter's annotation is kept by the lowering);
- middleware that enforces a key: a Tower layer (`.layer(IdempotencyLayer::new(..))`,
  `.route_layer(from_fn(require_idempotency_key))`) or an actix `.wrap(Idempotency::default())`
  anywhere in the file, which then stores and replays it for every route it builds.
"""

from __future__ import annotations

from ..core import model
from ..core.idempotency import KeyFacts, mentions_key, names_a_key
from ..core.walk import expressions, statements

__all__ = ["key_facts"]

_MIDDLEWARE = frozenset({"layer", "route_layer", "wrap", "wrap_fn"})


def key_facts(module: model.ModuleModel, function: model.Function) -> KeyFacts:
    params = frozenset(name for name, kind in function.annotations.items() if names_a_key(kind))
    return KeyFacts(params=params, enforced=_layered(module))


def _layered(module: model.ModuleModel) -> bool:
    """A layer or `wrap` in any function of the file names a key."""
    for function in module.functions.values():
        for statement in statements(function.body):
            for node in expressions(statement):
                if (
                    isinstance(node, model.Call)
                    and node.method in _MIDDLEWARE
                    and any(mentions_key(arg.value) for arg in node.args)
                ):
                    return True
    return False
