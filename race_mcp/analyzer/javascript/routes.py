"""Route registrations of the Node frameworks, wherever they are written.

- Calls at the module's top level (`app.post("/p", handler)`), and inside functions: Fastify plugins
  (`async function routes(fastify) { fastify.post(...) }`), Express route modules
  (`module.exports = (app) => { app.get(...) }`), router factories. Inside a function, only a
  receiver named like an application or router, or the function's first parameter, registers
  routes (`axios.get("/x", callback)` does not).
- `fastify.route({ method: "POST", url: "/p", handler })`.
- Prefixes the same module gives: `app.use("/api", router)` (Express), `app.route("/api", sub)`
  (Hono), `new Router({ prefix: "/api" })` (koa-router), `app.register(plugin, { prefix: "/v1" })`
  (Fastify, for the routes the plugin function registers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..core import model
from ..core.walk import expressions, statements
from ..python.stores._common import dotted, literal_string

__all__ = ["Registration", "prefixes", "registrations"]

VERBS = frozenset({"get", "post", "put", "patch", "delete", "del", "all", "options", "head"})
_APP_NAME = re.compile(r"(?i)app|router|server|fastify|api|routes?\b|instance|hono|koa")
# (the call, the function it is written in, None at the top level)
Registration = tuple[model.Call, model.Function | None]


def _base_text(expr: model.Expr | None) -> str:
    """`router` for `router.route("/p").get`, `self.app` for `this.app.post`."""
    while isinstance(expr, model.Call):
        expr = expr.receiver
    return dotted(expr) or ""


def _registers(call: model.Call, function: model.Function | None) -> bool:
    if function is None:
        return True
    base = _base_text(call.receiver)
    first = function.params[0] if function.params else None
    return bool(_APP_NAME.search(base)) or (first is not None and base == first)


def registrations(module: model.ModuleModel) -> Iterator[Registration]:
    """Calls that may register routes: verbs and `route(...)`, top level first."""
    for call in module.calls:
        yield call, None
    for function in list(module.functions.values()):
        for statement in statements(function.body):
            for expr in expressions(statement):
                if (
                    isinstance(expr, model.Call)
                    and (expr.method in VERBS or expr.method == "route")
                    and _registers(expr, function)
                ):
                    yield expr, function


def _items(expr: model.Expr | None) -> dict[str, model.Expr]:
    if not isinstance(expr, model.Collection) or expr.kind != "dict":
        return {}
    pairs = zip(expr.elements[::2], expr.elements[1::2], strict=False)
    return {
        key.value: value
        for key, value in pairs
        if isinstance(key, model.Literal) and isinstance(key.value, str)
    }


def object_route(call: model.Call) -> tuple[str, str, model.Expr] | None:
    """`fastify.route({ method: "POST", url: "/p", handler })` -> ("POST", "/p", handler)."""
    options = _items(call.positional(0)) if call.method == "route" else {}
    method, url, handler = (
        options.get("method"),
        options.get("url") or options.get("path"),
        options.get("handler"),
    )
    verb = literal_string(method)
    path = literal_string(url)
    if verb is None or path is None or handler is None:
        return None
    return verb.upper(), path, handler


def prefixes(module: model.ModuleModel) -> dict[str, str]:
    """Mount prefixes by router variable (`router`) or plugin function name (`routes`)."""
    found: dict[str, str] = {}
    for name, value in module.assignments.items():  # `new Router({ prefix: "/api" })`
        if isinstance(value, model.Call) and (value.name or "").endswith("Router"):
            prefix = literal_string(_items(value.positional(0)).get("prefix"))
            if prefix:
                found[name] = prefix
    for call in module.calls:
        path = literal_string(call.positional(0))
        if call.method in ("use", "route") and path is not None:  # app.use("/api", router)
            for arg in call.args[1:]:
                if isinstance(arg.value, model.Name):
                    found[arg.value.id] = path
        elif call.method == "register" and (plugin := _plugin_name(module, call.positional(0))):
            prefix = literal_string(_items(call.positional(1)).get("prefix"))
            if prefix:
                found[plugin] = prefix
    return found


def _plugin_name(module: model.ModuleModel, plugin: model.Expr | None) -> str | None:
    """The function `register` mounts: `register(routes, ...)`, or one written inline
    (`register(async (instance) => { ... }, { prefix })`), known by its span."""
    if isinstance(plugin, model.Name):
        return plugin.id
    if isinstance(plugin, model.Opaque) and plugin.kind == "function":
        return next((f.name for f in module.functions.values() if f.span == plugin.span), None)
    return None


def join(prefix: str | None, path: str) -> str:
    if not prefix:
        return path
    return prefix.rstrip("/") + ("/" + path.lstrip("/") if path.strip("/") else "")
