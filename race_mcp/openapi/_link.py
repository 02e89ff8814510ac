"""Linking spec operations to the handlers the static analyzer found, by method and path template.

Frameworks spell path parameters differently (`{id}`, `{id:int}`, `<int:id>`, `:id`, Express's
`:id(\\d+)`, Hono's `:id{[0-9]+}`, Next.js's `[id]` and `[...slug]`, Axum's `{*rest}` and `*rest`),
and code routes often omit the prefix the spec serves them under (`basePath`, a server URL's path,
a router prefix), so templates are compared with every parameter reduced to `{}`, first exactly,
then with a prefix on either side when that leaves exactly one candidate. Next.js route groups
(`(shop)`) are not part of the URL. A route with no method (a Next.js `pages/api` handler answers
every method) or Express's `all` links to the state-changing operations of its path, or to all of
them when the spec declares none there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from ..findings import Finding

__all__ = ["link_code_findings", "normalize_template", "split_route"]

_WHOLE_SEGMENT_PARAM = re.compile(
    r"^(?:"
    r":[A-Za-z_$][\w$]*(?:\(.*\)|\{.*\})?[?*+]?"  # :id, :id?, Express :id(\\d+), Hono :id{[0-9]+}
    r"|\*\w*"  # *, *rest (Axum 0.7, Express 4 wildcards)
    r"|\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}"  # {id}, {*rest} (Axum 0.8), actix {id:\d{3}}
    r"|\[{1,2}(?:\.\.\.)?\w+\]{1,2}"  # Next.js [id], [...slug], [[...slug]]
    r"|\(\?P<\w+>.*\)"  # Django regex groups
    r")$"
)
# No opening bracket inside: each match scan stops at the next one, so hostile text stays linear.
_INLINE_PARAM = re.compile(r"\{[^{}]*\}|<[^<>]*>")
_ROUTE_GROUP = re.compile(r"^\([\w-]+\)$")  # Next.js app-router (group): not part of the URL
_ANY_METHOD = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "QUERY")
# A race needs a write, so a handler that answers every method is linked to the path's
# state-changing operations; to its others only when the spec declares none.
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


def normalize_template(path: str) -> str:
    """`/orders/<int:id>/` and `/orders/:id` and `orders/{order_id}` all become `/orders/{}`."""
    path = path.split("?", 1)[0].strip()
    segments = []
    for segment in path.strip("/").split("/"):
        if not segment or _ROUTE_GROUP.match(segment):
            continue
        if _WHOLE_SEGMENT_PARAM.match(segment):
            segments.append("{}")
        else:
            segments.append(_INLINE_PARAM.sub("{}", segment))
    return "/" + "/".join(segments)


def split_route(route: str) -> tuple[list[str], str] | None:
    """`"POST /redeem/{code}"` -> (["POST"], "/redeem/{code}"); also `"GET|HEAD /x"`. A bare path
    (`"/api/orders"`, a Next.js `pages/api` handler) or `ALL /x` stands for every method."""
    route = route.strip()
    if route.startswith("/"):
        return list(_ANY_METHOD), route
    method_part, _, path = route.partition(" ")
    if not path:
        return None
    methods = [method.upper() for method in re.split(r"[,|/]", method_part) if method]
    if "ALL" in methods or "ANY" in methods:
        methods = list(_ANY_METHOD)
    return methods, path.strip()


def _segments(template: str) -> tuple[str, ...]:
    return tuple(segment for segment in template.split("/") if segment)


def _prefix_match(code: tuple[str, ...], spec: tuple[str, ...]) -> bool:
    """One template ends with the other, whole segments only (a mount or router prefix)."""
    if not code or not spec or code == spec:
        return False
    shorter, longer = (code, spec) if len(code) < len(spec) else (spec, code)
    return longer[-len(shorter) :] == shorter


def link_code_findings(
    operations: Sequence[tuple[str, str, str]],
    code_findings: Sequence[Finding],
    *,
    prefixes: Sequence[str] = (),
) -> dict[str, list[Finding]]:
    """Map each operation label to the code findings of its handler.

    `operations` are (label, METHOD, path template); `prefixes` are the paths the spec is served
    under, so `/api/v1` + `/orders/{id}` also matches a handler routed at `/api/v1/orders/<id>`.
    """
    exact: dict[tuple[str, str], str] = {}
    by_method: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
    for label, method, path in operations:
        template = normalize_template(path)
        for candidate in (template, *(normalize_template(p + template) for p in prefixes)):
            exact.setdefault((method, candidate), label)
        by_method[method].append((_segments(template), label))
    linked: dict[str, list[Finding]] = defaultdict(list)
    for finding in code_findings:
        parsed = split_route(finding.route) if finding.route else None
        if parsed is None:
            continue
        methods, path = parsed
        template = normalize_template(path)
        matches = _matches(methods, template, exact, by_method)
        if set(methods) > set(_WRITES):  # every method: the writes first
            matches = _matches(_WRITES, template, exact, by_method) or matches
        for match in matches:
            linked[match].append(finding)
    return dict(linked)


def _matches(
    methods: Sequence[str],
    template: str,
    exact: dict[tuple[str, str], str],
    by_method: dict[str, list[tuple[tuple[str, ...], str]]],
) -> list[str]:
    """The operations a code route with these methods and this template links to."""
    found = []
    for method in methods:
        match = exact.get((method, template)) or _unique_prefix_match(by_method.get(method, []), template)
        if match is not None:
            found.append(match)
    return found


def _unique_prefix_match(candidates: list[tuple[tuple[str, ...], str]], template: str) -> str | None:
    code = _segments(template)
    matches = {label for spec, label in candidates if _prefix_match(code, spec)}
    return matches.pop() if len(matches) == 1 else None
