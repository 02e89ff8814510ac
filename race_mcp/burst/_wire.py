"""One connection on a socket we own: non-blocking TCP, optional TLS through memory BIOs.

Owning the socket (rather than an anyio stream) is what makes the synchronised release
possible: `seal()` encrypts the withheld bytes ahead of time, and `send_now()` hands them to
the kernel in one non-blocking `send` with no await in between, so a release loop over many
connections runs without yielding to the event loop. Everything else awaits readiness through
anyio, so cancellation stops a wait at once and `close()` always releases the socket.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import ssl
from types import TracebackType

import anyio

from ..errors import BurstError
from ._policy import Target

__all__ = ["Wire", "open_wire", "pin_reachable"]

_READ_SIZE = 65_536


class Wire:
    """A connected socket, TLS-wrapped when the target is https."""

    def __init__(self, sock: socket.socket, target: Target) -> None:
        self._sock = sock
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._closed = False
        self.target = target
        self.alpn: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Wire:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # no event loop any more (interpreter shutdown)
            anyio.notify_closing(self._sock)
        self._sock.close()

    def set_nodelay(self, enabled: bool) -> None:
        """TCP_NODELAY on (every write its own packet) or off (Nagle coalesces writes)."""
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(enabled))

    # -- sending ---------------------------------------------------------------------------

    def seal(self, data: bytes) -> bytes:
        """The bytes that carry `data` on the wire (TLS records when encrypted), not yet sent."""
        if self._tls is None:
            return data
        self._tls.write(data)
        return self._outgoing.read()

    def send_now(self, raw: bytes) -> bytes:
        """One non-blocking `send` of sealed bytes; returns what the kernel did not take."""
        try:
            sent = self._sock.send(raw)
        except BlockingIOError:
            return raw
        except OSError as exc:
            raise BurstError(
                f"{self.target.label}: connection lost while sending: {_describe(exc)}",
                code="connection-lost",
            ) from None
        return raw[sent:]

    async def send_raw(self, raw: bytes) -> None:
        """Send sealed bytes completely, waiting for the socket to drain when it is full."""
        view = memoryview(raw)
        while view:
            remaining = self.send_now(bytes(view))
            view = view[len(view) - len(remaining) :]
            if view:
                await anyio.wait_writable(self._sock)

    async def send(self, data: bytes) -> None:
        await self.send_raw(self.seal(data))

    # -- receiving -------------------------------------------------------------------------

    async def _recv_raw(self) -> bytes:
        while True:
            try:
                return self._sock.recv(_READ_SIZE)
            except BlockingIOError:
                await anyio.wait_readable(self._sock)
            except OSError as exc:
                raise BurstError(
                    f"{self.target.label}: connection lost: {_describe(exc)}", code="connection-lost"
                ) from None

    async def receive(self) -> bytes:
        """The next decrypted bytes; b"" once the peer has closed the connection."""
        if self._tls is None:
            return await self._recv_raw()
        while True:
            try:
                return self._tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError as exc:
                raise BurstError(
                    f"{self.target.label}: TLS error: {exc.reason or exc}", code="tls-failed"
                ) from None
            await self._flush_tls()
            raw = await self._recv_raw()
            if raw:
                self._incoming.write(raw)
            else:
                self._incoming.write_eof()

    def readable_now(self) -> bool:
        """True when the peer has already sent something (or closed) without being asked."""
        if self._tls is not None and self._tls.pending():
            return True
        try:
            self._sock.recv(1, socket.MSG_PEEK)  # data, or b"" for a close: either way unasked
        except BlockingIOError:
            return False
        except OSError:
            pass
        return True

    # -- TLS -------------------------------------------------------------------------------

    async def _flush_tls(self) -> None:
        pending = self._outgoing.read()
        if pending:
            await self.send_raw(pending)

    async def _start_tls(self, context: ssl.SSLContext) -> None:
        # Python sends no SNI for an IP address but still checks it against the certificate.
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=self.target.host)
        while not await self._handshake_step(self._tls):
            pass
        await self._flush_tls()
        self.alpn = self._tls.selected_alpn_protocol()

    async def _handshake_step(self, tls: ssl.SSLObject) -> bool:
        """One round of the handshake; True when it is complete."""
        label = self.target.label
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLCertVerificationError as exc:
            raise BurstError(
                f"{label}: TLS certificate rejected: {exc.verify_message or exc.reason}; trust its CA "
                "with [tool.race-mcp.burst] ca_file, or turn verification off for a test host",
                code="tls-certificate",
            ) from None
        except ssl.SSLError as exc:
            raise BurstError(
                f"{label}: TLS handshake failed: {exc.reason or exc}", code="tls-failed"
            ) from None
        else:
            return True
        await self._flush_tls()
        raw = await self._recv_raw()
        if not raw:
            raise BurstError(
                f"{label}: TLS handshake failed: the server closed the connection", code="tls-failed"
            )
        self._incoming.write(raw)
        return False


async def _connect(target: Target, timeout: float) -> socket.socket:
    try:
        sock = socket.socket(target.family, socket.SOCK_STREAM)
    except OSError as exc:  # e.g. IPv6 switched off on this machine
        raise BurstError(f"{target.label}: cannot connect: {_describe(exc)}", code="connect-failed") from None
    sock.setblocking(False)
    try:
        with anyio.fail_after(timeout):
            try:
                sock.connect((target.address, target.port))
            except BlockingIOError:
                await anyio.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
    except TimeoutError:
        sock.close()
        raise BurstError(
            f"{target.label}: no connection within {timeout:g} s (host unreachable?)", code="connect-failed"
        ) from None
    except OSError as exc:
        sock.close()
        raise BurstError(f"{target.label}: cannot connect: {_describe(exc)}", code="connect-failed") from None
    except BaseException:
        sock.close()
        raise
    return sock


async def open_wire(
    target: Target, *, ssl_context: ssl.SSLContext | None, timeout: float, nodelay: bool = True
) -> Wire:
    """Connect to the pinned address (and finish the TLS handshake, SNI = the host name)."""
    sock = await _connect(target, timeout)
    wire = Wire(sock, target)
    try:
        wire.set_nodelay(nodelay)
        if target.tls:
            if ssl_context is None:
                raise BurstError(f"{target.label}: no TLS context for an https target", code="tls-failed")
            with anyio.fail_after(timeout):
                await wire._start_tls(ssl_context)
    except TimeoutError:
        wire.close()
        raise BurstError(
            f"{target.label}: TLS handshake did not finish within {timeout:g} s", code="tls-failed"
        ) from None
    except BaseException:
        wire.close()
        raise
    return wire


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


async def pin_reachable(target: Target, timeout: float) -> Target:
    """Pin the first checked address that accepts a TCP connection (only tried when there are several)."""
    if len(target.addresses) < 2:
        return target
    failures: list[str] = []
    for address in target.addresses:
        candidate = dataclasses.replace(target, address=address)
        try:
            sock = await _connect(candidate, timeout)
        except BurstError as exc:
            failures.append(str(exc))
            continue
        sock.close()
        return candidate
    raise BurstError("; ".join(failures), code="connect-failed")
