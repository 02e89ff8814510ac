"""The MCP server: race-mcp's tools, the rule catalog and the prompt files on an `MCPServer`.

A thin adapter. Each tool validates its input, calls a core function and returns the core's
pydantic model; every `RaceMcpError` becomes a `ToolError` whose text tells the model what to do.
`build_server()` wires everything; `serve()` picks the transport (stdio, or streamable HTTP on
loopback with Host/Origin checks, and a bearer token for anything else).

One module per tool (`_analyze.py`, `_openapi.py`, `_patch.py`, `_burst.py`), the roots in
`_workspace.py`, the transport in `_http.py`. Adding a tool: a module with `register_<tool>(server,
workspace)` and one line in `build_server()`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp.server import MCPServer

from .._prompt_files import find_prompts_dir
from .._version import __version__
from ..burst import BurstPolicy
from ..config import Settings, load_settings, validate_settings
from ..errors import PolicyError
from ..roots import AllowedRoots, allowed_roots
from ._analyze import register_analyze_file
from ._burst import register_run_burst
from ._catalog import register_prompt_files, register_rule_resources
from ._common import TOKEN_ENV
from ._http import BearerTokenMiddleware, is_loopback, serve_http, transport_security
from ._openapi import register_check_openapi
from ._patch import register_propose_patch
from ._work import shared_pool
from ._workspace import Workspace

__all__ = [
    "TOKEN_ENV",
    "BearerTokenMiddleware",
    "allowed_roots",
    "build_server",
    "is_loopback",
    "serve",
    "transport_security",
]


INSTRUCTIONS = """\
race-mcp finds race conditions in web API code: check-then-act and read-modify-write sequences \
that concurrent requests interleave, so a coupon is redeemed twice, a balance or stock goes \
negative, or a counter loses updates.

Call `analyze_file` whenever you review, write or change an HTTP handler (FastAPI, Starlette, Flask, \
Django, aiohttp...) that reads shared state and then updates it: balances, stock, coupons, quotas, \
rate limits, seats, votes, counters, one-time tokens. Each finding names a rule; read the resource \
`race://rules/{rule_id}` for why it is a race and the fixed pattern, and `race://rules` for the catalog. \
Findings are static suspicions with evidence lines: read the code before you claim a race is real. \
Files are only read inside the allowed roots (the workspace). The `audit_file` prompt runs a full audit.

To prove a suspected race against a server the user runs (local by default), `run_burst` sends a \
synchronised burst of real requests and judges whether more succeeded than may; it changes the \
server's state, so use it on test servers and with a reset request."""


# ----------------------------------------------------------------------------------------------
# Server assembly


def build_server(
    *,
    roots: AllowedRoots,
    settings: Settings,
    trust_client_roots: bool = True,
    prompts_dir: Path | None = None,
    burst_allow_hosts: Sequence[str] = (),
) -> MCPServer[Any]:
    """The race-mcp MCP server: tools, rule resources and the prompt files.

    `trust_client_roots=False` (for HTTP) keeps file access to `roots` whatever the client lists.
    `burst_allow_hosts` (from `--allow-burst-host`) adds hosts `run_burst` may target to the
    configured `[tool.race-mcp.burst] allow_hosts`; loopback is always allowed.
    """
    validate_settings(settings)  # an unknown rule selector must not silently turn every rule off
    server: MCPServer[Any] = MCPServer("race-mcp", version=__version__, instructions=INSTRUCTIONS)
    workspace = Workspace(roots=roots, settings=settings, trust_client_roots=trust_client_roots)
    register_analyze_file(server, workspace)
    register_check_openapi(server, workspace)
    register_propose_patch(server, workspace)
    register_run_burst(server, BurstPolicy.from_settings(settings, allow_hosts=burst_allow_hosts))
    register_rule_resources(server)
    register_prompt_files(server, prompts_dir or find_prompts_dir())
    return server


def configure_logging() -> None:
    """Everything to stderr: on stdio, stdout is the protocol."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="race-mcp %(levelname)s %(name)s: %(message)s"
    )


def serve(
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    roots: AllowedRoots | Sequence[str] = (),
    settings: Settings | None = None,
    allowed_hosts: Sequence[str] = (),
    burst_allow_hosts: Sequence[str] = (),
) -> None:
    """Run the server until the client disconnects (stdio) or the process is stopped (HTTP).

    Raises `PolicyError` for HTTP on a non-loopback host without a token (from `token` or the
    `RACE_MCP_TOKEN` environment variable), and `InputError` for a bad root or an unusable port.
    `roots` are extra root directories, or the `AllowedRoots` the caller already built from them
    (the CLI does, to refuse a bad --root before importing this module).
    `allowed_hosts` adds Host names clients may use on a non-loopback bind (e.g. a DNS name);
    `burst_allow_hosts` is a different list: hosts `run_burst` may send traffic to.
    """
    configure_logging()
    token = token or os.environ.get(TOKEN_ENV) or None
    if http and not is_loopback(host) and not token:
        raise PolicyError(
            f"refusing to serve HTTP on non-loopback host {host} without a token; "
            f"pass --token TOKEN or set {TOKEN_ENV}, or bind 127.0.0.1",
            code="token-required",
        )
    settings = settings or load_settings()
    if not isinstance(roots, AllowedRoots):
        roots = allowed_roots(roots, settings)
    server = build_server(
        roots=roots,
        settings=settings,
        trust_client_roots=not http,
        burst_allow_hosts=burst_allow_hosts,
    )
    shared_pool().start()  # the tools' worker processes: analysis never runs on the event loop
    if http:
        serve_http(server, host=host, port=port, token=token, extra_hosts=allowed_hosts)
    else:
        server.run()
