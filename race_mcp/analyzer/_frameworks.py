"""Recognising HTTP handlers: FastAPI/APIRouter, Starlette, Flask/Blueprint and aiohttp.

A handler is a function the framework calls once per request, so requests run it concurrently:
`async def` handlers interleave at every `await`; sync handlers of FastAPI, Starlette and Flask run
on a thread pool and interleave anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst

from ._module import ModuleIndex, walk

__all__ = ["Handler", "find_handlers"]

Framework = Literal["fastapi", "starlette", "flask", "aiohttp"]

_APP_FACTORIES: dict[str, Framework] = {
    "fastapi.FastAPI": "fastapi",
    "fastapi.APIRouter": "fastapi",
    "fastapi.routing.APIRouter": "fastapi",
    "starlette.applications.Starlette": "starlette",
    "starlette.routing.Router": "starlette",
    "flask.Flask": "flask",
    "flask.Blueprint": "flask",
    "aiohttp.web.Application": "aiohttp",
    "aiohttp.web.RouteTableDef": "aiohttp",
    "aiohttp.web.RouteDef": "aiohttp",
}
_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_ROUTE_FUNCTIONS: dict[str, Framework] = {
    **{f"aiohttp.web.{method}": "aiohttp" for method in _HTTP_METHODS},
    "aiohttp.web.route": "aiohttp",
    "aiohttp.web.view": "aiohttp",
    "starlette.routing.Route": "starlette",
}
_PREFIX_KEYWORDS = ("prefix", "url_prefix")
# Class-based views: each HTTP-method-named method is a handler.
_VIEW_BASES: dict[str, Framework] = {
    "flask.views.MethodView": "flask",
    "flask.views.View": "flask",
    "aiohttp.web.View": "aiohttp",
    "starlette.endpoints.HTTPEndpoint": "starlette",
}


@dataclass(frozen=True)
class Handler:
    """A function the framework calls per request, with the route it serves."""

    function: cst.FunctionDef
    name: str
    framework: Framework
    route: str | None
    owner_class: str | None = None

    @property
    def is_async(self) -> bool:
        return self.function.asynchronous is not None

    @property
    def threaded(self) -> bool:
        """Runs on a thread pool: sync FastAPI/Starlette endpoints and every Flask view."""
        if self.framework == "flask":
            return True
        return self.framework in ("fastapi", "starlette") and not self.is_async


def _string(expr: cst.BaseExpression | None) -> str | None:
    if isinstance(expr, cst.SimpleString | cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _positional(call: cst.Call, position: int) -> cst.BaseExpression | None:
    positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
    return positional[position] if position < len(positional) else None


def _methods(call: cst.Call) -> list[str]:
    value = _keyword(call, "methods")
    if isinstance(value, cst.List | cst.Tuple | cst.Set):
        return [s.upper() for element in value.elements if (s := _string(element.value))]
    return []


def _route(methods: list[str], path: str | None, prefix: str) -> str | None:
    if path is None:
        return None
    verb = "|".join(methods) if methods else "GET"
    return f"{verb} {prefix}{path}"


class _Routes:
    """Collects handlers from decorators and from route tables built with calls."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.apps: dict[str, tuple[Framework, str]] = {}
        self.handlers: dict[str, Handler] = {}
        self.view_paths: dict[str, str] = {}
        for name, value in index.assignments.items():
            if isinstance(value, cst.Call):
                framework = _APP_FACTORIES.get(self.index.qualify(value.func) or "")
                if framework is not None:
                    prefix = next((p for k in _PREFIX_KEYWORDS if (p := _string(_keyword(value, k)))), "")
                    self.apps[name] = (framework, prefix)

    def app_of(self, expr: cst.BaseExpression) -> tuple[Framework, str] | None:
        """`app`, `router`, `app.router` (aiohttp) → the framework and route prefix."""
        if isinstance(expr, cst.Attribute) and expr.attr.value == "router":
            expr = expr.value
        return (
            self.apps.get(self.index.qualify(expr) or "")
            if isinstance(expr, cst.Name | cst.Attribute)
            else None
        )

    def add(self, function: cst.FunctionDef, name: str, framework: Framework, route: str | None) -> None:
        if name not in self.handlers:
            self.handlers[name] = Handler(function, name, framework, route)

    def from_decorator(self, function: cst.FunctionDef, name: str, decorator: cst.Decorator) -> None:
        call = decorator.decorator
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        app = self.app_of(call.func.value)
        if app is None:
            return
        framework, prefix = app
        verb = call.func.attr.value
        path = (
            _string(_positional(call, 0))
            or _string(_keyword(call, "path"))
            or _string(_keyword(call, "rule"))
        )
        if verb in _HTTP_METHODS:
            self.add(function, name, framework, _route([verb.upper()], path, prefix))
        elif verb in ("route", "api_route"):
            if framework == "aiohttp":  # routes.route("POST", "/x")
                method = _string(_positional(call, 0))
                path = _string(_positional(call, 1))
                self.add(function, name, framework, _route([method.upper()] if method else [], path, prefix))
            else:
                self.add(function, name, framework, _route(_methods(call), path, prefix))
        elif verb == "view":
            self.add(function, name, framework, _route([], path, prefix))

    def from_call(self, call: cst.Call) -> None:
        """`app.add_url_rule`, `app.add_api_route`, `app.router.add_post`, `web.post`, `Route(...)`."""
        target: cst.BaseExpression | None = None
        methods: list[str] = []
        path: str | None = None
        framework: Framework | None = None
        prefix = ""
        qualified = self.index.qualify(call.func) or ""
        if qualified in _ROUTE_FUNCTIONS:
            framework = _ROUTE_FUNCTIONS[qualified]
            verb = qualified.rsplit(".", 1)[1]
            if verb == "route":
                method = _string(_positional(call, 0))
                methods = [method.upper()] if method else []
                path, target = _string(_positional(call, 1)), _positional(call, 2)
            elif verb == "Route":
                path, target = (
                    _string(_positional(call, 0)),
                    _positional(call, 1) or _keyword(call, "endpoint"),
                )
                methods = _methods(call)
            else:
                methods = [verb.upper()] if verb != "view" else []
                path, target = _string(_positional(call, 0)), _positional(call, 1)
        elif isinstance(call.func, cst.Attribute) and (app := self.app_of(call.func.value)):
            framework, prefix = app
            verb = call.func.attr.value
            if verb == "add_url_rule":
                path = _string(_positional(call, 0)) or _string(_keyword(call, "rule"))
                target = _keyword(call, "view_func") or _positional(call, 2)
                methods = _methods(call)
            elif verb in ("add_api_route", "add_route") and framework != "aiohttp":
                path = _string(_positional(call, 0))
                target = _positional(call, 1) or _keyword(call, "endpoint")
                methods = _methods(call)
            elif verb == "add_route":
                method = _string(_positional(call, 0))
                methods = [method.upper()] if method else []
                path, target = _string(_positional(call, 1)), _positional(call, 2)
            elif verb.startswith("add_") and verb[4:] in _HTTP_METHODS:
                methods = [verb[4:].upper()]
                path, target = _string(_positional(call, 0)), _positional(call, 1)
        if framework is None:
            return
        if (
            isinstance(target, cst.Call)
            and isinstance(target.func, cst.Attribute)
            and target.func.attr.value == "as_view"
            and isinstance(target.func.value, cst.Name)
        ):
            # Flask `add_url_rule("/x", view_func=View.as_view("x"))`: remember the class-based view's path.
            self.view_paths[target.func.value.value] = prefix + (path or "")
            return
        if not isinstance(target, cst.Name):
            return
        if target.value in self.index.classes:  # Route("/x", SomeHTTPEndpoint)
            self.view_paths[target.value] = prefix + (path or "")
            return
        function = self.index.functions.get(target.value)
        if function is not None:
            self.add(function, target.value, framework, _route(methods, path, prefix))


class _CallCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False


def find_handlers(index: ModuleIndex) -> list[Handler]:
    """Every request handler defined at module level (or as a method of a routed class)."""
    routes = _Routes(index)
    for name, function in index.functions.items():
        for decorator in function.decorators:
            routes.from_decorator(function, name, decorator)
    collector = _CallCollector()
    for statement in index.module_statements:
        if not isinstance(statement, cst.ClassDef):
            walk(statement, collector)
    for call in collector.calls:
        routes.from_call(call)
    for class_name, info in index.classes.items():
        framework = next((_VIEW_BASES[base] for base in info.bases if base in _VIEW_BASES), None)
        if framework is None:
            continue
        for method_name, method in info.methods.items():
            verb = "dispatch_request" if method_name == "dispatch_request" else method_name
            if verb in _HTTP_METHODS or verb == "dispatch_request":
                name = f"{class_name}.{method_name}"
                path = routes.view_paths.get(class_name)
                route = f"{verb.upper()} {path}" if path and verb in _HTTP_METHODS else None
                routes.handlers[name] = Handler(method, name, framework, route, owner_class=class_name)
    return list(routes.handlers.values())
