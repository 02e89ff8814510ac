"""Entry points of a lowered Python module: how requests, jobs and messages reach its functions, and
how the runtime runs concurrent ones (`core.model.EntryPoint`).

- HTTP handlers (`_routes.py`): FastAPI, Starlette, Quart, Sanic, Litestar, Tornado, Flask (views,
  blueprints, MethodView, flask-restx/restful/smorest resources), aiohttp, Django and DRF views.
  `async def` handlers run on an event loop; sync FastAPI/Starlette/Flask/Quart handlers on a
  thread pool; sync Django views in worker processes; sync aiohttp/Sanic/Tornado/Litestar handlers
  on the event loop, one at a time.
- Tasks (kind `task`): Celery (`@shared_task`, `@app.task`, `Task.run`) and RQ (`@job`) run in
  worker processes; dramatiq actors (`@dramatiq.actor`) and huey tasks on worker threads.
- FastAPI dependencies (`Depends(f)`) take their handler's route and runtime; middleware (Django's
  `__call__` / `MiddlewareMixin` hooks, ASGI `__call__(scope, receive, send)`, Starlette's
  `BaseHTTPMiddleware.dispatch`), kind `middleware`, runs on every request.
- Django signal receivers (`@receiver`, `signal.connect(f)`), kind `signal`; management commands
  (`BaseCommand.handle`), kind `command`, one run at a time; GraphQL mutations (graphene `mutate`,
  `@strawberry.mutation`, ariadne `MutationType.field`), kind `graphql`.
"""

from __future__ import annotations

import ast

from ..core.model import Call, ClassModel, EntryPoint, Expr, Function, ModuleModel
from ..core.model import Runtime as RuntimeName
from ._entry_common import Entries, callee, dotted_text, qualified
from ._lifecycle import lifecycle_hooks
from ._routes import find_routes

__all__ = ["entry_points"]

_TASK_DECORATORS: dict[str, tuple[str, RuntimeName]] = {
    "celery.shared_task": ("celery", "processes"),
    "celery.task": ("celery", "processes"),
    "celery.decorators.task": ("celery", "processes"),
    "rq.decorators.job": ("rq", "processes"),
    "rq.job": ("rq", "processes"),
    "django_rq.job": ("rq", "processes"),
    # dramatiq's worker runs each process's actors on several threads (8 by default).
    "dramatiq.actor": ("dramatiq", "thread-pool"),
    "huey.contrib.djhuey.task": ("huey", "thread-pool"),
    "huey.contrib.djhuey.db_task": ("huey", "thread-pool"),
    "huey.contrib.djhuey.periodic_task": ("huey", "thread-pool"),
}
# Objects whose `.task` / `.periodic_task` decorator makes a task: the app factories.
_TASK_APPS: dict[str, tuple[str, RuntimeName]] = {
    "celery.Celery": ("celery", "processes"),
    "huey.RedisHuey": ("huey", "thread-pool"),
    "huey.SqliteHuey": ("huey", "thread-pool"),
    "huey.MemoryHuey": ("huey", "thread-pool"),
    "huey.Huey": ("huey", "thread-pool"),
}
_TASK_METHODS = ("task", "shared_task", "periodic_task", "db_task", "db_periodic_task")
_TASK_BASES = ("celery.Task", "celery.app.task.Task")
_SIGNAL_DECORATORS = ("django.dispatch.receiver", "django.dispatch.dispatcher.receiver")
_COMMAND_METHODS = {
    "BaseCommand": "handle",
    "AppCommand": "handle_app_config",
    "LabelCommand": "handle_label",
}
_GRAPHENE_METHODS = ("mutate", "mutate_and_get_payload", "perform_mutate")
_DJANGO_MIDDLEWARE_HOOKS = ("process_request", "process_view", "process_response")


def entry_points(module: ModuleModel) -> list[EntryPoint]:
    """Every entry point of `module` (also kept on `module.entry_points`), one per function."""
    entries = Entries()
    find_routes(module, entries)
    task_apps = {
        name: _TASK_APPS[value.name]
        for name, value in module.assignments.items()
        if isinstance(value, Call) and value.name in _TASK_APPS
    }
    mutation_types = {
        name
        for name, value in module.assignments.items()
        if isinstance(value, Call) and value.name in ("ariadne.MutationType", "ariadne.objects.MutationType")
    }
    for function in _routable(module):
        for decorator in function.decorators:
            _decorated(function, decorator, module, task_apps, mutation_types, entries)
    for call in module.calls:
        _connected(call, module, entries)
    for name, info in module.classes.items():
        if "." not in name:
            _class_entries(info, module, entries)
            _middleware(info, module, entries)
    _dependencies(module, entries)
    lifecycle_hooks(module, entries)
    module.entry_points = list(entries.found.values())
    return module.entry_points


def _routable(module: ModuleModel) -> list[Function]:
    """Module-level functions and methods of module-level classes (what a decorator can register)."""
    return [f for name, f in module.functions.items() if name.count(".") <= 1 and "<locals>" not in name]


def _decorated(
    function: Function,
    decorator: Expr,
    module: ModuleModel,
    task_apps: dict[str, tuple[str, RuntimeName]],
    mutation_types: set[str],
    entries: Entries,
) -> None:
    name = callee(decorator, module) or ""
    call_receiver = decorator.receiver if isinstance(decorator, Call) else None
    receiver_expr = call_receiver if isinstance(decorator, Call) else getattr(decorator, "value", None)
    receiver = dotted_text(receiver_expr) if receiver_expr is not None else None
    method = name.rsplit(".", 1)[-1]
    task = _TASK_DECORATORS.get(name)
    if task is None and receiver is not None and method in _TASK_METHODS:
        task = task_apps.get(receiver) or _task_app_by_import(qualified(receiver_expr, module))
    if task is not None:
        entries.add(function, "task", task[1], task[0])
    elif name in _SIGNAL_DECORATORS:
        entries.add(function, "signal", _runtime(function, "processes"), "django")
    elif name.startswith("strawberry.") and method == "mutation":
        entries.add(function, "graphql", _runtime(function, "processes"), "strawberry")
    elif method == "field" and receiver in mutation_types:
        entries.add(function, "graphql", _runtime(function, "processes"), "ariadne")


