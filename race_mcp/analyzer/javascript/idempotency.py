"""How a Node handler receives an idempotency key, for RC601 (`core/idempotency.py` judges).

Header and body reads in the handler's body are found by the core whatever the framework: Express
`req.get("Idempotency-Key")` / `req.headers["idempotency-key"]`, Fastify `request.headers[..]`, Hono
`c.req.header(..)`, Next.js `request.headers.get(..)`, a body field `req.body.idempotencyKey`. What
only the front-end can read:

- NestJS parameter decorators, `@Headers("idempotency-key") key: string` (the model keeps a
  parameter's name, not its decorators, so the signature's text is read);
- middleware that enforces a key on the route, `app.post("/p", requireIdempotencyKey, handler)`, on
  the whole app, `app.use(idempotency())` / `fastify.addHook("preHandler", dedupe)`, or a NestJS
  interceptor or guard named on the method or its controller (`@UseInterceptors(IdempotencyInterceptor)`).
"""

from __future__ import annotations

import re
from functools import cached_property

from ..core import model
from ..core.idempotency import KeyFacts, mentions_key, names_a_key
from .routes import registrations

__all__ = ["KeySources"]

# `@Headers("idempotency-key") key` / `@Body("requestId") requestId`: the decorator's string and the
# parameter it binds. Bounded runs, so the scan stays linear on hostile signatures.
_PARAM_DECORATOR = re.compile(
    r"""@(?:Headers|Body|Query|Req|Param)\(\s*(['"])([^'"\n]{1,80})\1\s*\)\s*(?:(?:private|readonly|public)\s+)*(\w+)"""
)
_APP_HOOKS = frozenset({"use", "addHook", "register"})


class KeySources:
    """Where the handlers of one module may get an idempotency key. The module's route registrations
    and app hooks are read once, when the first handler is asked about: walking every function of
    the module again for each handler made a file with many routes quadratic (fastify's test files
    register hundreds: it was about 40% of the CPU time on the JS/TS throughput corpus)."""

    def __init__(self, module: model.ModuleModel) -> None:
        self.module = module

    def facts(self, function: model.Function) -> KeyFacts:
        return KeyFacts(params=self._decorated_params(function), enforced=self._enforced(function))

    @cached_property
    def _lines(self) -> list[str]:
        return self.module.source.splitlines()

    def _decorated_params(self, function: model.Function) -> frozenset[str]:
        start = function.span.line
        signature = "\n".join(self._lines[start - 1 : start + 8])  # decorated parameters span a few lines
        return frozenset(
            match.group(3)
            for match in _PARAM_DECORATOR.finditer(signature)
            if match.group(3) in function.params and names_a_key(match.group(2))
        )

    @cached_property
    def _app_hooked(self) -> bool:
        """`app.use(idempotency())`, `fastify.addHook("preHandler", dedupe)`: every route."""
        return any(
            call.method in _APP_HOOKS and any(mentions_key(a.value) for a in call.args)
            for call in self.module.calls
        )

    @cached_property
    def _keyed_registrations(self) -> list[model.Call]:
        """Registrations with an argument that names a key (`requireIdempotencyKey`): only these can
        enforce one on the handler they register."""
        return [
            call
            for call, _ in registrations(self.module)
            if any(mentions_key(arg.value) for arg in call.args)
        ]

    def _enforced(self, function: model.Function) -> bool:
        """Middleware on the route or the app, or a NestJS interceptor/guard, names a key."""
        if any(mentions_key(d) for d in function.decorators):
            return True
        owner = self.module.classes.get(function.owner_class) if function.owner_class else None
        if owner is not None and any(mentions_key(d) for d in owner.decorators):
            return True
        if self._app_hooked:
            return True
        for call in self._keyed_registrations:
            if any(_is_handler(arg.value, function) for arg in call.args):
                others = [arg.value for arg in call.args if not _is_handler(arg.value, function)]
                if any(mentions_key(other) for other in others):
                    return True
        return False


def _is_handler(expr: model.Expr, function: model.Function) -> bool:
    if isinstance(expr, model.Opaque) and expr.kind == "function":
        return expr.span == function.span
    return isinstance(expr, model.Name) and expr.id == function.qualname
