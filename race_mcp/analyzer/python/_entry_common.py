"""What the entry-point readers share: names and strings of model expressions, routes, and the
collection of entry points with each framework's runtime."""

from __future__ import annotations

from ..core.model import Attribute, Call, Collection, EntryKind, EntryPoint, Expr, Function, ModuleModel, Name
from ..core.model import Runtime as RuntimeName
from .strings import string_value

__all__ = [
    "HTTP_METHODS",
    "Entries",
    "callee",
    "dotted_text",
    "methods_of",
    "qualified",
    "route",
    "text",
]

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

# How each web framework runs concurrent requests of a sync handler (async ones share an event
# loop, except Flask's, which runs each in its own loop on a worker thread):
# - FastAPI and Starlette run sync endpoints on a thread pool; Flask serves from threads;
# - aiohttp, Sanic, Tornado and Litestar call a sync handler on the event loop itself: one at a time;
# - Django and DRF deployments serve sync views from worker processes (gunicorn's default sync
#   workers), so module state is not shared between concurrent requests; stores still race.
_SYNC_RUNTIME: dict[str, RuntimeName] = {
    "fastapi": "thread-pool",
    "starlette": "thread-pool",
    "flask": "thread-pool",
    "flask-restx": "thread-pool",
    "flask-restful": "thread-pool",
    "flask-smorest": "thread-pool",
    "quart": "thread-pool",  # Quart runs a sync view in its thread executor
    "litestar": "sequential",  # unless `sync_to_thread=True`: on the event loop
    "aiohttp": "sequential",
    "sanic": "sequential",
    "tornado": "sequential",
    "django": "processes",
    "drf": "processes",
}
_THREADED_ASYNC = frozenset({"flask", "flask-restx", "flask-restful", "flask-smorest"})


def dotted_text(expr: Expr | None) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    parts: list[str] = []
    while isinstance(expr, Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def qualified(expr: Expr | None, module: ModuleModel) -> str | None:
    """The dotted text of `expr` with its head resolved through the module's imports."""
    name = dotted_text(expr)
    if name is None:
        return None
    head, dot, rest = name.partition(".")
    full = module.imports.get(head)
    if full is None:
        return name
    return f"{full}.{rest}" if dot else full


def callee(decorator: Expr, module: ModuleModel) -> str | None:
    """What a decorator names, called (`@shared_task(bind=True)`) or not (`@shared_task`)."""
    if isinstance(decorator, Call):
        return decorator.name
    return qualified(decorator, module)


def text(expr: Expr | None, module: ModuleModel) -> str | None:
    return string_value(expr, module)


def methods_of(call: Call, module: ModuleModel) -> list[str]:
    """`methods=["POST", "PUT"]` as ["POST", "PUT"]."""
    value = call.keyword("methods")
    if not isinstance(value, Collection):
        return []
    return [verb.upper() for element in value.elements if (verb := text(element, module))]


def route(methods: list[str], path: str | None) -> str | None:
    """`POST /path`; several verbs joined by `|`; `GET` when none is given; None without a path."""
    if path is None:
        return None
    verb = "|".join(methods) if methods else "GET"
    return f"{verb} {path}"


class Entries:
    """The entry points found so far, one per function (the first reading wins unless forced)."""

    def __init__(self) -> None:
        self.found: dict[str, EntryPoint] = {}

    def add(
        self,
        function: Function,
        kind: EntryKind,
        runtime: RuntimeName,
        framework: str,
        route: str | None = None,
        *,
        force: bool = False,
    ) -> None:
        if force or function.qualname not in self.found:
            self.found[function.qualname] = EntryPoint(function.qualname, kind, runtime, route, framework)

    def http(self, function: Function, framework: str, route: str | None, *, force: bool = False) -> None:
        if function.is_async and framework not in _THREADED_ASYNC:
            runtime: RuntimeName = "event-loop"
        else:
            runtime = _SYNC_RUNTIME.get(framework, "thread-pool")
        self.add(function, "http", runtime, framework, route, force=force)
