"""Turn a `BurstSpec` into requests: URL, headers, cookies, body or a raw request file, templated.

`{{i}}` (the request's 0-based index in its burst) and `{{uuid}}` (a fresh UUID4) may appear in
the path, query, header values, cookie values and body, for fields that must differ per request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import InputError
from ._exchange import PreparedRequest
from ._json import dumps_user

__all__ = ["RequestTemplate", "aux_template", "burst_template", "default_method", "parse_raw_request"]

# Headers each sender sets itself, or that would break the framing it controls.
_MANAGED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "http2-settings",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PLACEHOLDER = re.compile(r"\{\{\s*(i|uuid)\s*\}\}")
_UUID_CHARS = 36
# A burst needs plain request-response exchanges; CONNECT turns the connection into a tunnel.
_TUNNEL_METHODS = frozenset({"CONNECT"})
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")


def _render(text: str, index: int) -> str:
    return _PLACEHOLDER.sub(lambda match: str(index) if match.group(1) == "i" else str(uuid.uuid4()), text)


def _rendered_bytes(text: str, index: int) -> int:
    """The UTF-8 size of `text` once rendered for request `index`, without rendering it."""
    size = 0
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        size += len(text[position : match.start()].encode("utf-8"))
        size += len(str(index)) if match.group(1) == "i" else _UUID_CHARS
        position = match.end()
    return size + len(text[position:].encode("utf-8"))


def default_method(*, has_body: bool) -> str:
    """POST when the request carries a body, GET otherwise (what the CLI and curl do)."""
    return "POST" if has_body else "GET"


@dataclass(frozen=True)
class RequestTemplate:
    """A request whose placeholders are filled per copy."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def body_bytes(self, index: int) -> int:
        """The size of request `index`'s body as sent (placeholders filled in)."""
        return _rendered_bytes(self.body, index)

    def head_bytes(self, index: int) -> int:
        """The size of request `index`'s request line and headers, about as sent over HTTP/1.1."""
        line = len(self.method) + _rendered_bytes(self.target, index) + 12
        return line + sum(len(name) + _rendered_bytes(value, index) + 4 for name, value in self.headers)

    def render(self, index: int) -> PreparedRequest:
        return PreparedRequest(
            method=self.method,
            target=_render(self.target, index),
            headers=tuple((name, _render(value, index)) for name, value in self.headers),
            body=_render(self.body, index).encode("utf-8"),
        )


def parse_raw_request(text: str) -> tuple[str, str, list[tuple[str, str]], str]:
    """Method, target, headers and body of a raw HTTP request (CRLF or LF line ends)."""
    head, separator, body = text.replace("\r\n", "\n").partition("\n\n")
    if not separator:
        head, body = head.rstrip("\n"), ""
    lines = head.lstrip("\n").split("\n")
    parts = lines[0].split()
    if len(parts) not in (2, 3):
        raise InputError(
            f"raw request: the first line must be 'METHOD /path HTTP/1.1', got {lines[0][:80]!r}",
            code="bad-raw-request",
        )
    method, target = parts[0], parts[1]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InputError(f"raw request: not a header line: {line[:80]!r}", code="bad-raw-request")
        headers.append((name.strip(), value.strip()))
    declared = next((value for name, value in headers if name.lower() == "content-length"), None)
    if declared is not None and _CONTENT_LENGTH.fullmatch(declared):
        # Editors add a trailing newline; the declared length says where the body really ends.
        encoded = body.encode("utf-8")
        body = encoded[: int(declared)].decode("utf-8", "replace")
    if target.startswith(("http://", "https://")):
        absolute = urlsplit(target)
        target = (absolute.path or "/") + (f"?{absolute.query}" if absolute.query else "")
    return method, target, headers, body


def _url_target(url: str) -> str:
    parts = urlsplit(url.strip())
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _check_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise InputError(f"header name {name[:80]!r} is not a valid HTTP token", code="bad-header")
        if any(char in value for char in "\r\n\0"):
            raise InputError(f"header {name!r}: the value must not contain line breaks", code="bad-header")
        if name.lower() not in _MANAGED_HEADERS:
            kept.append((name, value))
    return tuple(kept)


def _encode_body(body: str | None, json_body: Any, form: dict[str, str] | None) -> tuple[str, str | None]:
    """The body text and the content type it implies (None: leave it to the user's headers)."""
    given = [
        kind
        for kind, value in (("body", body), ("json_body", json_body), ("form", form))
        if value is not None
    ]
    if len(given) > 1:
        raise InputError(f"give one request body, not {' and '.join(given)}", code="bad-body")
    if json_body is not None:
        return dumps_user(json_body, "json_body"), "application/json"
    if form is not None:
        return urlencode(form), "application/x-www-form-urlencoded"
    return body or "", None


def _assemble(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    cookies: dict[str, str],
    body: str,
    content_type: str | None,
) -> RequestTemplate:
    method = method.strip().upper()
    if not _TOKEN.fullmatch(method):
        raise InputError(f"{method[:40]!r} is not a valid HTTP method", code="bad-method")
    if method in _TUNNEL_METHODS:
        raise InputError(
            f"{method} opens a tunnel instead of sending a request, so a burst cannot judge it; "
            "burst the request you would send through the tunnel",
            code="method-not-supported",
        )
    if not target.startswith("/") or any(char in target for char in " \r\n\0"):
        raise InputError(
            f"{target[:80]!r}: the request target must be a path starting with '/' without spaces",
            code="bad-url",
        )
    names = {name.lower() for name, _ in headers}
    if content_type and "content-type" not in names:
        headers.append(("Content-Type", content_type))
    if cookies:
        jar = "; ".join(f"{name}={value}" for name, value in cookies.items())
        headers = [(name, value) for name, value in headers if name.lower() != "cookie"]
        headers.append(("Cookie", jar))
    return RequestTemplate(method=method, target=target, headers=_check_headers(headers), body=body)


def burst_template(
    *,
    url: str,
    method: str | None,
    headers: dict[str, str],
    cookies: dict[str, str],
    body: str | None,
    json_body: Any,
    form: dict[str, str] | None,
    raw_request: str | None,
) -> RequestTemplate:
    """The burst's request; a raw request supplies method, path, headers and body, the URL the origin.

    Without a method: POST when a body is given, GET otherwise. Sizes are checked by the caller,
    on the rendered request (`body_bytes`, `head_bytes`), since placeholders change them.
    """
    if raw_request is not None:
        raw_method, target, raw_headers, raw_body = parse_raw_request(raw_request)
        if method is not None and method.strip().upper() != raw_method.upper():
            raise InputError(
                f"method {method[:40]!r} differs from raw_request's {raw_method[:40]!r}: give it once",
                code="bad-method",
            )
        merged = [*raw_headers, *headers.items()]
        return _assemble(raw_method, target, merged, cookies, raw_body, None)
    text, content_type = _encode_body(body, json_body, form)
    has_body = any(value is not None for value in (body, json_body, form))
    chosen = method if method is not None else default_method(has_body=has_body)
    return _assemble(chosen, _url_target(url), list(headers.items()), cookies, text, content_type)


def aux_template(
    *, url: str, method: str, body: str | None, json_body: Any, base: RequestTemplate
) -> RequestTemplate:
    """A reset or probe request that carries the burst's headers (auth, cookies) but its own body."""
    text, content_type = _encode_body(body, json_body, None)
    inherited = [(name, value) for name, value in base.headers if name.lower() != "content-type"]
    return _assemble(method, _url_target(url), inherited, {}, text, content_type)
