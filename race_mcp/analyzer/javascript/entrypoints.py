"""Entry points of Node web frameworks and AWS Lambda, read off a lowered module.

- Express, Koa-router, Hono and Fastify route calls: `app.post("/p", handler)`, middleware before
  the handler (the last function argument is the handler), `router.route("/p").get(h).post(h2)`;
- Next.js: `pages/api/**` default exports, app-router `route.(js|ts)` exports named after a verb;
- AWS Lambda: an exported `handler`; one that iterates `event.Records` is a consumer (DynamoDB
  Streams, SQS), else an API Gateway handler;
- NestJS (`nest`): `@Controller` classes' route methods, message and event handlers, schedules;
- tRPC (`trpc`): the function a procedure's `.mutation(...)` runs.

Every one runs on Node's event loop: in-process state interleaves only at awaits.
"""

from __future__ import annotations

import re

from ..core import model
from .nest import nest_entry_points
from .routes import join, object_route, prefixes, registrations
from .trpc import trpc_procedures

__all__ = ["VERB_LABELS", "entry_points", "framework", "framework_of", "route_of"]

_VERBS = frozenset({"get", "post", "put", "patch", "delete", "del", "all", "options", "head"})
# How a route method reads in a route: `router.del(...)` is a DELETE.
VERB_LABELS = {verb: "DELETE" if verb == "del" else verb.upper() for verb in _VERBS}
_HTTP_EXPORTS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_FRAMEWORKS = (
    ("@nestjs", "nestjs"),
    ("fastify", "fastify"),
    ("hono", "hono"),
    ("koa", "koa"),
    ("express", "express"),
)
_APP_ROUTE = re.compile(r"(^|/)app/(.+/)?route\.[cm]?[jt]sx?$")


def framework(module: model.ModuleModel) -> str:
    sources = " ".join(module.imports.values())
    return next((name for marker, name in _FRAMEWORKS if marker in sources), "express")


def _path_text(expr: model.Expr | None) -> str | None:
    if isinstance(expr, model.Literal) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, model.Template):
        return expr.text
    return None


def _handler(module: model.ModuleModel, expr: model.Expr, by_span: dict[model.Span, str]) -> str | None:
    if isinstance(expr, model.Opaque) and expr.kind == "function":
        return by_span.get(expr.span)
    if isinstance(expr, model.Name) and expr.id in module.functions:
        return expr.id
    return None


def route_of(call: model.Call) -> str | None:
    """The path of `app.post("/p", ...)`, or of the `.route("/p")` a chain of verbs hangs on."""
    path = _path_text(call.positional(0))
    if path is not None:
        return path
    receiver = call.receiver
    while isinstance(receiver, model.Call):
        if receiver.method == "route":
            return _path_text(receiver.positional(0))
        receiver = receiver.receiver
    return None


def _prefix(call: model.Call, function: model.Function | None, mounts: dict[str, str]) -> str | None:
    """The prefix a mount gives the router `call` registers on, or the plugin function it is in."""
    base = call.receiver
    while isinstance(base, model.Call):
        base = base.receiver
    if isinstance(base, model.Name) and base.id in mounts:
        return mounts[base.id]
    return mounts.get(function.name) if function is not None else None


def framework_of(call: model.Call, module: model.ModuleModel, default: str) -> str:
    """The framework of the app or router `call` registers on, when the module builds it
    (`const router = express.Router()`, `const server = Fastify()`); else the module's."""
    base = call.receiver
    while isinstance(base, model.Call | model.Attribute):
        base = base.receiver if isinstance(base, model.Call) else base.value
    built = module.assignments.get(base.id) if isinstance(base, model.Name) else None
    source = built.name or "" if isinstance(built, model.Call) else ""
    return next((name for marker, name in _FRAMEWORKS if marker in source), default)


def _routes(module: model.ModuleModel, framework: str) -> list[model.EntryPoint]:
    by_span = {function.span: name for name, function in module.functions.items()}
    mounts = prefixes(module)
    found = []
    for call, function in registrations(module):
        verb = call.method
        declared = object_route(call)
        route: str | None
        if declared is not None:
            label, route, handler_expr = declared
            handler = _handler(module, handler_expr, by_span)
        elif verb in _VERBS and (route := route_of(call)) is not None:
            handlers = [_handler(module, arg.value, by_span) for arg in call.args]
            handler = next((name for name in reversed(handlers) if name is not None), None)
            label = VERB_LABELS[verb]
        else:
            continue
        if handler is not None and route is not None:
            path = join(_prefix(call, function, mounts), route)
            runs = framework_of(call, module, framework)
            found.append(model.EntryPoint(handler, "http", "event-loop", f"{label} {path}", runs))
    return found


def _reads_records(function: model.Function) -> bool:
    return "Records" in module_text(function)


def module_text(function: model.Function) -> str:
    origin = function.origin
    return origin.text.decode("utf-8", "replace") if origin is not None else ""


def _exported(module: model.ModuleModel, path: str) -> list[model.EntryPoint]:
    found = []
    normalised = path.replace("\\", "/")
    if "pages/api/" in normalised:
        name: str | None = next((n for n in ("default", "handler") if n in module.functions), None)
        default = name or next(
            (n for n in module.functions if n.startswith("<anonymous") and "." not in n), None
        )
        if default is not None:
            route = "/api/" + normalised.split("pages/api/", 1)[1].rsplit(".", 1)[0]
            found.append(model.EntryPoint(default, "http", "event-loop", route, "nextjs"))
    if _APP_ROUTE.search(normalised):
        route = "/" + (normalised.split("app/", 1)[1].rsplit("/", 1)[0] if "/route." in normalised else "")
        for verb in _HTTP_EXPORTS & set(module.functions):
            found.append(model.EntryPoint(verb, "http", "event-loop", f"{verb} {route}", "nextjs"))
    lambda_handler = module.functions.get("handler")
    if lambda_handler is not None and not found:
        kind: model.EntryKind = "consumer" if _reads_records(lambda_handler) else "http"
        found.append(model.EntryPoint("handler", kind, "event-loop", None, "lambda"))
    return found


def entry_points(module: model.ModuleModel) -> list[model.EntryPoint]:
    """The module's entry points, routes first."""
    return [
        *_routes(module, framework(module)),
        *_exported(module, module.path),
        *nest_entry_points(module),
        *trpc_procedures(module),
    ]
