"""HTTP/2 single-packet attack (Kettle 2023, with the 2024 PING-first refinement).

Over TLS with ALPN `h2` or cleartext h2c with prior knowledge. The server's SETTINGS are read
before any stream opens, so `MAX_CONCURRENT_STREAMS` is known; more requests than one
connection allows are spread over several connections that are released together. Each
stream gets its HEADERS and all but the last body byte up front; the final DATA frame (one
byte, or empty with END_STREAM for bodiless requests) is withheld. After the hold every
connection is warmed with a PING and, once the PING is answered (so nothing is in flight and
Nagle sends at once), all final frames of a connection leave in one write, one TLS record,
one packet; the connections are released back to back from a loop that never yields.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from ..errors import BurstError
from ._exchange import Exchange, PreparedRequest, SendReport
from ._policy import BurstPolicy, Target
from ._wire import Wire, open_wire

__all__ = ["NotHttp2", "detect_h2", "send_h2"]

_PING = b"racemcp!"
_LOCAL_WINDOW = 2**24  # let the server send whole responses without waiting for our updates
_STATUS = re.compile(r"[1-9][0-9]{2}")  # ASCII only: str.isdigit() also takes "²00"


@dataclass
class _Stream:
    request: PreparedRequest
    exchange: Exchange = field(default_factory=Exchange)
    stream_id: int = 0
    final: bytes = b""


class NotHttp2(BurstError):
    """The server answered, but not in HTTP/2 (no ALPN `h2`, or HTTP/1 to the h2c preface)."""

    default_code = "not-http2"


class _Connection:
    """One HTTP/2 connection driven by h2 over a `Wire`."""

    def __init__(self, wire: Wire, streams: list[_Stream], limit: int) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.wire = wire
        self.streams: dict[int, _Stream] = {}
        self.pending = list(streams)
        self.limit = limit
        self.released = False
        self.ping_acked = anyio.Event()
        self.closed_reason: str | None = None
        self.settings_seen = False

    # -- plumbing --------------------------------------------------------------------------

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.wire.send(data)

    async def pump(self) -> bool:
        """Read once and handle what arrived; False once the connection is over."""
        if self.closed_reason is not None:
            return False
        data = await self.wire.receive()
        if not data:
            self._close_all("the server closed the connection mid-burst", "connection-lost")
            return False
        try:
            events = self.h2.receive_data(data)
        except (h2.exceptions.ProtocolError, ValueError) as exc:
            self._close_all(f"invalid HTTP/2 from the server: {_first_line(data) or exc}", "protocol-garbage")
            return False
        for event in events:
            self._handle(event)
        await self.flush()
        return self.closed_reason is None

    def _close_all(self, reason: str, code: str) -> None:
        self.closed_reason = reason
        for stream in [*self.streams.values(), *self.pending]:
            stream.exchange.fail(reason, code)

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acked.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._close_all(
                f"the server ended the connection (GOAWAY, error {event.error_code!s})", "connection-lost"
            )
        elif isinstance(event, h2.events.ResponseReceived) and event.stream_id in self.streams:
            self._on_response(self.streams[event.stream_id].exchange, event)
        elif isinstance(event, h2.events.DataReceived) and event.stream_id in self.streams:
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id in self.streams:
            self.streams[event.stream_id].exchange.complete = True
        elif isinstance(event, h2.events.StreamReset) and event.stream_id in self.streams:
            self.streams[event.stream_id].exchange.fail(
                f"the server reset the stream ({event.error_code!s})", "stream-reset"
            )

    def _on_response(self, exchange: Exchange, event: h2.events.ResponseReceived) -> None:
        exchange.response_ns = time.perf_counter_ns()
        exchange.early = not self.released
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in event.headers or []
        ]
        status = next((value for name, value in headers if name == ":status"), "")
        if not _STATUS.fullmatch(status):
            exchange.fail(f"invalid HTTP/2 response: :status {status[:20]!r}", "protocol-garbage")
            return
        exchange.status = int(status)
        exchange.headers = [(name, value) for name, value in headers if not name.startswith(":")]

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        exchange = self.streams[stream_id].exchange
        self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
        if not exchange.add_body(event.data or b"", self.limit):
            exchange.complete = True  # truncated at the read cap: judge what we have
            self.h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)

    def done(self) -> bool:
        return self.closed_reason is not None or all(
            stream.exchange.complete or stream.exchange.error for stream in self.streams.values()
        )

    # -- phases ----------------------------------------------------------------------------

    async def handshake(self) -> None:
        """Send our preface and SETTINGS, and read the server's SETTINGS before any stream."""
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _LOCAL_WINDOW,
            },
        )
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(_LOCAL_WINDOW)
        await self.flush()
        answered = b""
        while not self.settings_seen:
            data = await self.wire.receive()
            answered += data
            try:
                if not data:
                    raise h2.exceptions.ProtocolError("closed")
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError:
                what = f"it answered {_first_line(answered)!r}" if answered else "it closed the connection"
                raise NotHttp2(
                    f"{self.wire.target.label}: the server does not speak HTTP/2 ({what}); use mode h1"
                ) from None
            for event in events:
                self._handle(event)
            await self.flush()

    @property
    def max_streams(self) -> int:
        return int(self.h2.remote_settings.max_concurrent_streams)

    async def presend(self) -> None:
        """PING, then HEADERS and all but the final byte of each body; the final frames wait."""
        self.h2.ping(_PING)
        for stream in self.pending:
            stream.stream_id = self.h2.get_next_available_stream_id()
            self.streams[stream.stream_id] = stream
            request = stream.request
            self.h2.send_headers(stream.stream_id, _headers(request, self.wire.target), end_stream=False)
            await self._send_body(stream.stream_id, request.body[:-1])
            stream.final = request.body[-1:]
        self.pending = []
        await self.flush()

    async def _send_body(self, stream_id: int, data: bytes) -> None:
        while data:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                await self.flush()
                if not await self.pump():
                    return
                continue
            self.h2.send_data(stream_id, data[:window])
            data = data[window:]

    async def hold(self, seconds: float) -> None:
        """Keep reading (SETTINGS acks, early answers) for the hold, then until the finals fit."""
        with anyio.move_on_after(seconds):
            while await self.pump():
                pass
        for stream in self.streams.values():
            while self.closed_reason is None and self.h2.local_flow_control_window(stream.stream_id) < len(
                stream.final
            ):
                await self.pump()

    async def warm(self) -> None:
        """A PING answered: the path is idle, so the final write leaves at once even with Nagle on."""
        self.ping_acked = anyio.Event()
        self.h2.ping(_PING)
        await self.flush()
        while not self.ping_acked.is_set() and await self.pump():
            pass

    def seal_finals(self) -> bytes:
        """Every withheld final DATA frame of this connection, encrypted, as one block."""
        for stream in self.streams.values():
            if stream.exchange.error is not None:
                continue
            try:
                self.h2.send_data(stream.stream_id, stream.final, end_stream=True)
            except h2.exceptions.H2Error as exc:
                stream.exchange.fail(f"the stream was closed before the release: {exc}", "stream-reset")
        return self.wire.seal(self.h2.data_to_send())

    async def read_responses(self) -> None:
        while not self.done() and await self.pump():
            pass


