"""Routes, mounts, injected services and calls of one JavaScript/TypeScript file, read off its
lowered model with the front-end's own readings (`javascript/routes.py`, `entrypoints.py`,
`nest.py`), so a route the index sees is spelt as the file's own analysis spells it. See
`_extract_js.py` for the shapes."""

from __future__ import annotations

from typing import Any

from ..core import model
from ..core.walk import expressions, statements
from ..javascript.entrypoints import VERB_LABELS, framework, framework_of, route_of
from ..javascript.lower import lower_module
from ..javascript.nest import controller_prefix, method_entry
from ..javascript.routes import join, object_route, registrations
from ..python.stores._common import literal_string

__all__ = ["routing_facts"]

Ref = list[str]
_MAX_CALLS = 200  # per function: handlers and services call a handful of other files' functions


def routing_facts(source: str, label: str, tree: Any, imports: dict[str, list[str]]) -> dict[str, Any]:
    module = lower_module(source, label, tree)
    reading = _Reading(module, imports)
    return {
        "routes": reading.routes(),
        "mounts": reading.mounts(),
        "own_prefix": reading.own_prefixes(),
        "classes": reading.classes(),
        "calls": reading.calls(),
    }


class _Reading:
    def __init__(self, module: model.ModuleModel, imports: dict[str, list[str]]) -> None:
        self.module = module
        self.imports = imports
        self.by_span = {function.span: name for name, function in module.functions.items()}

    # -- references ---------------------------------------------------------------------------
    def ref(self, expr: model.Expr | None) -> Ref | None:
        """What a handler, router or plugin argument names (see `_extract_js`)."""
        if isinstance(expr, model.Opaque) and expr.kind == "function":
            found = self.by_span.get(expr.span)
            return ["fn", found] if found else None
        if isinstance(expr, model.Name):
            if expr.id in self.imports:
                return ["imp", expr.id, ""]
            if expr.id in self.module.functions:
                return ["fn", expr.id]
            return ["var", expr.id]
        if isinstance(expr, model.Attribute) and isinstance(expr.value, model.Name):
            if expr.value.id in self.imports:
                return ["imp", expr.value.id, expr.attr]
            return None
        if isinstance(expr, model.Call):
            if isinstance(expr.func, model.Name) and expr.func.id == "require":
                spec = literal_string(expr.positional(0))
                return ["req", spec] if spec else None
            if expr.method in _ROUTER_METHODS:  # `ctrl.m.bind(ctrl)`, koa's `router.routes()`
                return self.ref(expr.receiver)
            if len(expr.args) == 1:  # `asyncHandler(ctrl.withdraw)`
                return self.ref(expr.args[0].value)
        return None

    def handler_ref(self, expr: model.Expr | None) -> Ref | None:
        found = self.ref(expr)
        return found if found is not None and found[0] != "var" else None

    def router_key(self, call: model.Call, function: model.Function | None) -> str:
        """The router a registration is made on: a module-level variable, or the plugin function
        whose first parameter it is (`async function routes(fastify) { fastify.post(...) }`)."""
        base = call.receiver
        while isinstance(base, model.Call | model.Attribute):
            base = base.receiver if isinstance(base, model.Call) else base.value
        name = base.id if isinstance(base, model.Name) else ""
        if function is not None and function.params and name == function.params[0]:
            return function.qualname
        if function is not None and name in function.locals and name not in self.module.assignments:
            # A router factory's own router (`function walletRouter(db) { const router = Router();
            # ... return router }`): mounted as `app.use("/api", walletRouter(db))`.
            return function.qualname
        return name

    def mount_ref(self, expr: model.Expr | None) -> Ref | None:
        """What a mount names: a router, a plugin, or the factory a call builds its router with."""
        if isinstance(expr, model.Call) and _factory_call(expr):
            factory = self.ref(expr.func)
            if factory is not None and factory[0] in ("fn", "imp"):
                return factory
        return self.ref(expr)

    # -- facts --------------------------------------------------------------------------------
    def routes(self) -> list[list[Any]]:
        default = framework(self.module)
        found: list[list[Any]] = []
        for call, function in registrations(self.module):
            declared = object_route(call)
            label = VERB_LABELS.get(call.method or "")
            written = route_of(call) if declared is None and label is not None else None
            if declared is not None:
                verb, path, handler_expr = declared
                handler = self.handler_ref(handler_expr)
            elif label is not None and written is not None:
                verb, path = label, written
                # The last argument that names a function: middleware comes before the handler.
                refs = [self.handler_ref(arg.value) for arg in call.args[1:] or call.args]
                handler = next((ref for ref in reversed(refs) if ref is not None), None)
            else:
                continue
            if handler is not None:
                runs = framework_of(call, self.module, default)
                found.append([verb, path, self.router_key(call, function), handler, runs])
        return found

    def mount_calls(self) -> list[tuple[model.Call, model.Function | None]]:
        """`use` / `route` / `register` calls at the top level and in functions (an app built in
        `createApp()` or `init()`)."""
        found: list[tuple[model.Call, model.Function | None]] = [(call, None) for call in self.module.calls]
        for function in self.module.functions.values():
            for statement in statements(function.body):
                for expr in expressions(statement):
                    if isinstance(expr, model.Call) and expr.method in _MOUNT_METHODS:
                        found.append((expr, function))
        return found

    def mounts(self) -> list[list[Any]]:
        found: list[list[Any]] = []
        for call, function in self.mount_calls():
            parent = self.router_key(call, function)
            if call.method in ("use", "route"):
                path = literal_string(call.positional(0))
                children = call.args[1:] if path is not None else call.args
                for arg in children:
                    mounted = self.koa_mount(arg.value)
                    child = mounted[1] if mounted is not None else self.mount_ref(arg.value)
                    at = join(path or "", mounted[0]) if mounted is not None else path or ""
                    if child is not None and (call.method == "use" or path is not None):
                        found.append([parent, at, child])
            elif call.method == "register":
                child = self.mount_ref(call.positional(0))
                options = call.positional(1)
                prefix = _option(options, "prefix") if options is not None else None
                if child is not None:
                    found.append([parent, prefix or "", child])
        return found

    def koa_mount(self, expr: model.Expr) -> tuple[str, Ref | None] | None:
        """koa-mount's `mount("/api", api)` / `mount(routes)`: (prefix, what is mounted)."""
        if not (isinstance(expr, model.Call) and isinstance(expr.func, model.Name)):
            return None
        source = self.imports.get(expr.func.id, [""])[0]
        if source != "koa-mount" or not expr.args:
            return None
        prefix = literal_string(expr.positional(0))
        inner = expr.positional(1) if prefix is not None else expr.positional(0)
        return prefix or "", self.mount_ref(inner)

    def own_prefixes(self) -> dict[str, str]:
        """koa-router's `new Router({ prefix: "/api" })`."""
        found: dict[str, str] = {}
        for name, value in self.module.assignments.items():
            if isinstance(value, model.Call) and _builds_router(value):
                prefix = _option(value.positional(0), "prefix")
                if prefix:
                    found[name] = prefix
        return found

    def classes(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, info in self.module.classes.items():
            prefix = controller_prefix(info)
            entries = {}
            for method, function in info.methods.items():
                entry = method_entry(function, prefix)
                if entry is not None:
                    entries[method] = [entry.kind, entry.route]
            props = _injected(info)
            if props or entries:
                found[name] = {"props": props, "entries": entries}
        return found

    def calls(self) -> dict[str, list[Ref]]:
        """Per function: calls of imported functions (`svc.debit(...)`, `debit(...)`) and of
        `this.<property>.<method>` / `this.<method>`."""
        found: dict[str, list[Ref]] = {}
        for qualname, function in self.module.functions.items():
            if "<locals>" in qualname:
                continue
            refs: list[Ref] = []
            for statement in statements(function.body):
                for expr in expressions(statement):
                    if isinstance(expr, model.Call) and len(refs) < _MAX_CALLS:
                        ref = self.call_ref(expr.func)
                        if ref is not None and ref not in refs:
                            refs.append(ref)
            if refs:
                found[qualname] = refs
        return found

    def call_ref(self, func: model.Expr) -> Ref | None:
        if isinstance(func, model.Name) and func.id in self.imports:
            return ["imp", func.id, ""]
        if not isinstance(func, model.Attribute):
            return None
        value = func.value
        if isinstance(value, model.Name):
            if value.id == "self":
                return ["this", "", func.attr]
            return ["imp", value.id, func.attr] if value.id in self.imports else None
        if (
            isinstance(value, model.Attribute)
            and isinstance(value.value, model.Name)
            and value.value.id == "self"
        ):
            return ["this", value.attr, func.attr]
        return None


_MOUNT_METHODS = frozenset({"use", "route", "register"})
_ROUTER_METHODS = frozenset({"bind", "routes", "middleware"})  # koa's `router.routes()` is the router


def _factory_call(call: model.Call) -> bool:
    """`createRouter(db)` / `routers.wallet(db)`: not `require("./x")` nor `router.routes()`."""
    if isinstance(call.func, model.Name):
        return call.func.id != "require"
    return call.method not in _ROUTER_METHODS


def _builds_router(call: model.Call) -> bool:
    """`new Router(...)`, `new KoaRouter(...)` (a default import of `@koa/router` too)."""
    built = call.func.id if isinstance(call.func, model.Name) else ""
    return built.endswith("Router") or (call.name or "").lower().endswith("router")


def _option(options: model.Expr | None, name: str) -> str | None:
    if not isinstance(options, model.Collection) or options.kind != "dict":
        return None
    for key, value in zip(options.elements[::2], options.elements[1::2], strict=False):
        if isinstance(key, model.Literal) and key.value == name:
            return literal_string(value)
    return None


def _injected(info: model.ClassModel) -> dict[str, str]:
    """`this.<property>` -> the class name its constructor parameter is typed with."""
    constructor = info.methods.get("constructor")
    if constructor is None:
        return {}
    found: dict[str, str] = {}
    for statement in constructor.body:
        if not (isinstance(statement, model.Assign) and len(statement.targets) == 1):
            continue
        target, value = statement.targets[0], statement.value
        if (
            isinstance(target, model.Attribute)
            and isinstance(target.value, model.Name)
            and target.value.id == "self"
            and isinstance(value, model.Name)
            and (typed := constructor.annotations.get(value.id))
        ):
            found[target.attr] = typed.split("<", 1)[0].strip()
    return found
