"""Spec patches: the OpenAPI findings fixed in the spec, as a diff that keeps the file's formatting.

`propose_spec_patch` reads the findings of `check_openapi` (their `operation` and `pointer`), and
the code's RC601 (a money handler without an idempotency key, located by its `route`), and adds
what each operation is missing:

| rule         | added to the operation                                                            |
|--------------|-----------------------------------------------------------------------------------|
| RA101        | a required `If-Match` header, 412 and 428 responses, and an `ETag` on the GET 200 |
| RA102        | 412 (or 409 when the precondition is a version field in the body)                 |
| RA103        | 428                                                                               |
| RA105        | an `ETag` header on the GET 200 (or on the write's own 2xx when there is no GET)  |
| RA111, RC601 | an `Idempotency-Key` header, 409 and 422 responses                                |
| RA112        | the missing 409 and 422                                                           |
| RA121, RA122 | a 429 with a `Retry-After` header                                                 |

Parameters, headers and the 429 response reuse the spec's own components when it has them
(`#/components/parameters/IfMatch`, a response that already carries `Retry-After`); the 429 and
its `Retry-After` header become new components when the spec has `components` and none fits.
Other rules (RA104, RA123) get guidance in words: no addition fixes them for sure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import InputError
from ..findings import Finding
from ..openapi._operations import normalize_name
from ._diff import unified_diff
from ._spec_edit import Append, New, Overlay, apply_overlay, find_key, load_document

__all__ = ["SPEC_RULES", "SpecChange", "SpecGuidance", "SpecPatch", "propose_spec_patch"]

SPEC_RULES = frozenset({"RA101", "RA102", "RA103", "RA105", "RA111", "RA112", "RA121", "RA122", "RC601"})
"""Rules whose fix is an addition to the spec."""

_MAX_SPEC_BYTES = 20_000_000
_TEMPLATE_PARAMETER = re.compile(r"\{[^}/]*\}")
_MAX_REF_HOPS = 32

_DESCRIPTIONS = {
    "409": "Conflict: a request with this key is still in progress; retry later",
    "409-version": "Conflict: the version sent is stale; read the resource again",
    "412": "Precondition Failed: If-Match no longer matches; read the resource again",
    "422": "Unprocessable: this Idempotency-Key was used with another request body",
    "428": "Precondition Required: send If-Match with the ETag from the last read",
    "429": "Too Many Requests: retry after the seconds in Retry-After",
    "If-Match": "The ETag from the last read; the change applies only if it still matches",
    "Idempotency-Key": "A unique key per operation; a retry with the same key replays the first response",
    "ETag": "The version of the resource, to send back as If-Match",
    "Retry-After": "Seconds to wait before retrying",
}


class SpecChange(BaseModel):
    """What the patch adds to one operation for one finding."""

    rule_id: str
    operation: str = Field(description='"PATCH /orders/{id}"')
    line: int = Field(description="1-based line of the operation in the spec")
    description: str


class SpecGuidance(BaseModel):
    """A finding the patch does not fix, and what to do about it in words."""

    rule_id: str
    operation: str | None
    message: str


class SpecPatch(BaseModel):
    """The spec's diff and what it does; `diff` is empty when nothing needed adding."""

    path: str = Field(description="the spec, as given")
    diff: str = Field(description="unified diff with a/ b/ headers relative to the working directory")
    changes: list[SpecChange] = Field(default_factory=list)
    guidance: list[SpecGuidance] = Field(default_factory=list)
    patched_text: str = Field("", exclude=True, repr=False, description="the spec after the patch")


def propose_spec_patch(spec_path: Path, findings: Sequence[Finding]) -> SpecPatch:
    """The additions that fix `findings` in the spec at `spec_path`, as a diff; writes nothing.

    Raises `InputError` when the spec cannot be read or parsed.
    """
    text = _read(spec_path)
    is_json = spec_path.suffix.lower() == ".json" or text.lstrip().startswith("{")
    document = load_document(text, str(spec_path), is_json=is_json)
    if not isinstance(document, dict) or not isinstance(document.get("paths", {}), dict):
        raise InputError(f"{spec_path}: not an OpenAPI document (no mapping of paths)", code="not-openapi")
    plan = _Plan(document)
    for finding in findings:
        plan.fix(finding)
    patched = apply_overlay(text, document, plan.overlay, is_json=is_json)
    return SpecPatch(
        path=str(spec_path),
        diff=unified_diff(text, patched, _relative_label(spec_path)),
        changes=plan.changes,
        guidance=plan.guidance,
        patched_text=patched,
    )


