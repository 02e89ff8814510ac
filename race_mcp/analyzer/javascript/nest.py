"""NestJS entry points, read off decorators.

A `@Controller("wallet")` class's methods decorated `@Get()`, `@Post(":id/withdraw")`... are HTTP
routes (`POST /wallet/:id/withdraw`); `@MessagePattern` / `@EventPattern` (microservices) and
`@SubscribeMessage` (WebSocket gateways) handlers are consumers; `@Cron`, `@Interval`, `@Timeout`
and Bull's `@Process` are tasks; GraphQL `@Mutation`s are mutations. Every one runs on the event
loop. Services injected into a controller (`constructor(private readonly wallet: WalletService)`)
are followed by the memory profile, so a race in `wallet.withdraw` carries the route.
"""

from __future__ import annotations

from ..core import model
from ..python.stores._common import literal_string

__all__ = ["controller_prefix", "handles_events", "method_entry", "nest_entry_points"]

_HTTP = {
    "Get": "GET",
    "Post": "POST",
    "Put": "PUT",
    "Patch": "PATCH",
    "Delete": "DELETE",
    "All": "ALL",
    "Options": "OPTIONS",
    "Head": "HEAD",
}
_OTHER: dict[str, model.EntryKind] = {
    "MessagePattern": "consumer",
    "EventPattern": "consumer",
    "SubscribeMessage": "consumer",
    "Process": "task",
    "Cron": "task",
    "Interval": "task",
    "Timeout": "task",
    "Mutation": "graphql",
    "OnEvent": "signal",
}


def _decorator(expr: model.Expr) -> tuple[str, model.Call | None]:
    """`@Post(":id")` -> ("Post", the call); `@Injectable` -> ("Injectable", None)."""
    if isinstance(expr, model.Call):
        return (expr.name or "").rsplit(".", 1)[-1], expr
    if isinstance(expr, model.Name):
        return expr.id, None
    return "", None


def _path(call: model.Call | None) -> str | None:
    """The path argument: `"wallet"`, `["a", "b"]` (the first), `{ path: "wallet" }`."""
    first = call.positional(0) if call is not None else None
    if isinstance(first, model.Literal) and isinstance(first.value, str):
        return first.value
    if isinstance(first, model.Template):
        return first.text
    if isinstance(first, model.Collection) and first.kind == "list" and first.elements:
        return literal_string(first.elements[0])
    if isinstance(first, model.Collection) and first.kind == "dict":
        pairs = zip(first.elements[::2], first.elements[1::2], strict=False)
        for key, value in pairs:
            if isinstance(key, model.Literal) and key.value == "path":
                return literal_string(value)
    return None


def handles_events(decorators: tuple[model.Expr, ...]) -> bool:
    """A method NestJS calls for a route, message, job or mutation: Nest awaits what it returns."""
    return any(_decorator(d)[0] in _HTTP or _decorator(d)[0] in _OTHER for d in decorators)


def _join(prefix: str | None, path: str | None) -> str:
    parts = [part.strip("/") for part in (prefix, path) if part and part.strip("/")]
    return "/" + "/".join(parts)


def controller_prefix(info: model.ClassModel) -> str | None:
    """The controller's path, or None when the class is no controller."""
    for decorator in info.decorators:
        name, call = _decorator(decorator)
        if name == "Controller":
            return _path(call) or ""
    return None


def method_entry(function: model.Function, prefix: str | None) -> model.EntryPoint | None:
    for decorator in function.decorators:
        name, call = _decorator(decorator)
        if name in _HTTP and prefix is not None:
            route = f"{_HTTP[name]} {_join(prefix, _path(call))}"
            return model.EntryPoint(function.qualname, "http", "event-loop", route, "nestjs")
        if name in _OTHER:
            pattern = _path(call)
            return model.EntryPoint(function.qualname, _OTHER[name], "event-loop", pattern, "nestjs")
    return None


def nest_entry_points(module: model.ModuleModel) -> list[model.EntryPoint]:
    if "@" not in module.source:
        return []
    found = []
    for info in module.classes.values():
        prefix = controller_prefix(info)
        for function in info.methods.values():
            entry = method_entry(function, prefix)
            if entry is not None:
                found.append(entry)
    return found
