"""Startup and shutdown hooks: code an application runs once per process as it boots or stops.

FastAPI/Starlette `lifespan=` functions and `@app.on_event("startup")` handlers,
`app.add_event_handler("startup", f)`, aiohttp's `app.on_startup.append(f)` and a Django
`AppConfig.ready()` run once in each worker process, before it serves (or after). Nothing races
them but the same hook in a sibling worker, so their findings, and those of the helpers only they
reach, are low confidence, as a management command's are (lnbits' extension registry, issue 11).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.model import Call, ClassModel, Expr, Function, Literal, ModuleModel
from ..core.walk import expressions, statements
from ._entry_common import Entries, dotted_text

__all__ = ["lifecycle_hooks"]

_EVENTS = frozenset({"startup", "shutdown"})
# Text a module registering a hook holds (no walk of its functions otherwise).
_MARKERS = ("lifespan", "add_event_handler", "on_startup", "on_shutdown", "on_cleanup")
_LIFESPAN_OWNERS = frozenset({"FastAPI", "Starlette", "APIRouter", "Router"})
_AIOHTTP_SIGNALS = frozenset({"on_startup", "on_shutdown", "on_cleanup"})


def lifecycle_hooks(module: ModuleModel, entries: Entries) -> None:
    """Adds the module's startup and shutdown hooks to `entries` as `startup` entry points."""
    for function in module.functions.values():
        if any(_on_event(decorator) for decorator in function.decorators):
            _add(function, entries)
    for info in module.classes.values():
        if _app_config(info) and "ready" in info.methods:
            _add(info.methods["ready"], entries)
    if not any(marker in module.source for marker in _MARKERS):
        return
    for call in _all_calls(module):
        for name in _registered(call):
            registered = module.functions.get(name)
            if registered is not None:
                _add(registered, entries)


def _all_calls(module: ModuleModel) -> Iterator[Call]:
    """The module's top-level calls, then those in its functions: an app factory
    (`def create_app(): app = FastAPI(lifespan=lifespan)`) registers its hooks inside one."""
    yield from module.calls
    for function in module.functions.values():
        for statement in statements(function.body):
            yield from (node for node in expressions(statement) if isinstance(node, Call))


def _add(function: Function, entries: Entries) -> None:
    entries.add(function, "startup", "sequential", "")


def _on_event(decorator: Expr) -> bool:
    """`@app.on_event("startup")`."""
    return (
        isinstance(decorator, Call) and decorator.method == "on_event" and _literal(decorator, 0) in _EVENTS
    )


def _registered(call: Call) -> list[str]:
    """The functions `call` registers as a hook: `FastAPI(lifespan=f)`,
    `app.add_event_handler("startup", f)`, `app.on_startup.append(f)`."""
    if _last(call.name) in _LIFESPAN_OWNERS:
        return [name for arg in call.args if arg.keyword == "lifespan" and (name := dotted_text(arg.value))]
    handler: Expr | None = None
    if call.method == "add_event_handler" and _literal(call, 0) in _EVENTS:
        handler = call.positional(1)
    elif call.method == "append" and _last(dotted_text(call.receiver)) in _AIOHTTP_SIGNALS:
        handler = call.positional(0)
    name = dotted_text(handler)
    return [name] if name else []


def _app_config(info: ClassModel) -> bool:
    return any(_last(base) == "AppConfig" for base in info.bases)


def _last(name: str | None) -> str:
    return (name or "").rpartition(".")[2]


def _literal(call: Call, position: int) -> str | None:
    value = call.positional(position)
    return value.value if isinstance(value, Literal) and isinstance(value.value, str) else None