def _task_app_by_import(name: str | None) -> tuple[str, RuntimeName] | None:
    """`from proj.celery import app` then `@app.task`: the app's module names its library."""
    if name is None:
        return None
    if "celery" in name.split("."):
        return "celery", "processes"
    if "huey" in name.split("."):
        return "huey", "thread-pool"
    return None


def _connected(call: Call, module: ModuleModel, entries: Entries) -> None:
    """`post_save.connect(handler, sender=Order)`: a Django signal receiver."""
    if call.method != "connect" or not (qualified(call.receiver, module) or "").startswith("django."):
        return
    target = dotted_text(call.positional(0))
    function = module.functions.get(target or "")
    if function is not None:
        entries.add(function, "signal", _runtime(function, "processes"), "django")


def _class_entries(info: ClassModel, module: ModuleModel, entries: Entries) -> None:
    last_names = {base.rsplit(".", 1)[-1]: base for base in info.bases}
    if any(base in _TASK_BASES for base in info.bases) and "run" in info.methods:
        entries.add(info.methods["run"], "task", "processes", "celery")
    for base_name, method_name in _COMMAND_METHODS.items():
        base = last_names.get(base_name)
        if base is not None and base.startswith(("django.", base_name)) and method_name in info.methods:
            entries.add(info.methods[method_name], "command", "sequential", "django")
    if _django_command_module(info, module) and "handle" in info.methods:
        # Django runs `<app>/management/commands/<name>.py`'s `Command` whatever its project base.
        entries.add(info.methods["handle"], "command", "sequential", "django")
    if any(base.startswith("graphene") for base in info.bases):
        for method_name in _GRAPHENE_METHODS:
            if method_name in info.methods:
                method = info.methods[method_name]
                entries.add(method, "graphql", _runtime(method, "processes"), "graphene")


def _django_command_module(info: ClassModel, module: ModuleModel) -> bool:
    return info.name == "Command" and "/management/commands/" in module.path.replace("\\", "/")


def _middleware(info: ClassModel, module: ModuleModel, entries: Entries) -> None:
    """Middleware classes run once per request, before the views: Django's (`__init__(self,
    get_response)` with `__call__`, or `MiddlewareMixin`'s `process_request` / `process_view`),
    ASGI's (`__call__(self, scope, receive, send)`) and Starlette's `BaseHTTPMiddleware.dispatch`."""
    methods = info.methods
    init = methods.get("__init__")
    call = methods.get("__call__")
    if call is not None and init is not None and "get_response" in init.params:
        entries.add(call, "middleware", _runtime(call, "processes"), "django")
    elif call is not None and call.params[1:4] == ("scope", "receive", "send"):
        entries.add(call, "middleware", _runtime(call, "processes"), "asgi")
    if any(base.endswith("MiddlewareMixin") for base in info.bases):
        for name in _DJANGO_MIDDLEWARE_HOOKS:
            if name in methods:
                entries.add(methods[name], "middleware", _runtime(methods[name], "processes"), "django")
    if "dispatch" in methods and any(base.endswith("BaseHTTPMiddleware") for base in info.bases):
        dispatch = methods["dispatch"]
        entries.add(dispatch, "middleware", _runtime(dispatch, "thread-pool"), "starlette")


def _dependencies(module: ModuleModel, entries: Entries) -> None:
    """FastAPI dependencies (`Depends(check_quota)` in a handler's parameters or its decorator's
    `dependencies=[...]`) run once per request of the handler, with its route, and so do their own
    dependencies."""
    functions = {name: f for name, f in module.functions.items() if "." not in name}
    pending = [entry for entry in entries.found.values() if entry.framework in ("fastapi", "starlette")]
    while pending:
        entry = pending.pop()
        handler = module.functions.get(entry.qualname)
        if handler is None:
            continue
        for name in _depended_on(handler):
            dependency = functions.get(name)
            if dependency is None or dependency.qualname in entries.found:
                continue
            entries.http(dependency, entry.framework, entry.route)
            pending.append(entries.found[dependency.qualname])


def _depended_on(function: Function) -> list[str]:
    """Names given to `Depends(...)` / `Security(...)` in a function's parameter defaults and
    annotations (`Annotated[User, Depends(current_user)]`) and in its decorators."""
    nodes: list[ast.AST] = [
        decorator.origin for decorator in function.decorators if isinstance(decorator.origin, ast.AST)
    ]
    origin = function.origin
    if isinstance(origin, ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = origin.args
        nodes.extend(arguments.defaults)
        nodes.extend(d for d in arguments.kw_defaults if d is not None)
        nodes.extend(
            a.annotation for a in (*arguments.args, *arguments.kwonlyargs) if a.annotation is not None
        )
    names = []
    for root in nodes:
        for node in ast.walk(root):
            if (
                isinstance(node, ast.Call)
                and _last_name(node.func) in ("Depends", "Security")
                and node.args
                and isinstance(node.args[0], ast.Name)
            ):
                names.append(node.args[0].id)
    return names


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _runtime(function: Function, sync: RuntimeName) -> RuntimeName:
    return "event-loop" if function.is_async else sync
