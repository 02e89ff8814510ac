"""How findings name JavaScript functions and entry points, the way people refer to them.

The lowering registers an unnamed function under its line (`<anonymous:7>`,
`outer.<locals>.<anonymous:12>`): unique, but no reader knows it, and it moves with every line
added above it. A finding names it by its context instead:

- a route's handler by its route: `POST /orders handler` (middleware before it: `... middleware`);
- a function assigned to a property or field by where it is stored: `handlers.create`, `Svc.handle`;
- a function wrapped by a plain call and stored (`const handler = middy(async (event) => ...)`) by
  the name it is stored under: `handler`;
- a callback by the call it is given to, inside the function it is written in:
  `POST /orders handler (map callback)`, `settle (transaction callback)`; a named function inside
  another: `inner in settle`;
- a default export: `default export`.

The names carry no line, so they stay put when a patch adds lines above (the remediation pipeline
and SARIF fingerprints key findings by function). Entry points read as what they are: an AWS Lambda
handler behind API Gateway, or a consumer of DynamoDB Streams, SQS, Kinesis, SNS or S3 records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from ..core import model
from ._expressions import text
from .routes import VERBS

__all__ = ["entry_noun", "function_names"]

_LOCALS = ".<locals>."
_UNNAMED = "anonymous function"
# What a function's context makes it: a route's handler, a callback, or something stored by name.
_Role = Literal["route", "callback", "name"]
# Syntax a function expression may sit in without changing what it is given to or stored as.
_TRANSPARENT = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
        "await_expression",
    }
)
_CALLS = frozenset({"call_expression", "new_expression"})
_FIELDS = frozenset({"field_definition", "public_field_definition"})
_CLASSES = frozenset({"class_declaration", "class", "abstract_class_declaration"})
_ROUTE_PATH = re.compile(r"^['\"`](/[^'\"`]*)['\"`]$")
# What a Lambda handler's event shows of its source: an API Gateway request, or stream and queue records.
_API_GATEWAY = re.compile(
    r"\b(?:pathParameters|queryStringParameters|requestContext|httpMethod|statusCode)\b|\.body\b"
)
_RECORD_SOURCES = (
    (re.compile(r"\.dynamodb\b|\bNewImage\b|\bOldImage\b"), "DynamoDB Streams"),
    (re.compile(r"\.kinesis\b"), "Kinesis"),
    (re.compile(r"\.Sns\b"), "SNS"),
    (re.compile(r"\.s3\b"), "S3"),
    (re.compile(r"\bmessageId\b|\breceiptHandle\b|\.body\b"), "SQS"),
)


def entry_noun(module: model.ModuleModel) -> Callable[[model.EntryPoint], str | None]:
    """What the module's AWS Lambda entry points are, read off their code (`Reporter.entry_noun`)."""

    def noun(entry: model.EntryPoint) -> str | None:
        function = module.functions.get(entry.qualname)
        if entry.framework != "lambda" or function is None or function.origin is None:
            return None
        code = text(function.origin)
        if entry.kind == "consumer":
            source = next((name for pattern, name in _RECORD_SOURCES if pattern.search(code)), None)
            return f"{source} consumer" if source else "stream or queue consumer"
        return "API Gateway handler" if _API_GATEWAY.search(code) else "handler"

    return noun


def function_names(module: model.ModuleModel, entries: list[model.EntryPoint]) -> dict[str, str]:
    """Every function's readable name, by qualified name (named top-level ones keep theirs)."""
    routes = {entry.qualname: entry.route for entry in entries if entry.kind == "http" and entry.route}
    names: dict[str, str] = {}
    for qualname in module.functions:
        _name_of(names, module, routes, qualname)
    return names


def _name_of(names: dict[str, str], module: model.ModuleModel, routes: dict[str, str], qualname: str) -> str:
    """`qualname`'s readable name, remembered in `names` (a partial, not a closure naming itself:
    that is a reference cycle, freed only by the cyclic collector)."""
    if qualname not in names:
        names[qualname] = _readable(module, qualname, routes, partial(_name_of, names, module, routes))
    return names[qualname]


