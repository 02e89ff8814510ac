"""Linking spec operations to the handlers the static analyzer found, by method and path template.

Frameworks spell path parameters differently (`{id}`, `{id:int}`, `<int:id>`, `:id`), and code
routes often omit the prefix the spec serves them under (`basePath`, a server URL's path, a
router prefix), so templates are compared with every parameter reduced to `{}`, first exactly,
then with a prefix on either side when that leaves exactly one candidate.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from ..findings import Finding

__all__ = ["link_code_findings", "normalize_template", "split_route"]

_WHOLE_SEGMENT_PARAM = re.compile(r"^(?::[A-Za-z_]\w*\??|\*\w*|\(\?P<\w+>.*\))$")
_INLINE_PARAM = re.compile(r"\{[^}]*\}|<[^>]*>")


def normalize_template(path: str) -> str:
    """`/orders/<int:id>/` and `/orders/:id` and `orders/{order_id}` all become `/orders/{}`."""
    path = path.split("?", 1)[0].strip()
    segments = []
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        if _WHOLE_SEGMENT_PARAM.match(segment):
            segments.append("{}")
        else:
            segments.append(_INLINE_PARAM.sub("{}", segment))
    return "/" + "/".join(segments)


def split_route(route: str) -> tuple[list[str], str] | None:
    """`"POST /redeem/{code}"` -> (["POST"], "/redeem/{code}"); also `"GET|HEAD /x"`."""
    method_part, _, path = route.strip().partition(" ")
    if not path:
        return None
    methods = [method.upper() for method in re.split(r"[,|/]", method_part) if method]
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
        for method in methods:
            match = exact.get((method, template)) or _unique_prefix_match(by_method[method], template)
            if match is not None:
                linked[match].append(finding)
    return dict(linked)


def _unique_prefix_match(candidates: list[tuple[tuple[str, ...], str]], template: str) -> str | None:
    code = _segments(template)
    matches = {label for spec, label in candidates if _prefix_match(code, spec)}
    return matches.pop() if len(matches) == 1 else None