def _headers(request: PreparedRequest, target: Target) -> list[tuple[str, str]]:
    headers = [
        (":method", request.method),
        (":scheme", target.scheme),
        (":authority", target.authority),
        (":path", request.target),
    ]
    headers += [(name.lower(), value) for name, value in request.headers]
    if request.body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        headers.append(("content-length", str(len(request.body))))
    return headers


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0][:60].decode("latin-1")


def _alpn_checked(wire: Wire) -> None:
    if wire.target.tls and wire.alpn != "h2":
        raise NotHttp2(
            f"{wire.target.label}: the server does not offer HTTP/2 over TLS "
            f"(ALPN chose {wire.alpn or 'nothing'}); use mode h1"
        )


async def _open(
    target: Target, policy: BurstPolicy, context: ssl.SSLContext | None, streams: list[_Stream]
) -> _Connection:
    wire = await open_wire(target, ssl_context=context, timeout=policy.connect_timeout, nodelay=False)
    try:
        _alpn_checked(wire)
        connection = _Connection(wire, streams, policy.max_response_bytes)
        with anyio.fail_after(policy.connect_timeout):
            await connection.handshake()
    except TimeoutError:
        wire.close()
        raise BurstError(
            f"{target.label}: no HTTP/2 SETTINGS within {policy.connect_timeout:g} s", code="no-response"
        ) from None
    except BaseException:
        wire.close()
        raise
    return connection


