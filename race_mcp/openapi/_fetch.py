"""GET one allowlisted remote `$ref` document with a hard deadline and a byte cap.

An HTTP client's timeouts bound each read, not the whole response: a server that sends one byte
every few seconds keeps a 10 s read timeout happy forever. Here every socket operation waits at
most until the fetch's deadline, so the fetch ends by then whatever the server does. HTTP/1.1 only
(h11 frames it), no redirects, no proxies, no compression: a `$ref` target is a static file.
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlsplit

import h11

from ..errors import InputError

__all__ = ["fetch_remote"]

_CHUNK = 65_536
_MAX_HEADER_BYTES = 65_536


def fetch_remote(url: str, max_bytes: int, deadline: float) -> bytes:
    """The body of a 200 answer to GET `url`; `InputError` for anything else, by `deadline`
    (a `time.monotonic()` value) at the latest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        sock = socket.create_connection((host, port), timeout=_left(url, deadline))
    except TimeoutError:
        raise _timeout(url) from None
    except OSError as exc:
        raise InputError(f"{url}: cannot connect: {exc.strerror or exc}", code="remote-failed") from None
    try:
        if https:
            sock.settimeout(_left(url, deadline))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        return _exchange(sock, url, parts.netloc.rpartition("@")[2], target, max_bytes, deadline)
    except TimeoutError:
        raise _timeout(url) from None
    except h11.ProtocolError as exc:
        raise InputError(f"{url}: not a valid HTTP/1.1 answer: {exc}", code="remote-failed") from None
    except OSError as exc:  # ssl.SSLError included
        raise InputError(f"{url}: cannot fetch: {exc.strerror or exc}", code="remote-failed") from None
    finally:
        sock.close()


def _exchange(
    sock: socket.socket, url: str, host: str, target: str, max_bytes: int, deadline: float
) -> bytes:
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
    headers = [
        ("Host", host),
        ("Accept", "application/json, application/yaml"),
        ("User-Agent", "race-mcp"),
        ("Connection", "close"),
    ]
    request = connection.send(h11.Request(method="GET", target=target, headers=headers))
    end = connection.send(h11.EndOfMessage())
    sock.settimeout(_left(url, deadline))
    sock.sendall((request or b"") + (end or b""))
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            sock.settimeout(_left(url, deadline))
            connection.receive_data(sock.recv(_CHUNK))
        elif isinstance(event, h11.Response):
            if event.status_code != 200:
                raise InputError(
                    f"{url}: HTTP {event.status_code} (redirects are not followed)", code="remote-http-status"
                )
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_bytes:
                raise InputError(
                    f"{url}: response is over the {max_bytes:,}-byte limit", code="remote-too-large"
                )
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise InputError(f"{url}: the server closed the connection mid-answer", code="remote-failed")


def _left(url: str, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timeout(url)
    return left


def _timeout(url: str) -> InputError:
    return InputError(f"{url}: no complete answer before the fetch deadline", code="remote-timeout")