def _relative_label(path: Path) -> str:
    """The path as a diff names it: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix().lstrip("/")


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_SPEC_BYTES:
            raise InputError(
                f"{path}: larger than {_MAX_SPEC_BYTES:,} bytes; not patching it", code="too-large"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", code="not-found") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (invalid byte at offset {exc.start})", code="not-utf8"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spec: {exc.strerror or exc}", code="read-failed") from None


@dataclass(frozen=True)
class _Operation:
    label: str
    method_key: str
    path_key: str
    item: dict[Any, Any]
    node: dict[Any, Any]
    line: int

    @property
    def at(self) -> tuple[str, ...]:
        return ("paths", self.path_key, self.method_key)


class _Plan:
    """Turns findings into one overlay of additions, reusing and creating components."""

    def __init__(self, document: dict[Any, Any]) -> None:
        self.document = document
        self.overlay: Overlay = {}
        self.swagger2 = "swagger" in document
        self.components = not self.swagger2 and isinstance(document.get("components"), dict)
        self.changes: list[SpecChange] = []
        self.guidance: list[SpecGuidance] = []
        self._created: dict[tuple[str, str], str] = {}  # (kind, role) -> $ref of a new component

    # findings -----------------------------------------------------------------------------------

    def fix(self, finding: Finding) -> None:
        label = finding.operation or finding.route
        if finding.rule_id not in SPEC_RULES:
            if finding.rule_id.startswith("RA"):
                self._advise(finding, label, finding.fix or "no mechanical fix; see the rule's documentation")
            return
        operation = self._operation(label, finding.line) if label else None
        if operation is None:
            self._advise(finding, label, f"the spec has no operation {label or '(none named)'} to patch")
            return
        if isinstance(operation, str):
            self._advise(finding, label, operation)
            return
        done = list(self._additions(finding.rule_id, operation))
        if done:
            self.changes.append(
                SpecChange(
                    rule_id=finding.rule_id,
                    operation=operation.label,
                    line=operation.line,
                    description=f"{operation.label}: " + "; ".join(done),
                )
            )

    def _advise(self, finding: Finding, label: str | None, message: str) -> None:
        self.guidance.append(SpecGuidance(rule_id=finding.rule_id, operation=label, message=message))

    def _additions(self, rule_id: str, operation: _Operation) -> Iterator[str]:
        if rule_id == "RA101":
            yield from self._require_if_match(operation)
            yield from self._declare(operation, "412", "428")
            yield from self._etag_source(operation)
        elif rule_id == "RA102":
            guarded = self._headers(operation) & {"ifmatch", "ifunmodifiedsince"}
            yield from self._declare(operation, "412" if guarded else "409-version")
        elif rule_id == "RA103":
            yield from self._declare(operation, "428")
        elif rule_id == "RA105":
            yield from self._etag_source(operation)
        elif rule_id in ("RA111", "RC601"):
            yield from self._accept_idempotency_key(operation)
            yield from self._declare(operation, "409", "422")
        elif rule_id == "RA112":
            yield from self._declare(operation, "409", "422")
        else:  # RA121, RA122
            yield from self._throttling(operation)

    # locating -----------------------------------------------------------------------------------

    def _operation(self, label: str, line: int) -> _Operation | str | None:
        method, _, path = label.partition(" ")
        paths = self.document.get("paths") or {}
        path_key = find_key(paths, path) or _same_template(paths, path)
        if path_key is None:
            return None
        item = paths[path_key]
        if not isinstance(item, dict):
            return f"the path item {path} is not a mapping"
        if "$ref" in item:
            return f"the path item {path} is a $ref ({item['$ref']}); patch the file it points to"
        method_key = find_key(item, method.lower())
        node = item.get(method_key) if method_key is not None else None
        if not isinstance(node, dict):
            return None
        position = getattr(item, "lc", None)
        where = position.key(method_key)[0] + 1 if position is not None else line
        return _Operation(f"{method.upper()} {path_key}", method_key, path_key, item, node, where)

    def _deref(self, value: Any, at: tuple[str, ...]) -> tuple[tuple[str, ...] | None, Any]:
        """Follow local `$ref`s; the path is None when the value lives in another file."""
        for _ in range(_MAX_REF_HOPS):
            ref = value.get("$ref") if isinstance(value, dict) else None
            if not isinstance(ref, str):
                return at, value
            if not ref.startswith("#/"):
                return None, value
            at = tuple(token.replace("~1", "/").replace("~0", "~") for token in ref[2:].split("/"))
            value = self._get(at)
        return None, value

    def _get(self, at: tuple[str, ...]) -> Any:
        value: Any = self.document
        for token in at:
            key = find_key(value, token) if isinstance(value, dict) else None
            if key is None:
                return None
            value = value[key]
        return value

    def _headers(self, operation: _Operation) -> set[str]:
        names = set()
        for container in (operation.item, operation.node):
            for raw in container.get("parameters") or []:
                _, parameter = self._deref(raw, ())
                if isinstance(parameter, dict) and parameter.get("in") == "header":
                    names.add(normalize_name(str(parameter.get("name", ""))))
        return names

    def _responses(self, node: dict[Any, Any]) -> dict[str, Any]:
        responses = node.get("responses")
        return {str(key).upper(): key for key in responses} if isinstance(responses, dict) else {}

    # additions ----------------------------------------------------------------------------------

    def _add(self, at: tuple[str, ...], leaf: New | Append) -> None:
        branch = self.overlay
        for token in at[:-1]:
            child = branch.setdefault(token, {})
            if not isinstance(child, dict):
                return  # already inserted whole by an earlier finding
            branch = child
        existing = branch.get(at[-1])
        if isinstance(existing, Append) and isinstance(leaf, Append):
            branch[at[-1]] = Append(existing.items + leaf.items, existing.identity)
        elif existing is None:
            branch[at[-1]] = leaf

    def _declare(self, operation: _Operation, *statuses: str) -> Iterator[str]:
        declared = self._responses(operation.node)
        for wanted in statuses:
            status = wanted.partition("-")[0]
            if status in declared or (status == "422" and "400" in declared):
                continue
            self._add((*operation.at, "responses", status), New({"description": _DESCRIPTIONS[wanted]}))
            yield f"declare {status}"

    def _require_if_match(self, operation: _Operation) -> Iterator[str]:
        if "ifmatch" in self._headers(operation):
            return
        self._add((*operation.at, "parameters"), Append((self._header_parameter("If-Match", required=True),)))
        yield "require an If-Match header"

    def _accept_idempotency_key(self, operation: _Operation) -> Iterator[str]:
        if "idempotencykey" in self._headers(operation):
            return
        parameter = self._header_parameter("Idempotency-Key", required=False)
        self._add((*operation.at, "parameters"), Append((parameter,)))
        yield "accept an Idempotency-Key header"

    def _etag_source(self, operation: _Operation) -> Iterator[str]:
        getter = operation.item.get("get")
        source = getter if isinstance(getter, dict) else operation.node
        source_at = (*operation.at[:2], "get") if source is getter else operation.at
        successes = [key for status, key in self._responses(source).items() if status.startswith("2")]
        if not successes:
            return
        for key in successes:
            _, response = self._deref(source["responses"][key], ())
            headers = response.get("headers") if isinstance(response, dict) else None
            if isinstance(headers, dict) and any(normalize_name(str(name)) == "etag" for name in headers):
                return
        key = next((k for k in successes if str(k) == "200"), successes[0])
        response_at, response = self._deref(source["responses"][key], (*source_at, "responses", str(key)))
        if response_at is None or not isinstance(response, dict):
            return
        self._add((*response_at, "headers", "ETag"), New(self._header("ETag", "etag", "string")))
        yield f"return an ETag header from {'GET ' + operation.path_key if source is getter else 'its'} {key}"

    def _throttling(self, operation: _Operation) -> Iterator[str]:
        declared = self._responses(operation.node)
        if "429" not in declared:
            self._add((*operation.at, "responses", "429"), New(self._throttled_response()))
            yield "declare 429 with a Retry-After header"
            return
        at = (*operation.at, "responses", str(declared["429"]))
        response_at, response = self._deref(operation.node["responses"][declared["429"]], at)
        if response_at is None or not isinstance(response, dict):
            return
        headers = response.get("headers")
        if isinstance(headers, dict) and any(normalize_name(str(n)) == "retryafter" for n in headers):
            return
        retry_after = self._header("Retry-After", "retryafter", "integer")
        self._add((*response_at, "headers", "Retry-After"), New(retry_after))
        where = "its 429" if response_at == at else f"the 429 response #/{'/'.join(response_at)}"
        yield f"add a Retry-After header to {where}"

    # components ---------------------------------------------------------------------------------

    def _header_parameter(self, name: str, *, required: bool) -> dict[str, Any]:
        section = ("parameters",) if self.swagger2 else ("components", "parameters")
        for key, value in (self._get(section) or {}).items():
            _, parameter = self._deref(value, ())
            if (
                isinstance(parameter, dict)
                and parameter.get("in") == "header"
                and normalize_name(str(parameter.get("name", ""))) == normalize_name(name)
            ):
                return {"$ref": "#/" + "/".join((*section, str(key)))}
        inline = {"name": name, "in": "header", "required": required, "description": _DESCRIPTIONS[name]}
        return {**inline, "type": "string"} if self.swagger2 else {**inline, "schema": {"type": "string"}}

    def _header(self, name: str, normalized: str, kind: str) -> dict[str, Any]:
        """A response header object: a `$ref` to a component where the spec keeps them."""
        if self.swagger2:
            return {"description": _DESCRIPTIONS[name], "type": kind}
        inline = {"description": _DESCRIPTIONS[name], "schema": {"type": kind}}
        if not self.components:
            return inline
        return {"$ref": self._component("headers", normalized, name.replace("-", ""), inline)}

    def _throttled_response(self) -> dict[str, Any]:
        retry_after = self._header("Retry-After", "retryafter", "integer")
        inline = {"description": _DESCRIPTIONS["429"], "headers": {"Retry-After": retry_after}}
        if not self.components:
            return inline
        for key, value in (self._get(("components", "responses")) or {}).items():
            _, response = self._deref(value, ())
            headers = response.get("headers") if isinstance(response, dict) else None
            if isinstance(headers, dict) and any(normalize_name(str(n)) == "retryafter" for n in headers):
                return {"$ref": f"#/components/responses/{key}"}
        return {"$ref": self._component("responses", "429", "TooManyRequests", inline)}

    def _component(self, kind: str, role: str, preferred: str, value: dict[str, Any]) -> str:
        """The `$ref` of a component for `role`: an existing one by name, else a new one."""
        if (kind, role) in self._created:
            return self._created[(kind, role)]
        existing = self._get(("components", kind)) or {}
        for key in existing:
            if normalize_name(str(key)) == role:
                return f"#/components/{kind}/{key}"
        name, number = preferred, 1
        while find_key(existing, name) is not None:
            number += 1
            name = f"{preferred}{number}"
        self._add(("components", kind, name), New(value))
        self._created[(kind, role)] = ref = f"#/components/{kind}/{name}"
        return ref


def _same_template(paths: dict[Any, Any], path: str) -> Any:
    """`/orders/{order_id}` in the code is `/orders/{id}` in the spec."""
    shape = _TEMPLATE_PARAMETER.sub("{}", path)
    matches = [key for key in paths if _TEMPLATE_PARAMETER.sub("{}", str(key)) == shape]
    return matches[0] if len(matches) == 1 else None