async def detect_h2(target: Target, policy: BurstPolicy, context: ssl.SSLContext | None) -> bool:
    """Does the server speak HTTP/2 (ALPN over TLS, prior knowledge in cleartext)?"""
    try:
        connection = await _open(target, policy, context, [])
    except NotHttp2:
        return False
    connection.wire.close()
    return True


async def send_h2(
    target: Target,
    requests: Sequence[PreparedRequest],
    *,
    hold: float,
    policy: BurstPolicy,
    ssl_context: ssl.SSLContext | None,
) -> SendReport:
    """Send `requests` as HTTP/2 streams whose final frames are released in one packet per connection."""
    streams = [_Stream(request) for request in requests]
    first = await _open(target, policy, ssl_context, [])
    connections = [first]
    try:
        per_connection = max(1, min(first.max_streams, len(streams)))
        groups = [streams[start : start + per_connection] for start in range(0, len(streams), per_connection)]
        first.pending = groups[0]
        if len(groups) > 1:
            await _open_more(target, policy, ssl_context, groups[1:], connections)
        with anyio.fail_after(policy.response_timeout):
            await _each(connections, _Connection.presend)
            await _each(connections, lambda connection: connection.hold(hold))
            await _each(connections, _Connection.warm)
        released, leftovers = _release(connections)
        with anyio.move_on_after(policy.response_timeout):
            for connection, rest in leftovers:
                await connection.wire.send_raw(rest)
            await _each(connections, _Connection.read_responses)
    except TimeoutError:
        raise BurstError(
            f"{target.label}: the server stopped answering while the burst was prepared", code="no-response"
        ) from None
    finally:
        for connection in connections:
            connection.wire.close()
    for stream in streams:
        stream.exchange.fail(f"no response within {policy.response_timeout:g} s", "no-response")
    return SendReport(
        exchanges=[stream.exchange for stream in streams], release_ns=released, connections=len(connections)
    )


async def _open_more(
    target: Target,
    policy: BurstPolicy,
    context: ssl.SSLContext | None,
    groups: list[list[_Stream]],
    into: list[_Connection],
) -> None:
    failures: list[BurstError] = []

    async def open_one(group: list[_Stream]) -> None:
        try:
            into.append(await _open(target, policy, context, group))
        except BurstError as exc:  # raised below as itself, not inside an exception group
            failures.append(exc)

    async with anyio.create_task_group() as task_group:
        for group in groups:
            task_group.start_soon(open_one, group)
    if failures:
        raise failures[0]


async def _each(
    connections: Sequence[_Connection], step: Callable[[_Connection], Coroutine[Any, Any, None]]
) -> None:
    async def guarded(connection: _Connection) -> None:
        try:
            await step(connection)
        except BurstError as exc:  # a lost connection fails its own streams, not the burst
            connection._close_all(str(exc), exc.code)

    async with anyio.create_task_group() as task_group:
        for connection in connections:
            task_group.start_soon(guarded, connection)


def _release(connections: Sequence[_Connection]) -> tuple[list[int], list[tuple[_Connection, bytes]]]:
    """Seal every connection's finals first, then hand them to the kernel back to back."""
    sealed = [connection.seal_finals() for connection in connections]
    released: list[int] = []
    leftovers: list[tuple[_Connection, bytes]] = []
    for connection, data in zip(connections, sealed, strict=True):
        connection.released = True
        try:
            rest = connection.wire.send_now(data)
        except BurstError as exc:
            connection._close_all(str(exc), exc.code)
            continue
        now = time.perf_counter_ns()
        released.append(now)
        for stream in connection.streams.values():
            stream.exchange.released_ns = now
        if rest:
            leftovers.append((connection, rest))
    return released, leftovers
