"""Streamable HTTP: loopback by default, Host/Origin checks, a bearer token for anything else."""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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


def transport_security(host: str, extra_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """Host/Origin allowlist against DNS rebinding: the bind host, loopback names and `extra_hosts`."""
    wildcard = host.strip("[]") in _WILDCARD_HOSTS
    names = [*([] if wildcard else [_host_literal(host)]), "127.0.0.1", "localhost", "[::1]", *extra_hosts]
    names = list(dict.fromkeys(names))
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
