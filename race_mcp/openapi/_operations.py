"""What each operation of a spec declares: its headers, body and query fields, and responses.

The same facts come out of OpenAPI 2.0 (`in: body` / `formData` parameters, `basePath`) and
3.x (`requestBody`, `servers`, 3.2's `query` method and `additionalOperations`). Names are
normalised (lower case, letters and digits only) so `If-Match`, `if-match` and a parameter
`$ref`'d as `#/components/parameters/IfMatch` all read as `ifmatch`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._refs import Node, Resolver

__all__ = ["Facts", "Operation", "base_paths", "collect_facts", "iter_operations", "normalize_name"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
_SCHEMA_DEPTH = 2  # body fields as deep as metadata.resourceVersion
_SCHEMA_BUDGET = 400  # schema nodes visited per operation, whatever the spec's shape
_NON_ALNUM = re.compile(r"[^a-z0-9]")
# Fields beside the list in a page of results.
_PAGE_FIELDS = frozenset(
    {
        *("cursor", "nextcursor", "next", "nextpage", "nexttoken", "nextpagetoken", "pagetoken", "page"),
        *("pagesize", "pagenumber", "total", "totalcount", "totalitems", "totalpages", "totalsize"),
        *("hasmore", "more", "links", "errors", "count", "limit", "offset"),
    }
)


def normalize_name(name: str) -> str:
    return _NON_ALNUM.sub("", name.lower())


@dataclass(frozen=True, slots=True, eq=False)
class Operation:
    """One operation: `PATCH /orders/{id}`, the operation node and its path item."""

    method: str  # upper case
    path: str
    node: Node
    path_item: Node

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(slots=True)
class Facts:
    """What an operation declares, ready for the rules to read."""

    operation: Operation
    headers: dict[str, bool] = field(default_factory=dict)  # request header -> required
    fields: set[str] = field(default_factory=set)  # body properties and query parameters
    responses: dict[str, Node] = field(default_factory=dict)  # "200", "4XX", "default"
    response_keys: dict[str, str] = field(default_factory=dict)  # normalised status -> key as written
    response_headers: dict[str, set[str]] = field(default_factory=dict)
    body_fields: set[str] = field(default_factory=set)  # top-level body properties and query parameters
    has_body: bool = False  # a request body is declared (3.x requestBody, 2.0 body or formData)
    lists_results: bool = False  # a 2xx response is a list, or an object holding one
    scopes: list[str] = field(default_factory=list)  # OAuth scopes the operation asks for


def iter_operations(resolver: Resolver, root: Node) -> Iterator[Operation]:
    """Every operation under `paths`, path items and all, `$ref`s followed lazily."""
    for path, item in resolver.items(resolver.get(root, "paths")):
        if path.startswith("x-") or not isinstance(item.value, dict):
            continue  # specification extensions, or a broken path item
        for method in METHODS:
            node = resolver.get(item, method)
            if node is not None and isinstance(node.value, dict):
                yield Operation(method.upper(), path, node, item)
        for method, node in resolver.items(resolver.get(item, "additionalOperations")):
            if isinstance(node.value, dict):
                yield Operation(method.upper(), path, node, item)


def collect_facts(resolver: Resolver, operation: Operation) -> Facts:
    facts = Facts(operation)
    for container in (operation.path_item, operation.node):
        for raw, param in resolver.elements(resolver.get(container, "parameters")):
            _add_parameter(resolver, facts, raw, param)
    body = resolver.get(operation.node, "requestBody")
    facts.has_body = facts.has_body or body is not None
    _add_request_body(resolver, facts, body)
    _add_responses(resolver, facts, resolver.get(operation.node, "responses"))
    facts.scopes = _scopes(operation.node.value.get("security"))
    return facts


def _add_parameter(resolver: Resolver, facts: Facts, raw: Node, param: Node | None) -> None:
    if param is None:
        # An unresolvable `$ref` (remote, say): its name is the best evidence left.
        if raw.ref is not None:
            facts.headers.setdefault(normalize_name(raw.ref.rsplit("/", 1)[-1]), False)
        return
    value = param.value
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return
    name, where = normalize_name(value["name"]), value.get("in")
    if where == "header":
        facts.headers[name] = facts.headers.get(name, False) or value.get("required") is True
    elif where in ("query", "formData"):
        facts.fields.add(name)
        facts.body_fields.add(name)
        facts.has_body = facts.has_body or where == "formData"
    elif where == "body":
        facts.has_body = True
        _add_schema_fields(resolver, facts, resolver.get(param, "schema"))


def _add_request_body(resolver: Resolver, facts: Facts, body: Node | None) -> None:
    for _media_type, media in resolver.items(resolver.get(body, "content")):
        _add_schema_fields(resolver, facts, resolver.get(media, "schema"))


def _add_schema_fields(resolver: Resolver, facts: Facts, schema: Node | None) -> None:
    if schema is not None:
        facts.fields.update(schema_fields(resolver, schema))
        facts.body_fields.update(schema_fields(resolver, schema, depth=1))


def schema_fields(resolver: Resolver, schema: Node, *, depth: int = _SCHEMA_DEPTH) -> frozenset[str]:
    """Property names of a body schema, through allOf/oneOf/anyOf, `depth` levels deep, bounded.

    Remembered per schema object, as many operations share one body schema.
    """
    key = (id(schema.value), depth)
    cached = resolver.memo.get(key)
    if cached is not None:
        return cached
    names: set[str] = set()
    pending: list[tuple[Node | None, int]] = [(schema, 0)]
    seen: set[int] = set()  # ids of schema objects: the same schema reached twice is read once
    while pending and len(seen) < _SCHEMA_BUDGET:
        node, level = pending.pop()
        if node is None or id(node.value) in seen or not isinstance(node.value, dict):
            continue
        seen.add(id(node.value))
        for combinator in ("allOf", "oneOf", "anyOf"):
            pending.extend((child, level) for _raw, child in resolver.elements(node.raw(combinator)))
        properties = node.raw("properties")
        if properties is None or not isinstance(properties.value, dict):
            continue
        for name in properties.value:
            names.add(normalize_name(str(name)))
            if level + 1 < depth:
                pending.append((resolver.get(properties, name), level + 1))
    result = resolver.memo[key] = frozenset(names)
    return result


def _add_responses(resolver: Resolver, facts: Facts, responses: Node | None) -> None:
    if responses is None or not isinstance(responses.value, dict):
        return
    for key in responses.value:
        status = normalize_status(str(key))
        raw = responses.raw(key)
        assert raw is not None
        response = resolver.deref(raw)
        # A response we cannot open still counts as declared; only its headers stay unknown.
        facts.responses[status] = response or raw
        facts.response_keys[status] = str(key)
        headers = resolver.get(response, "headers") if response is not None else None
        names = headers.value if headers is not None and isinstance(headers.value, dict) else {}
        facts.response_headers[status] = {normalize_name(str(name)) for name in names}
        if status.startswith("2") and response is not None and not facts.lists_results:
            facts.lists_results = any(
                _is_list(resolver, schema) for schema in _response_schemas(resolver, response)
            )


def _response_schemas(resolver: Resolver, response: Node) -> list[Node]:
    """The body schemas of a response: 2.0's `schema`, 3.x's one per media type."""
    schemas = [resolver.get(response, "schema")]
    schemas += [
        resolver.get(media, "schema") for _type, media in resolver.items(resolver.get(response, "content"))
    ]
    return [schema for schema in schemas if schema is not None]


def _is_list(resolver: Resolver, schema: Node) -> bool:
    """An array, or a page of results: an object (through allOf) whose properties are arrays and
    paging or error fields only (`{orders: [...], cursor, errors: [...]}`), not a resource that
    happens to hold a list."""
    if _is_array(schema):
        return True
    parts = [schema, *(part for _raw, part in resolver.elements(schema.raw("allOf")) if part is not None)]
    arrays = 0
    for part in parts:
        for name, prop in resolver.items(resolver.get(part, "properties")):
            if _is_array(prop):
                arrays += 1
            elif normalize_name(name) not in _PAGE_FIELDS:
                return False
    return arrays > 0


def _is_array(schema: Node) -> bool:
    value = schema.value
    kind = value.get("type") if isinstance(value, dict) else None
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def _scopes(security: object) -> list[str]:
    """The OAuth scopes of an operation's own `security` (a list of {scheme: [scope, ...]})."""
    if not isinstance(security, list):
        return []
    return [
        scope
        for requirement in security
        if isinstance(requirement, dict)
        for scopes in requirement.values()
        if isinstance(scopes, list)
        for scope in scopes
        if isinstance(scope, str)
    ]


def normalize_status(key: str) -> str:
    key = key.strip()
    return "default" if key.lower() == "default" else key.upper()


def base_paths(resolver: Resolver, root: Node) -> list[str]:
    """Path prefixes the operations are served under: 2.0 `basePath`, 3.x `servers[].url` paths."""
    prefixes: list[str] = []
    base = resolver.get(root, "basePath")
    if base is not None and isinstance(base.value, str):
        prefixes.append(base.value)
    for _raw, server in resolver.elements(resolver.get(root, "servers")):
        url = server.value.get("url") if server is not None and isinstance(server.value, dict) else None
        if isinstance(url, str):
            prefixes.append(urlsplit(url).path if "://" in url else url)
    return [prefix.rstrip("/") for prefix in prefixes if prefix.strip("/")]
