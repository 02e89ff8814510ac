"""Routes of AWS Lambda handlers, read from the deployment descriptor at the top of the `source`
directory: an AWS SAM template (`template.yaml` / `template.yml`: `AWS::Serverless::Function`
resources with `Handler`, `CodeUri` and `Api` / `HttpApi` events, `Globals.Function.CodeUri`) or a
Serverless Framework file (`serverless.yml` / `serverless.yaml`: `functions.<name>.handler` with
`http` / `httpApi` events, as mappings or `"POST /path"` strings).

API Gateway, not the code, routes a request to a Lambda handler, so its findings carry no route and
no spec operation could meet them; with the descriptor they get the route it declares. Only the
descriptor's own file is read (inside the allowed roots, size-capped, through the bounded YAML
reader); a descriptor that cannot be read is a report error, never a failed check.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .._textfile import read_text
from ..errors import InputError
from ..findings import FileError, Finding
from ..roots import AllowedRoots
from ._yaml import load_yaml

__all__ = ["LambdaRoute", "lambda_routes", "with_lambda_routes"]

DESCRIPTORS = ("template.yaml", "template.yml", "serverless.yml", "serverless.yaml")
_MAX_NODES = 200_000  # a descriptor is configuration, not a spec: far below the spec budget
_ANY = {"ANY", "*"}


@dataclass(frozen=True)
class LambdaRoute:
    """`module` is the handler's file without its suffix, relative to the source directory."""

    module: PurePosixPath
    export: str
    route: str  # "POST /orders/{id}"; "ALL /orders/{id}" for any method


def lambda_routes(
    source: Path, *, roots: AllowedRoots | None, max_bytes: int
) -> tuple[list[LambdaRoute], list[FileError]]:
    """The routes the descriptors in `source` (a directory) give Lambda handlers, and the
    descriptors that could not be read."""
    if not source.is_dir():
        return [], []
    boundary = roots or AllowedRoots([source])
    routes: list[LambdaRoute] = []
    errors: list[FileError] = []
    for name in DESCRIPTORS:
        path = source / name
        if not path.exists() or not boundary.contains(path):
            continue  # a link out of the roots is never opened
        try:
            document = load_yaml(
                read_text(path, str(path), max_bytes=max_bytes, expected="a deployment descriptor"),
                str(path),
                max_nodes=_MAX_NODES,
            )
        except InputError as exc:
            errors.append(FileError(path=str(path), message=str(exc), code=exc.code))
            continue
        if isinstance(document, dict):
            read = _sam_routes if name.startswith("template") else _serverless_routes
            routes.extend(read(document))
    return routes, errors


def with_lambda_routes(
    findings: Sequence[Finding], routes: Sequence[LambdaRoute], source: Path
) -> list[Finding]:
    """Findings of Lambda handlers without a route, given the route their descriptor declares (one
    copy per route when a handler serves several)."""
    if not routes:
        return list(findings)
    by_handler: dict[tuple[PurePosixPath, str], list[str]] = {}
    for route in routes:
        by_handler.setdefault((route.module, route.export), []).append(route.route)
    base = source.resolve()
    out: list[Finding] = []
    for finding in findings:
        module = _module_of(finding.path, base)
        declared = by_handler.get((module, finding.function or "")) if module is not None else None
        if finding.route or not declared:
            out.append(finding)
            continue
        out.extend(finding.model_copy(update={"route": route}) for route in declared)
    return out


def _module_of(path: str, base: Path) -> PurePosixPath | None:
    try:
        relative = Path(path).resolve().relative_to(base)
    except ValueError:
        return None
    return PurePosixPath(relative.as_posix()).with_suffix("")


def _handler(handler: Any, code_uri: Any) -> tuple[PurePosixPath, str] | None:
    """`src/orders.create` under `CodeUri: app/` -> (app/src/orders, create)."""
    if not isinstance(handler, str) or "." not in handler:
        return None
    module, _, export = handler.rpartition(".")
    prefix = (
        [part for part in PurePosixPath(code_uri).parts if part not in ("/", ".")]
        if isinstance(code_uri, str)
        else []
    )
    return (PurePosixPath(*prefix, module), export) if export and module else None


def _route(method: Any, path: Any) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return None
    verb = str(method or "ANY").upper()
    return f"{'ALL' if verb in _ANY else verb} /{path.strip().lstrip('/')}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sam_routes(document: dict[str, Any]) -> Iterator[LambdaRoute]:
    default_uri = _mapping(_mapping(document.get("Globals")).get("Function")).get("CodeUri")
    for resource in _mapping(document.get("Resources")).values():
        resource = _mapping(resource)
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = _mapping(resource.get("Properties"))
        handler = _handler(properties.get("Handler"), properties.get("CodeUri", default_uri))
        if handler is None:
            continue
        for event in _mapping(properties.get("Events")).values():
            event = _mapping(event)
            if event.get("Type") not in ("Api", "HttpApi"):
                continue
            event_properties = _mapping(event.get("Properties"))
            route = _route(event_properties.get("Method"), event_properties.get("Path"))
            if route is not None:
                yield LambdaRoute(handler[0], handler[1], route)


def _serverless_routes(document: dict[str, Any]) -> Iterator[LambdaRoute]:
    for function in _mapping(document.get("functions")).values():
        function = _mapping(function)
        handler = _handler(function.get("handler"), None)
        events = function.get("events")
        if handler is None or not isinstance(events, list):
            continue
        for event in events:
            for kind, spec in _mapping(event).items():
                if kind not in ("http", "httpApi"):
                    continue
                if isinstance(spec, str):  # "POST /orders/{id}"
                    method, _, path = spec.strip().partition(" ")
                    route = _route(method, path)
                else:
                    route = _route(_mapping(spec).get("method"), _mapping(spec).get("path"))
                if route is not None:
                    yield LambdaRoute(handler[0], handler[1], route)
