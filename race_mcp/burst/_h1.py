"""HTTP/1.1 last-byte synchronisation.

One connection per request (TCP_NODELAY on, so each write leaves at once). Everything but the
last byte of each request is sent first; after the hold the last bytes, encrypted beforehand,
go out from one loop of non-blocking sends that never yields to the event loop. Framing and
response parsing are h11's; the sockets are ours (`_wire`).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import h11

from ..errors import BurstError, InputError
from ._exchange import Exchange, PreparedRequest, SendReport
from ._policy import BurstPolicy, Target
from ._wire import Wire, open_wire

__all__ = ["send_h1"]

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})


@dataclass
class _Slot:
    """One request on its own connection."""

    request: PreparedRequest
    exchange: Exchange = field(default_factory=Exchange)
    parser: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    wire: Wire | None = None
    present: bool = False  # everything but the last byte has been sent


def _serialise(slot: _Slot, target: Target) -> bytes:
    request = slot.request
    headers = [("Host", target.authority), *request.headers]
    if request.body or request.method not in _BODYLESS_METHODS:
        headers.append(("Content-Length", str(len(request.body))))
    try:
        data = slot.parser.send(h11.Request(method=request.method, target=request.target, headers=headers))
        if request.body:
            data += slot.parser.send(h11.Data(data=request.body)) or b""
        data += slot.parser.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError as exc:
        raise InputError(f"cannot form an HTTP/1.1 request: {exc}", code="bad-request") from None
    return data or b""


async def _connect(slot: _Slot, target: Target, policy: BurstPolicy, context: ssl.SSLContext | None) -> None:
    try:
        slot.wire = await open_wire(target, ssl_context=context, timeout=policy.connect_timeout)
    except BurstError as exc:
        slot.exchange.fail(str(exc), exc.code)


async def _send(slot: _Slot, data: bytes) -> None:
    if slot.wire is None:
        return
    try:
        if data:
            await slot.wire.send(data)
    except BurstError as exc:
        slot.exchange.fail(str(exc), exc.code)
    slot.present = True


async def _read_response(slot: _Slot, limit: int) -> None:
    wire, exchange = slot.wire, slot.exchange
    if wire is None or exchange.error is not None:
        return
    try:
        await _read_events(slot.parser, wire, exchange, limit)
    except h11.RemoteProtocolError as exc:
        closed = slot.parser.their_state is h11.CLOSED or "ConnectionClosed" in str(exc)
        if closed:
            exchange.fail("the server closed the connection mid-response", "connection-lost")
        else:
            exchange.fail(f"invalid HTTP/1.1 response: {exc}", "protocol-garbage")
    except ValueError as exc:  # h11 turning a header such as a 5,000-digit Content-Length into int
        exchange.fail(f"invalid HTTP/1.1 response: {str(exc)[:80]}", "protocol-garbage")
    except BurstError as exc:
        exchange.fail(str(exc), exc.code)


async def _read_events(parser: h11.Connection, wire: Wire, exchange: Exchange, limit: int) -> None:
    """Feed h11 until the response ends. Every pass either awaits the socket or consumes an event,
    and any state h11 cannot go on from (PAUSED after a protocol switch) ends the exchange."""
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            data = await wire.receive()
            if not data and exchange.status is None:
                exchange.fail("the server closed the connection without a response", "connection-lost")
                return
            parser.receive_data(data)
        elif isinstance(event, h11.InformationalResponse):
            continue  # 100 Continue and friends: the real answer follows
        elif isinstance(event, h11.Response):
            exchange.response_ns = time.perf_counter_ns()
            exchange.status = event.status_code
            exchange.headers = [
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers
            ]
        elif isinstance(event, h11.Data):
            if not exchange.add_body(bytes(event.data), limit):
                exchange.complete = True  # truncated at the read cap: judge what we have
                return
        elif isinstance(event, h11.EndOfMessage):
            exchange.complete = True
            return
        elif isinstance(event, h11.ConnectionClosed):
            exchange.fail("the server closed the connection without a response", "connection-lost")
            return
        else:  # h11.PAUSED: the server switched protocols (a 101, or a tunnel); no HTTP answer follows
            exchange.fail(
                "the server switched the connection to another protocol instead of answering",
                "protocol-garbage",
            )
            return


def _release(slots: Sequence[_Slot], finals: Sequence[bytes]) -> tuple[list[int], list[tuple[_Slot, bytes]]]:
    """The tight loop: one non-blocking send per connection, no await between them."""
    released: list[int] = []
    leftovers: list[tuple[_Slot, bytes]] = []
    for slot, sealed in zip(slots, finals, strict=True):
        if slot.wire is None or slot.exchange.error is not None:
            continue
        try:
            rest = slot.wire.send_now(sealed)
        except BurstError as exc:
            slot.exchange.fail(str(exc), exc.code)
            continue
        now = time.perf_counter_ns()
        slot.exchange.released_ns = now
        released.append(now)
        if rest:
            leftovers.append((slot, rest))
    return released, leftovers


async def send_h1(
    target: Target,
    requests: Sequence[PreparedRequest],
    *,
    hold: float,
    policy: BurstPolicy,
    ssl_context: ssl.SSLContext | None,
) -> SendReport:
    """Send `requests` over one connection each; with `hold` > 0, synchronise their last bytes."""
    slots = [_Slot(request) for request in requests]
    payloads = [_serialise(slot, target) for slot in slots]
    try:
        async with anyio.create_task_group() as group:
            for slot in slots:
                group.start_soon(_connect, slot, target, policy, ssl_context)
        if all(slot.wire is None for slot in slots):
            raise BurstError(
                slots[0].exchange.error or f"{target.label}: cannot connect",
                code=slots[0].exchange.error_code or "connect-failed",
            )
        # A server that stops reading would hold a big body's send for ever: bound it.
        with anyio.move_on_after(policy.response_timeout):
            async with anyio.create_task_group() as group:
                for slot, payload in zip(slots, payloads, strict=True):
                    group.start_soon(_send, slot, payload[:-1])
        _fail_unsent(slots, policy)
        await anyio.sleep(hold)
        for slot in slots:
            if slot.wire is not None and slot.wire.readable_now():
                slot.exchange.early = True
        finals = [
            slot.wire.seal(payload[-1:]) if slot.wire else b""
            for slot, payload in zip(slots, payloads, strict=True)
        ]
        released, leftovers = _release(slots, finals)
        with anyio.move_on_after(policy.response_timeout):
            for slot, rest in leftovers:
                await _send_sealed(slot, rest)
        with anyio.move_on_after(policy.response_timeout):
            async with anyio.create_task_group() as group:
                for slot in slots:
                    group.start_soon(_read_response, slot, policy.max_response_bytes)
        for slot in slots:
            slot.exchange.fail(f"no response within {policy.response_timeout:g} s", "no-response")
    finally:
        for slot in slots:
            if slot.wire is not None:
                slot.wire.close()
    return SendReport(
        exchanges=[slot.exchange for slot in slots], release_ns=released, connections=len(slots)
    )


async def _send_sealed(slot: _Slot, sealed: bytes) -> None:
    assert slot.wire is not None
    try:
        await slot.wire.send_raw(sealed)
    except BurstError as exc:
        slot.exchange.fail(str(exc), exc.code)


def _fail_unsent(slots: Sequence[_Slot], policy: BurstPolicy) -> None:
    """Slots whose pre-send did not finish in time: the server stopped reading."""
    for slot in slots:
        if slot.wire is not None and not slot.present:
            slot.exchange.fail(
                f"the server did not take the request within {policy.response_timeout:g} s", "no-response"
            )
