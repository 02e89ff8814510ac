"""Streamable HTTP: loopback by default, Host/Origin checks, a bearer token for anything else."""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InputError
from ._common import logger

# ----------------------------------------------------------------------------------------------
# Transports


_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); host names count as remote."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_literal(host: str) -> str:
    """How `host` appears in a Host header: IPv6 addresses in brackets."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def _allowed_names(host: str, extra_hosts: Sequence[str]) -> list[str]:
    """The bind host (unless a wildcard), the loopback names and `extra_hosts`, as Host literals."""
    wildcard = host.strip("[]") in _WILDCARD_HOSTS
    names = [*([] if wildcard else [_host_literal(host)]), "127.0.0.1", "localhost", "[::1]", *extra_hosts]
    return list(dict.fromkeys(names))


def transport_security(host: str, extra_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """The SDK's Host/Origin allowlist: a second line behind `HostOriginGuard`, which compares exactly
    (the SDK's `name:*` patterns match by prefix, so `http://localhost:80.evil.com` would pass them)."""
    names = _allowed_names(host, extra_hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[pattern for name in names for pattern in (name, f"{name}:*")],
        allowed_origins=[
            f"{scheme}://{name}{port}"
            for name in names
            for scheme in ("http", "https")
            for port in ("", ":*")
        ],
    )


# ----------------------------------------------------------------------------------------------
# DNS rebinding: Host and Origin compared by their parts, never by string prefix

# host (a name or a bracketed IPv6 address) and an optional port; nothing else (no userinfo, path).
_AUTHORITY = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?"
)
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#@\\]*)")


def authority_host(authority: str) -> str | None:
    """The host of `host[:port]` (port 1-65535), or None when it is not exactly that. Compared as
    spelt: browsers send Host and Origin lowercase and IPv6 compressed, as the allowlist has them."""
    match = _AUTHORITY.fullmatch(authority)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        return None
    return match["host"]


def origin_host(origin: str) -> str | None:
    """The host of an `http(s)://host[:port]` Origin, or None for anything else
    (`null`, other schemes, userinfo, a path, a host with a suffix after the port)."""
    match = _ORIGIN.fullmatch(origin)
    if match is None or match["scheme"] not in ("http", "https"):
        return None
    return authority_host(match["authority"])


class HostOriginGuard:
    """Answer 421 to a Host and 403 to an Origin that does not name an allowed host exactly.

    A request without Origin (a non-browser client) passes; `Origin: null` (a sandboxed page or a
    local file) does not. Any port is accepted, as a browser tool on another local port is fine.
    """

    def __init__(self, app: ASGIApp, names: Iterable[str]) -> None:
        self._app = app
        self._names = set(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _refusal(self, headers: Headers) -> PlainTextResponse | None:
        if authority_host(headers.get("host", "")) not in self._names:
            logger.warning("refused a request with Host %r", headers.get("host", "")[:200])
            return PlainTextResponse("Invalid Host header\n", status_code=421)
        origin = headers.get("origin")
        if origin is not None and origin_host(origin) not in self._names:
            logger.warning("refused a request with Origin %r", origin[:200])
            return PlainTextResponse("Invalid Origin header\n", status_code=403)
        return None


# ----------------------------------------------------------------------------------------------
# A client that goes away: HTTP/1.1 sessions do not cancel the call it was waiting for


CLIENT_GONE = "race_mcp.client_gone"


class DisconnectWatch:
    """Put an `anyio.Event` in each HTTP request's scope state, set when the client disconnects.

    On the handshake-era streamable HTTP wire the SDK keeps running a tool call whose POST stream
    the client dropped; the tools wait on this event and stop their work (see `_work.py`). The SSE
    response listens for the disconnect itself, so the event is set as soon as the socket closes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        gone = anyio.Event()
        scope.setdefault("state", {})[CLIENT_GONE] = gone

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
            return message

        await self._app(scope, watched, send)


class BearerTokenMiddleware:
    """Answer 401 to any HTTP request without `Authorization: Bearer <token>` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(Headers(scope=scope)):
            response = PlainTextResponse(
                "missing or wrong bearer token\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="race-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        valid = hmac.compare_digest(credentials.strip().encode(), self._token)
        return scheme.lower() == "bearer" and valid


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        raise InputError(
            f"cannot listen on {_host_literal(host)}:{port}: {exc.strerror or exc}", code="cannot-listen"
        ) from None


def serve_http(
    server: MCPServer[Any], *, host: str, port: int, token: str | None, extra_hosts: Sequence[str]
) -> None:
    app: ASGIApp = server.streamable_http_app(
        host=host, transport_security=transport_security(host, extra_hosts)
    )
    app = HostOriginGuard(DisconnectWatch(app), _allowed_names(host, extra_hosts))
    if token:
        app = BearerTokenMiddleware(app, token)
    if host.strip("[]") in _WILDCARD_HOSTS and not extra_hosts:
        logger.warning(
            "bound to every interface, but only loopback Host names are accepted; "
            "pass --allow-host NAME for each name remote clients use to reach this machine"
        )
    listener = _listen(host, port)
    bound_port = listener.getsockname()[1]
    logger.info(
        "serving MCP over streamable HTTP at http://%s:%d/mcp%s",
        _host_literal(host),
        bound_port,
        " (bearer token required)" if token else "",
    )
    # log_config=None: uvicorn logs through our stderr handler instead of printing access logs to stdout.
    config = uvicorn.Config(app, log_config=None, lifespan="on")
    uvicorn.Server(config).run(sockets=[listener])
