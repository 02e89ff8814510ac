"""The naive burst: N httpx requests started together from an anyio task group.

This is what most scripts do, and the baseline the synchronised modes are measured against.
It still goes to the pinned address (the name travels as `Host` and SNI) and never follows
redirects. Each request's send time is the moment httpcore finished writing its body.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from ._exchange import Exchange, PreparedRequest, SendReport
from ._policy import BurstPolicy, Target

__all__ = ["send_naive"]

_SENT_EVENTS = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})


def _origin(target: Target) -> str:
    address = f"[{target.address}]" if ":" in target.address else target.address
    return f"{target.scheme}://{address}:{target.port}"


async def _one(
    client: httpx.AsyncClient, target: Target, request: PreparedRequest, exchange: Exchange, limit: int
) -> None:
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event in _SENT_EVENTS:
            exchange.released_ns = time.perf_counter_ns()

    extensions: dict[str, Any] = {"trace": trace}
    if target.tls and not target.host_is_ip:
        extensions["sni_hostname"] = target.host
    outgoing = client.build_request(
        request.method,
        _origin(target) + request.target,
        headers=[("Host", target.authority), *request.headers],
        content=request.body or None,
        extensions=extensions,
    )
    try:
        response = await client.send(outgoing, stream=True)
        try:
            exchange.response_ns = time.perf_counter_ns()
            exchange.status = response.status_code
            exchange.headers = list(response.headers.multi_items())
            async for chunk in response.aiter_bytes():
                if not exchange.add_body(chunk, limit):
                    break
            exchange.complete = True
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        exchange.fail("no response in time", "no-response")
    except httpx.ConnectError as exc:
        exchange.fail(f"{target.label}: cannot connect: {exc or 'ConnectError'}", "connect-failed")
    except httpx.HTTPError as exc:
        exchange.fail(f"{type(exc).__name__}: {exc or 'request failed'}", "protocol-garbage")
    except ValueError as exc:  # h11 under httpx turning a 5,000-digit Content-Length into an int
        exchange.fail(f"invalid HTTP/1.1 response: {str(exc)[:80]}", "protocol-garbage")


async def send_naive(
    target: Target,
    requests: Sequence[PreparedRequest],
    *,
    hold: float,
    policy: BurstPolicy,
    ssl_context: ssl.SSLContext | None,
) -> SendReport:
    """Start every request at once on its own connection; no byte is held back (`hold` is unused)."""
    exchanges = [Exchange() for _ in requests]
    timeout = httpx.Timeout(policy.response_timeout, connect=policy.connect_timeout)
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    # httpx's timeouts are per read: a server trickling a byte at a time would never trip them.
    whole = policy.connect_timeout + policy.response_timeout
    async with httpx.AsyncClient(
        verify=ssl_context if ssl_context is not None else True,
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
        limits=limits,
    ) as client:
        with anyio.move_on_after(whole):
            async with anyio.create_task_group() as group:
                for request, exchange in zip(requests, exchanges, strict=True):
                    group.start_soon(_one, client, target, request, exchange, policy.max_response_bytes)
    for exchange in exchanges:
        exchange.fail(f"no complete response within {whole:g} s", "no-response")
    released = [exchange.released_ns for exchange in exchanges if exchange.released_ns is not None]
    return SendReport(exchanges=exchanges, release_ns=released, connections=len(requests))
