"""HTTP handlers of the web frameworks, read from the lowered module: FastAPI/APIRouter, Starlette,
Flask/Blueprint/MethodView, flask-restx/flask-restful/flask-smorest resources, Quart, Sanic,
Litestar (handlers and controllers), Tornado, aiohttp, Django and Django REST framework.

A handler is a function the framework calls once per request, so requests run it concurrently.
Routes read `VERB /path` with every prefix applied that the module shows (a router's own prefix, the
one `include_router` / `register_blueprint` / `add_subapp` / `Mount` adds, a namespace's path, a DRF
router's registration). Django function views accept every method unless a decorator says which, so
their verb is `ANY`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.model import Call, ClassModel, Collection, Expr, Function, ModuleModel
from ..core.walk import expressions
from ._entry_common import (
    HTTP_METHODS,
    Entries,
    callee,
    dotted_text,
    methods_of,
    route,
    text,
)

__all__ = ["find_routes"]

_APP_FACTORIES: dict[str, str] = {
    "fastapi.FastAPI": "fastapi",
    "fastapi.APIRouter": "fastapi",
    "fastapi.routing.APIRouter": "fastapi",
    "starlette.applications.Starlette": "starlette",
    "starlette.routing.Router": "starlette",
    "flask.Flask": "flask",
    "flask.Blueprint": "flask",
    "flask_smorest.Blueprint": "flask-smorest",
    "flask_smorest.Api": "flask-smorest",
    "flask_restx.Api": "flask-restx",
    "flask_restx.Namespace": "flask-restx",
    "flask_restplus.Api": "flask-restx",
    "flask_restplus.Namespace": "flask-restx",
    "flask_restful.Api": "flask-restful",
    "quart.Quart": "quart",
    "quart.Blueprint": "quart",
    "sanic.Sanic": "sanic",
    "sanic.Blueprint": "sanic",
    "aiohttp.web.Application": "aiohttp",
    "aiohttp.web.RouteTableDef": "aiohttp",
    "aiohttp.web.RouteDef": "aiohttp",
    "rest_framework.routers.DefaultRouter": "drf",
    "rest_framework.routers.SimpleRouter": "drf",
}
_ROUTE_FUNCTIONS: dict[str, str] = {
    **{f"aiohttp.web.{method}": "aiohttp" for method in HTTP_METHODS},
    "aiohttp.web.route": "aiohttp",
    "aiohttp.web.view": "aiohttp",
    "starlette.routing.Route": "starlette",
    "starlette.routing.WebSocketRoute": "starlette",
    "django.urls.path": "django",
    "django.urls.re_path": "django",
    "django.conf.urls.url": "django",
}
_MOUNTS = ("starlette.routing.Mount", "starlette.routing.Host")
_PREFIX_KEYWORDS = ("prefix", "url_prefix", "path")
# Class-based views: each method named for an HTTP verb is a handler.
_VIEW_BASES: dict[str, str] = {
    "flask.views.MethodView": "flask",
    "flask.views.View": "flask",
    "flask_restx.Resource": "flask-restx",
    "flask_restplus.Resource": "flask-restx",
    "flask_restful.Resource": "flask-restful",
    "aiohttp.web.View": "aiohttp",
    "starlette.endpoints.HTTPEndpoint": "starlette",
    "quart.views.MethodView": "quart",
    "sanic.views.HTTPMethodView": "sanic",
    "tornado.web.RequestHandler": "tornado",
    "litestar.Controller": "litestar",
    "litestar.controller.Controller": "litestar",
}
# Litestar's handlers are decorated by function: `@post("/orders")`, on functions and controller
# methods alike.
_LITESTAR = ("litestar.", "litestar.handlers.")
_LITESTAR_VERBS = (*HTTP_METHODS, "route", "websocket")
# Django's generic views and DRF's views, viewsets and generic views, by module prefix.
# (Not serializers: their `create`/`update` run inside a view, they are not requests' entry points.)
_DJANGO_VIEW_MODULES = {
    "django.views.": "django",
    "rest_framework.views.": "drf",
    "rest_framework.generics.": "drf",
    "rest_framework.viewsets.": "drf",
    "rest_framework.mixins.": "drf",
}
# Methods of Django/DRF class-based views that handle a request, with the verb they serve.
_VIEW_METHODS: dict[str, str] = {
    **{method: method.upper() for method in HTTP_METHODS},
    "dispatch_request": "ANY",
    "list": "GET",
    "retrieve": "GET",
    "create": "POST",
    "update": "PUT",
    "partial_update": "PATCH",
    "destroy": "DELETE",
    "perform_create": "POST",
    "perform_update": "PUT",
    "perform_destroy": "DELETE",
    "form_valid": "POST",
}
_DJANGO_METHOD_DECORATORS: dict[str, tuple[str, ...]] = {
    "django.views.decorators.http.require_POST": ("POST",),
    "django.views.decorators.http.require_GET": ("GET",),
    "django.views.decorators.http.require_safe": ("GET", "HEAD"),
    "django.views.decorators.http.require_http_methods": (),
    "rest_framework.decorators.api_view": (),
    "django.views.decorators.csrf.csrf_exempt": (),
    "django.contrib.auth.decorators.login_required": (),
    "django.contrib.auth.decorators.permission_required": (),
}
_FRAMEWORK_IMPORTS = ("fastapi", "starlette", "flask", "quart", "sanic", "aiohttp")


@dataclass
class _App:
    framework: str
    prefix: str = ""
    parent: str | None = None  # the app or router it is included in
    mounted: str | None = None  # the prefix that inclusion adds (replaces the own one for Flask)


class _Routes:
    """One module's routing: apps and routers, their prefixes, then the handlers they route."""

    def __init__(self, module: ModuleModel, entries: Entries) -> None:
        self.module = module
        self.entries = entries
        self.apps: dict[str, _App] = {}
        self.view_paths: dict[str, str] = {}  # class name -> path (class-based views)
        self.mounts: dict[int, str] = {}  # id of a call inside a Starlette Mount -> its prefix
        for name, value in module.assignments.items():
            if isinstance(value, Call) and (framework := _APP_FACTORIES.get(value.name or "")):
                self.apps[name] = _App(framework, self._own_prefix(value, framework))
        imported = {q.split(".")[0] for q in module.imports.values()}
        self.fallback = next((f for f in _FRAMEWORK_IMPORTS if f in imported), None)
        self.django = bool(imported & {"django", "rest_framework"})

    def _own_prefix(self, factory: Call, framework: str) -> str:
        for keyword in _PREFIX_KEYWORDS:
            value = text(factory.keyword(keyword), self.module)
            if value is not None:
                return value
        if framework == "flask-restx" and (factory.name or "").endswith("Namespace"):
            name = text(factory.positional(0), self.module)
            return f"/{name}" if name else ""
        return ""

    def prefix(self, app_name: str, seen: frozenset[str] = frozenset()) -> str:
        """The full prefix of an app or router: its parent's, the inclusion's, its own."""
        app = self.apps[app_name]
        if app.parent is None or app.parent not in self.apps or app_name in seen:
            return app.prefix
        outer = self.prefix(app.parent, seen | {app_name})
        if app.mounted is None:
            return outer + app.prefix
        if app.framework == "flask":  # register_blueprint(url_prefix=...) replaces the blueprint's
            return outer + app.mounted
        return outer + app.mounted + app.prefix

    def app_of(self, receiver: Expr) -> tuple[str, str] | None:
        """`app`, `router`, `app.router` (aiohttp) -> (framework, prefix)."""
        name = dotted_text(receiver)
        if name is None:
            return None
        if name.endswith(".router") and name[: -len(".router")] in self.apps:
            name = name[: -len(".router")]
        if name in self.apps:
            return self.apps[name].framework, self.prefix(name)
        # Routers imported from another module (`from .api import router`): the framework the
        # module imports; their prefixes are the project index's to add.
        if self.fallback is not None and "." not in name:
            return self.fallback, ""
        return None

    # -- module-level code: inclusions and route tables ------------------------------------------
    def scan_module(self) -> None:
        calls = self.module.calls
        for call in calls:
            self.include(call)
        for call in reversed(calls):  # outer calls first: nested mounts add their prefixes up
            if call.name in _MOUNTS:
                self.mount(call)
        for call in calls:
            self.from_call(call)

    def include(self, call: Call) -> None:
        """`include_router(r, prefix=)`, `register_blueprint(bp, url_prefix=)`, `add_subapp(p, a)`,
        `add_namespace(ns, path=)`."""
        method, receiver = call.method, call.receiver
        if method is None or receiver is None:
            return
        parent = dotted_text(receiver)
        if method == "add_subapp":
            child, mounted = call.positional(1), text(call.positional(0), self.module)
        elif method in ("include_router", "register_blueprint", "add_namespace"):
            child = call.positional(0)
            mounted = next(
                (p for k in _PREFIX_KEYWORDS if (p := text(call.keyword(k), self.module)) is not None),
                None,
            )
        else:
            return
        child_name = dotted_text(child) if child is not None else None
        if child_name in self.apps and parent is not None:
            app = self.apps[child_name]
            app.parent, app.mounted = parent, mounted

    def mount(self, call: Call) -> None:
        """Calls inside `Mount("/prefix", routes=[...])` take its prefix (nested mounts add up)."""
        prefix = self.mounts.get(id(call), "") + (text(call.positional(0), self.module) or "")
        inner = call.keyword("routes") or call.positional(1)
        if inner is None:
            return
        for expr in expressions(inner):
            if isinstance(expr, Call):
                self.mounts[id(expr)] = prefix

    def from_call(self, call: Call) -> None:
        """`app.add_url_rule`, `app.add_api_route`, `app.router.add_post`, `web.post`, `Route(...)`,
        `path("pay/", views.pay)`, `api.add_resource(R, "/r")`, `router.register("r", ViewSet)`."""
        found = self._route_function(call) or self._route_method(call)
        if found is None:
            return
        framework, methods, path, target = found
        path = None if path is None else self.mounts.get(id(call), "") + path
        if framework == "django" and path is not None and not path.startswith("/"):
            path = "/" + path.lstrip("^").rstrip("$")
        if isinstance(target, Call) and target.method == "as_view" and target.receiver is not None:
            view = dotted_text(target.receiver)  # `View.as_view()`: the class-based view's path
            if view is not None:
                self.view_paths.setdefault(view, path or "")
            return
        name = dotted_text(target) if target is not None else None
        if name is None:
            return
        if name in self.module.classes:  # Route("/x", SomeHTTPEndpoint), add_resource(R, "/r")
            self.view_paths.setdefault(name, path or "")
            return
        function = self.module.functions.get(name.rsplit(".", 1)[-1] if framework == "django" else name)
        if function is not None and "." not in function.qualname:
            verbs = methods or (["ANY"] if framework == "django" else [])
            self.entries.http(function, framework, route(verbs, path))

    def _route_function(self, call: Call) -> tuple[str, list[str], str | None, Expr | None] | None:
        framework = _ROUTE_FUNCTIONS.get(call.name or "")
        if framework is None:
            return None
        verb = (call.name or "").rsplit(".", 1)[-1]
        if verb == "route":  # web.route("POST", "/x", handler)
            method = text(call.positional(0), self.module)
            methods = [method.upper()] if method else []
            return framework, methods, text(call.positional(1), self.module), call.positional(2)
        path = text(call.positional(0) or call.keyword("path"), self.module)
        target = call.positional(1) or call.keyword("endpoint") or call.keyword("view")
        if verb in ("Route", "path", "re_path", "url"):
            return framework, methods_of(call, self.module), path, target
        if verb == "WebSocketRoute":
            return framework, ["WEBSOCKET"], path, target
        return framework, [verb.upper()] if verb != "view" else [], path, target

    def _route_method(self, call: Call) -> tuple[str, list[str], str | None, Expr | None] | None:
        receiver, verb = call.receiver, call.method
        if receiver is None or verb is None or (app := self.app_of(receiver)) is None:
            return None
        framework, prefix = app
        path: str | None = None
        target: Expr | None = None
        methods: list[str] = []
        if verb == "add_url_rule":
            path = text(call.positional(0) or call.keyword("rule"), self.module)
            target, methods = call.keyword("view_func") or call.positional(2), methods_of(call, self.module)
        elif verb in ("add_api_route", "add_route", "add_websocket_route") and framework != "aiohttp":
            path = text(call.positional(0) or call.keyword("path"), self.module)
            target, methods = call.positional(1) or call.keyword("endpoint"), methods_of(call, self.module)
            methods = ["WEBSOCKET"] if verb == "add_websocket_route" else methods
        elif verb == "add_route":  # aiohttp: app.router.add_route("POST", "/x", handler)
            method = text(call.positional(0), self.module)
            methods = [method.upper()] if method else []
            path, target = text(call.positional(1), self.module), call.positional(2)
        elif verb.startswith("add_") and verb[4:] in HTTP_METHODS:
            methods = [verb[4:].upper()]
            path, target = text(call.positional(0), self.module), call.positional(1)
        elif verb == "add_resource":  # flask-restful / flask-restx: api.add_resource(Todo, "/todos")
            path, target = text(call.positional(1), self.module), call.positional(0)
        elif verb == "register" and framework == "drf":  # router.register(r"accounts", AccountViewSet)
            path, target = text(call.positional(0), self.module), call.positional(1)
            path = None if path is None else "/" + path.strip("^$/") + "/"
        else:
            return None
        return framework, methods, None if path is None else prefix + path, target

    # -- decorated functions and classes ----------------------------------------------------------
    def from_decorators(self, function: Function, prefix: str = "") -> None:
        for decorator in function.decorators:
            if isinstance(decorator, Call) and self.litestar(function, decorator, prefix):
                continue
            if not isinstance(decorator, Call) or decorator.receiver is None or decorator.method is None:
                continue
            app = self.app_of(decorator.receiver)
            if app is None:
                continue
            framework, prefix = app
            verb = decorator.method
            path = text(
                decorator.positional(0) or decorator.keyword("path") or decorator.keyword("rule"), self.module
            )
            full = None if path is None else prefix + path
            if verb in HTTP_METHODS:
                self.entries.http(function, framework, route([verb.upper()], full))
            elif verb == "websocket":
                self.entries.http(function, framework, route(["WEBSOCKET"], full))
            elif verb in ("route", "api_route"):
                if framework == "aiohttp":  # routes.route("POST", "/x")
                    method = text(decorator.positional(0), self.module)
                    path = text(decorator.positional(1), self.module)
                    full = None if path is None else prefix + path
                    self.entries.http(function, framework, route([method.upper()] if method else [], full))
                else:
                    self.entries.http(function, framework, route(methods_of(decorator, self.module), full))
            elif verb == "view":
                self.entries.http(function, framework, route([], full))

    def litestar(self, function: Function, decorator: Call, prefix: str) -> bool:
        """`@post("/orders")` / `@route("/x", http_method=["PUT"])`; `prefix`: a controller's path.
        A handler without a path serves `/` (under its controller's path)."""
        name = decorator.name or ""
        verb = name.rsplit(".", 1)[-1]
        if not name.startswith(_LITESTAR) or verb not in _LITESTAR_VERBS:
            return False
        given = decorator.positional(0) or decorator.keyword("path")
        path = "/" if given is None else text(given, self.module)
        full = None if path is None else (prefix + path if path != "/" or not prefix else prefix)
        if verb == "route":
            methods = _strings_of(decorator.keyword("http_method"), self.module)
        else:
            methods = ["WEBSOCKET" if verb == "websocket" else verb.upper()]
        self.entries.http(function, "litestar", route(methods, full))
        return True

    def django_function(self, function: Function) -> None:
        """A Django/DRF function view: a view decorator, or `request` first in a views module."""
        verbs: list[str] | None = None
        for decorator in function.decorators:
            call = decorator if isinstance(decorator, Call) else None
            name = callee(decorator, self.module)
            if name not in _DJANGO_METHOD_DECORATORS:
                continue
            listed = list(_DJANGO_METHOD_DECORATORS[name])
            if not listed and call is not None:
                first = call.positional(0) or call.keyword("http_method_names")
                listed = methods_of(call, self.module) or _strings_of(first, self.module)
            verbs = (verbs or []) + listed
        if verbs is None and not (self.django and _in_views_module(self.module) and _takes_request(function)):
            return
        names = {callee(decorator, self.module) for decorator in function.decorators}
        framework = "drf" if "rest_framework.decorators.api_view" in names else "django"
        self.entries.http(function, framework, route(verbs or ["ANY"], None))

    def class_based(self, name: str, info: ClassModel, frameworks: dict[str, str]) -> None:
        framework = self._view_framework(info, frameworks)
        if framework is None:
            return
        frameworks[name] = framework
        path = self.view_paths.get(name)
        if framework == "litestar":  # a Controller: `path = "/orders"` and decorated methods
            controller = text(info.attributes.get("path"), self.module) or ""
            for method in info.methods.values():
                self.from_decorators(method, controller.rstrip("/"))
            return
        for decorator in info.decorators:  # @ns.route("/x"), @blp.route("/x"), @routes.view("/x")
            if isinstance(decorator, Call) and decorator.method in ("route", "view") and decorator.receiver:
                app = self.app_of(decorator.receiver)
                own = text(decorator.positional(0), self.module)
                if app is not None and own is not None:
                    path = app[1] + own
        for method_name, method in info.methods.items():
            action = _action_methods(method, self.module)
            if action is not None:  # a DRF viewset's @action
                verb = "|".join(action) or "GET"
            elif method_name in HTTP_METHODS:
                verb = method_name.upper()
            elif method_name == "dispatch_request" or (
                framework in ("django", "drf") and method_name in _VIEW_METHODS
            ):
                verb = _VIEW_METHODS[method_name]
            else:
                continue
            shown = f"{verb} {path}" if path and verb and verb != "ANY" else None
            self.entries.http(method, framework, shown, force=True)

    def _view_framework(self, info: ClassModel, frameworks: dict[str, str]) -> str | None:
        for base in info.bases:
            if base in _VIEW_BASES:
                return _VIEW_BASES[base]
            for prefix, framework in _DJANGO_VIEW_MODULES.items():
                if base.startswith(prefix) and base.rsplit(".", 1)[-1][:1].isupper():
                    return framework
            if base.rsplit(".", 1)[-1] in frameworks and "." not in base:
                return frameworks[base]  # a view class of this module
        return None


