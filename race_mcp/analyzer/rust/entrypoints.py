"""Entry points of Rust web services: Axum and actix-web routes.

Axum: `Router::new().route("/p", post(handler).get(other))`, chained, and `.nest("/api", inner)`
where `inner` is a router built inline or by a function of the module. actix-web: the route macros
(`#[post("/p")]`, `#[route("/p", method = "POST")]`), `web::resource("/p").route(web::post().to(h))`
and `App::new().route("/p", web::post().to(h))`, under `web::scope("/api")`.

Both run handlers as tokio tasks on a multi-threaded runtime: runtime "event-loop" (tasks
interleave at awaits) whose worker threads also run tasks in parallel, which the pipeline models by
interpreting Rust roots in threaded mode.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core import model
from ._expressions import string_value
from ._syntax import Node, text
from ._syntax import field as child
from .lower import RustModule

__all__ = ["entry_points", "macro_routes", "route_registrations"]

_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "trace", "any"})
_NESTING = frozenset({"nest", "scope"})
_MOUNTING = frozenset({"service", "configure"})
_PATHS = frozenset({"identifier", "scoped_identifier"})


def entry_points(lowered: RustModule) -> list[model.EntryPoint]:
    module = lowered.module
    found: dict[str, model.EntryPoint] = {}
    routes, nests = route_registrations(lowered)
    prefixes = _prefixes(nests)
    for function, path, verb, written, framework in routes:
        handler = written.rsplit("::", 1)[-1]
        if handler in module.functions and handler not in found:
            route = f"{verb} {prefixes.get(function, '')}{path}"
            found[handler] = model.EntryPoint(handler, "http", "event-loop", route, framework)
    for qualname, attributes in lowered.attributes.items():
        for attribute in attributes:
            declared = _macro_route(attribute)
            if declared is not None and qualname not in found:
                found[qualname] = model.EntryPoint(qualname, "http", "event-loop", declared, "actix-web")
    return list(found.values())


def route_registrations(
    lowered: RustModule,
) -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str, str]]]:
    """(function, path, verb, handler as written, framework) for each route registered in a
    function of the file, and (function, prefix, nested router's function as written) for each
    `.nest(prefix, f())` / `web::scope(prefix).configure(f)`: the project index follows both
    into other modules (`handlers::withdraw`, `crate::api::routes()`)."""
    return _Routes(lowered.module).collect(lowered.tree.root_node)  # type: ignore[attr-defined]


def macro_routes(lowered: RustModule) -> dict[str, str]:
    """Functions routed by an actix-web macro (`#[post("/p")]`) -> `POST /p`."""
    found: dict[str, str] = {}
    for qualname, attributes in lowered.attributes.items():
        for attribute in attributes:
            declared = _macro_route(attribute)
            if declared is not None:
                found.setdefault(qualname, declared)
    return found


def _macro_route(attribute: Node) -> str | None:
    """`#[post("/p")]` -> `POST /p`; `#[route("/p", method = "PUT")]` -> `PUT /p`."""
    inner = next((c for c in attribute.named_children if c.type == "attribute"), None)
    if inner is None or not inner.named_children:
        return None
    name = text(inner.named_children[0]).rsplit("::", 1)[-1]
    tokens = child(inner, "arguments")
    strings = [string_value(c) for c in tokens.named_children if c.type == "string_literal"] if tokens else []
    if not strings:
        return None
    if name in _VERBS:
        return f"{name.upper()} {strings[0]}"
    if name == "route":
        verb = strings[1].upper() if len(strings) > 1 else "ANY"
        return f"{verb} {strings[0]}"
    return None


def _prefixes(nests: list[tuple[str, str, str]]) -> dict[str, str]:
    """The path prefix of routes registered in each function a `.nest(prefix, f())` names."""
    prefixes: dict[str, str] = {}
    for _ in range(4):  # nests of nests, a few levels deep
        for parent, prefix, nested in nests:
            prefixes[nested.rsplit("::", 1)[-1]] = prefixes.get(parent, "") + prefix
    return prefixes


class _Routes:
    def __init__(self, module: model.ModuleModel) -> None:
        self.module = module
        self.routes: list[tuple[str, str, str, str, str]] = []
        self.nests: list[tuple[str, str, str]] = []

    def collect(self, root: Node) -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str, str]]]:
        for function in _functions(root):
            body = child(function, "body")
            name = text(child(function, "name"))
            if body is not None:
                self.walk(body, name, "")
        return self.routes, self.nests

    def walk(self, node: Node, function: str, prefix: str) -> None:
        if node.type == "call_expression" and self.call(node, function, prefix):
            return
        for item in node.named_children:
            self.walk(item, function, prefix)

    def call(self, node: Node, function: str, prefix: str) -> bool:
        """Reads one registration; True when it walked the call's parts itself."""
        method, receiver, args = _method_call(node)
        if method in _MOUNTING and receiver is not None and args and args[0].type in _PATHS:
            # actix-web: `web::scope("/api").service(handlers::withdraw)` (a route macro's handler)
            # or `.configure(api::config)`: the prefix of what that function registers or declares.
            within = _chain_start(receiver, "scope") or ""
            self.nests.append((function, prefix + within, "".join(text(args[0]).split())))
        if method in _NESTING and args and args[0].type == "string_literal":
            inner = prefix + string_value(args[0])
            if receiver is not None:
                self.walk(receiver, function, prefix)
            for arg in args[1:]:
                if arg.type == "call_expression" and child(arg, "function") is not None:
                    self.nests.append((function, inner, text(child(arg, "function"))))
                self.walk(arg, function, inner)
            return method == "nest"
        if method == "route" and args and args[0].type == "string_literal":
            scope = _chain_start(receiver, "scope") if receiver is not None else None
            path = prefix + (scope or "") + string_value(args[0])
            for arg in args[1:]:
                for verb, handler, framework in _method_router(arg, self.module.imports):
                    self.routes.append((function, path, verb, handler, framework))
            if receiver is not None:
                self.walk(receiver, function, prefix)
            return True
        if method == "route" and receiver is not None and (resource := _chain_start(receiver, "resource")):
            for verb, handler, framework in _method_router(args[0] if args else node, self.module.imports):
                self.routes.append((function, prefix + resource, verb, handler, framework))
        return False


def _functions(root: Node) -> Iterator[Node]:
    for node in root.named_children:
        if node.type == "function_item":
            yield node
        elif node.type in ("impl_item", "mod_item"):
            body = child(node, "body")
            if body is not None:
                yield from _functions(body)


def _method_call(node: Node) -> tuple[str | None, Node | None, list[Node]]:
    function = child(node, "function")
    arguments = child(node, "arguments")
    args = [a for a in arguments.named_children if "comment" not in a.type] if arguments is not None else []
    if function is None:
        return None, None, args
    if function.type == "field_expression":
        return text(child(function, "field")), child(function, "value"), args
    return text(function).rsplit("::", 1)[-1], None, args


def _chain_start(node: Node, name: str) -> str | None:
    """The path of `web::resource("/p")` / `web::scope("/api")` starting a builder chain."""
    while node.type == "call_expression":
        method, receiver, args = _method_call(node)
        if method == name and receiver is None and args and args[0].type == "string_literal":
            return string_value(args[0])
        if receiver is None:
            return None
        node = receiver
    return None


def _method_router(node: Node, imports: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """`post(h).get(g)` (Axum) -> (POST, h), (GET, g); `web::post().to(h)` (actix-web) -> (POST, h).
    A verb imported under another name (`use axum::routing::post as axum_post`) is the verb."""
    verb_for_to: str | None = None
    chain: list[tuple[str | None, list[Node]]] = []
    while node.type == "call_expression":
        method, receiver, args = _method_call(node)
        if receiver is None and method is not None and method not in _VERBS:
            method = imports.get(method, method).rsplit("::", 1)[-1]
        chain.append((method, args))
        if receiver is None:
            break
        node = receiver
    for method, args in reversed(chain):
        if method in _VERBS and args:
            yield method.upper(), _handler_name(args[0]), "axum"
        elif method in _VERBS:
            verb_for_to = method.upper()
        elif method == "to" and args:
            yield verb_for_to or "ANY", _handler_name(args[0]), "actix-web"


def _handler_name(node: Node) -> str:
    """The handler as written (`withdraw`, `handlers::withdraw`): the index resolves the path."""
    return "".join(text(node).split())