def _readable(
    module: model.ModuleModel, qualname: str, routes: dict[str, str], name_of: Callable[[str], str]
) -> str:
    function = module.functions[qualname]
    anonymous = function.name.startswith("<anonymous")
    if anonymous and qualname in routes:
        return f"{routes[qualname]} handler"
    role: _Role = "name"
    own = function.name
    if anonymous:
        own, role = _from_context(function.origin) if function.origin is not None else (_UNNAMED, "name")
    enclosing, _, _ = qualname.rpartition(_LOCALS)
    if role == "route" or not enclosing or enclosing not in module.functions:
        return own if anonymous else qualname
    # Short: the enclosing function's own name, not the callbacks it is itself inside.
    outer = name_of(enclosing).split(" (", 1)[0]
    return f"{outer} ({own})" if role == "callback" else f"{own} in {outer}"


def _from_context(node: Any) -> tuple[str, _Role]:
    """A function expression's name from where it is written, and what that makes it."""
    parent = node.parent
    while parent is not None and parent.type in _TRANSPARENT:
        node, parent = parent, parent.parent
    if parent is None:
        return _UNNAMED, "name"
    if parent.type == "pair":
        key = parent.child_by_field_name("key")
        stored = _stored_under(parent.parent)
        own = text(key).strip("'\"") if key is not None else "property"
        return (f"{stored}.{own}" if stored else own), "name"
    if parent.type in _FIELDS:
        field = parent.child_by_field_name("property") or parent.child_by_field_name("name")
        owner = _class_name(parent)
        own = text(field) if field is not None else "field"
        return (f"{owner}.{own}" if owner else own), "name"
    if parent.type in ("variable_declarator", "assignment_expression"):
        target = parent.child_by_field_name("name") or parent.child_by_field_name("left")
        return (text(target) if target is not None else _UNNAMED), "name"
    if parent.type == "export_statement":
        return "default export", "name"
    if parent.type == "arguments" and parent.parent is not None and parent.parent.type in _CALLS:
        return _given_to(node, parent.parent)
    return _UNNAMED, "name"


def _given_to(node: Any, call: Any) -> tuple[str, _Role]:
    """A function passed to `call`: a route's handler or middleware, a wrapped handler stored under a
    name, else a callback named by its callee (`map callback`)."""
    callee = call.child_by_field_name("function") or call.child_by_field_name("constructor")
    member = callee is not None and callee.type == "member_expression"
    method = callee.child_by_field_name("property") if member else None
    arguments = call.child_by_field_name("arguments")
    args = arguments.named_children if arguments is not None else []
    if method is not None and text(method) in VERBS and args:
        path = _ROUTE_PATH.match(text(args[0]))
        if path is not None:
            role = "handler" if args[-1] == node else "middleware"
            return f"{text(method).upper()} {path.group(1)} {role}", "route"
    if callee is not None and callee.type == "identifier":
        wrapped = call.parent  # `router.post("/p", asyncHandler(async (req, res) => ...))`
        if wrapped is not None and wrapped.type == "arguments" and wrapped.parent.type in _CALLS:
            route = _given_to(call, wrapped.parent)
            if route[1] == "route":
                return route
        stored = _stored_under(call)
        if stored:  # `const handler = middy(async (event) => ...)`: the handler is what is stored
            return stored, "name"
    name = text(method) if method is not None else text(callee) if callee is not None else "call"
    return f"{name} callback", "callback"


def _stored_under(node: Any) -> str | None:
    """The variable or property an expression is stored in: `const x = <node>`, `exports.x = <node>`."""
    parent = node.parent if node is not None else None
    while parent is not None and parent.type in _TRANSPARENT:
        node, parent = parent, parent.parent
    if parent is None:
        return None
    if parent.type == "variable_declarator" and parent.child_by_field_name("value") == node:
        name = parent.child_by_field_name("name")
        return text(name) if name is not None and name.type == "identifier" else None
    if parent.type == "assignment_expression" and parent.child_by_field_name("right") == node:
        left = parent.child_by_field_name("left")
        return text(left).split(".")[-1] if left is not None else None
    return None


def _class_name(node: Any) -> str | None:
    current = node.parent
    while current is not None and current.type not in _CLASSES:
        current = current.parent
    name = current.child_by_field_name("name") if current is not None else None
    return text(name) if name is not None else None