def _action_methods(method: Function, module: ModuleModel) -> list[str] | None:
    """`@action(detail=True, methods=["post"])` on a viewset method: its verbs (GET by default)."""
    for decorator in method.decorators:
        if isinstance(decorator, Call) and (decorator.name or "").endswith("decorators.action"):
            return methods_of(decorator, module)
        if callee(decorator, module) == "rest_framework.decorators.action":
            return []
    return None


def _strings_of(expr: Expr | None, module: ModuleModel) -> list[str]:
    if not isinstance(expr, Collection):
        return []
    return [value.upper() for element in expr.elements if (value := text(element, module))]


def _takes_request(function: Function) -> bool:
    params = [p for p in function.params if p not in ("self", "cls")]
    return bool(params) and params[0] == "request"


def _in_views_module(module: ModuleModel) -> bool:
    path = module.path.replace("\\", "/")
    return path.endswith("views.py") or "/views/" in path or path.endswith("api.py")


def find_routes(module: ModuleModel, entries: Entries) -> None:
    routes = _Routes(module, entries)
    routes.scan_module()
    for name, function in module.functions.items():
        if "." not in name:
            routes.from_decorators(function)
    if routes.django:
        for name, function in module.functions.items():
            if "." not in name:
                routes.django_function(function)
    frameworks: dict[str, str] = {}
    for name, info in module.classes.items():
        if "." not in name:
            routes.class_based(name, info, frameworks)
