"""Small ASGI apps with races as narrow as one `await`, served by real servers in a subprocess.

Run as a script (`python tests/burst_targets.py --server hypercorn --fd 5 [--certfile C --keyfile K]`)
it serves `app` on an already-listening socket inherited from the parent, so tests bind port 0
and know the port before the server starts. `serve()` is that parent side.

Routes (state is module-level and per process; `POST /reset` restores it):
    POST /coupon/racy     single-use coupon: read, `await asyncio.sleep(0)`, write
    POST /coupon/fixed    the same under an `asyncio.Lock`
    POST /coupon/serial   locked and slow (10 ms): responses come one by one
    POST /coupon/section  a 60 ms partner call in parallel, then a locked 8 ms critical section
                          (what a correct fix looks like): responses are spaced, requests overlapped
    POST /counter/racy    increment: read, `await asyncio.sleep(0)`, write (always 200)
    POST /counter/fixed   the same under a lock
    GET  /counter         {"value": n}
    POST /early           answers before reading the request body
    POST /slow            records its arrival (in /arrivals), then takes 200 ms to answer
    a known path with another method: 405 before reading the body (as routers do)
    ANY  /echo            {"method", "query", "body"} of the request
    GET  /redirect        302 to the cloud metadata address (must never be followed)
    GET  /arrivals        perf_counter_ns() at the start of each coupon handler since the reset
    GET  /health          200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STATE: dict[str, Any] = {"coupons": 1, "counter": 0, "arrivals": []}
LOCK = asyncio.Lock()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redeem(slow: float) -> tuple[int, dict[str, Any]]:
    STATE["arrivals"].append(time.perf_counter_ns())
    remaining = STATE["coupons"]
    await asyncio.sleep(slow)  # the race window: one await
    if remaining < 1:
        return 409, {"error": "coupon already used"}
    STATE["coupons"] = remaining - 1
    return 200, {"ok": True, "order": str(uuid.uuid4())}


async def _increment() -> tuple[int, dict[str, Any]]:
    value = STATE["counter"]
    await asyncio.sleep(0)
    STATE["counter"] = value + 1
    return 200, {"ok": True}


_POST_ONLY = frozenset(
    {"/early", "/slow", "/coupon/racy", "/coupon/fixed", "/coupon/serial", "/coupon/section"}
    | {"/counter/racy", "/counter/fixed", "/reset"}
)


async def _route(method: str, path: str, query: str, receive: Receive) -> tuple[int, Any]:
    if path in _POST_ONLY and method != "POST":
        return 405, {"detail": "Method Not Allowed"}
    if method == "POST" and path == "/early":
        return 200, {"ok": True}
    body = await _body(receive)
    if path == "/slow":
        STATE["arrivals"].append(time.perf_counter_ns())
        await asyncio.sleep(0.2)
        return 200, {"ok": True}
    if path == "/echo":
        return 200, {"method": method, "query": query, "body": body.decode("utf-8", "replace")}
    if (method, path) == ("POST", "/coupon/racy"):
        return await _redeem(0)
    if (method, path) == ("POST", "/coupon/fixed"):
        async with LOCK:
            return await _redeem(0)
    if (method, path) == ("POST", "/coupon/serial"):
        async with LOCK:
            return await _redeem(0.01)
    if (method, path) == ("POST", "/coupon/section"):
        await asyncio.sleep(0.06)  # every request is in flight together here
        async with LOCK:
            return await _redeem(0.008)
    if (method, path) == ("POST", "/counter/racy"):
        return await _increment()
    if (method, path) == ("POST", "/counter/fixed"):
        async with LOCK:
            return await _increment()
    if (method, path) == ("GET", "/counter"):
        return 200, {"value": STATE["counter"]}
    if (method, path) == ("POST", "/reset"):
        STATE.update(coupons=1, counter=0, arrivals=[])
        return 200, {"ok": True}
    if (method, path) == ("GET", "/arrivals"):
        return 200, {"arrivals_ns": STATE["arrivals"]}
    if (method, path) == ("GET", "/health"):
        return 200, {"ok": True}
    return 404, {"error": "not found"}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/redirect":
        await _reply(send, 302, {}, [(b"location", b"http://169.254.169.254/latest/meta-data/")])
        return
    query = scope["query_string"].decode("latin-1")
    status, payload = await _route(scope["method"], scope["path"], query, receive)
    await _reply(send, status, payload)


# -- the server process ------------------------------------------------------------------------


def _serve_uvicorn(fd: int, certfile: str | None, keyfile: str | None) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, ssl_certfile=certfile, ssl_keyfile=keyfile
    )
    uvicorn.Server(config).run(sockets=[sock])


def _serve_hypercorn(fd: int, certfile: str | None, keyfile: str | None, max_streams: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{fd}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.h2_max_concurrent_streams = max_streams
    if certfile and keyfile:
        config.certfile, config.keyfile = certfile, keyfile
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["uvicorn", "hypercorn"], required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--max-streams", type=int, default=100)
    args = parser.parse_args()
    if args.server == "uvicorn":
        _serve_uvicorn(args.fd, args.certfile, args.keyfile)
    else:
        _serve_hypercorn(args.fd, args.certfile, args.keyfile, args.max_streams)


# -- the parent side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    port: int
    scheme: str
    process: subprocess.Popen[bytes]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Until the server process answers on the socket (a bare connect is only queued by the kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"test server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                probe.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                probe.recv(16)  # any reaction, even a TLS server's close, means it is serving
                return
        except TimeoutError:
            time.sleep(0.05)
        except ConnectionError:
            return
    raise RuntimeError("test server did not start in time")


@contextlib.contextmanager
def serve(
    server: str, *, certfile: Path | None = None, keyfile: Path | None = None, max_streams: int = 100
) -> Iterator[Served]:
    """Run `app` under uvicorn or hypercorn on a fresh 127.0.0.1 port for the duration."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    command = [sys.executable, __file__, "--server", server, "--fd", str(listener.fileno())]
    command += ["--max-streams", str(max_streams)]
    if certfile and keyfile:
        command += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    process = subprocess.Popen(
        command, pass_fds=[listener.fileno()], env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    listener.close()
    try:
        _wait_ready(port, process)
        yield Served(port=port, scheme="https" if certfile else "http", process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- misbehaving servers, in a thread of the test process ------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 that misbehaves on purpose, one thread per connection.

    behaviour: "garbage" answers bytes that are no HTTP; "close" closes after the first read;
    "hang" reads forever and never answers; "flaky" answers every other connection with a 409
    and closes the rest; "reply" sends `reply` once the request head is in and keeps the
    connection open; "trickle" sends `reply` one byte every `interval` seconds; "h2" speaks
    HTTP/2 and answers each request with `:status` `h2_status` (unchecked, so it can be garbage).
    `accepted` counts connections; `closed_by_client` counts those the client closed, with
    `last_close` the monotonic time of the latest.
    """

    def __init__(
        self,
        behaviour: str,
        host: str = "127.0.0.1",
        *,
        reply: bytes = b"",
        interval: float = 1.0,
        h2_status: bytes = b"200",
    ) -> None:
        self.behaviour = behaviour
        self.reply = reply
        self.interval = interval
        self.h2_status = h2_status
        self.listener = socket.create_server((host, 0), backlog=256)
        self.listener.settimeout(0.1)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.closed_by_client = 0
        self.last_close = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                number = self.accepted
            threading.Thread(target=self._handle, args=(conn, number), daemon=True).start()

    def _handle(self, conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(30)
            try:
                first = conn.recv(65536)
                if self.behaviour == "h2":
                    first = self._serve_h2(conn, first)
                elif self.behaviour in ("reply", "trickle") and first:
                    self._read_request(conn, first)
                    self._send_reply(conn)
                if self.behaviour == "garbage":
                    conn.sendall(b"\x00\xffSSH-2.0-not-http\r\n\x16\x03garbage\r\n\r\n")
                elif self.behaviour == "flaky" and number % 2 == 0 and first:
                    self._read_request(conn, first)
                    conn.sendall(
                        b"HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: 17\r\n"
                        b'connection: close\r\n\r\n{"error": "used"}'
                    )
                if self.behaviour in ("garbage", "close", "flaky"):
                    return
                while first:  # hang: read until the client gives up
                    first = conn.recv(65536)
                with self._lock:
                    self.closed_by_client += 1
                    self.last_close = time.monotonic()
            except OSError:
                return

    def _send_reply(self, conn: socket.socket) -> None:
        if self.behaviour == "reply":
            conn.sendall(self.reply)
            return
        for index in range(len(self.reply)):
            conn.sendall(self.reply[index : index + 1])
            time.sleep(self.interval)

    def _serve_h2(self, conn: socket.socket, data: bytes) -> bytes:
        """Answer every finished stream with `h2_status`; returns b"" once the client has closed."""
        import h2.config
        import h2.connection
        import h2.events

        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        server = h2.connection.H2Connection(config)
        server.initiate_connection()
        conn.sendall(server.data_to_send())
        while data:
            for event in server.receive_data(data):
                if isinstance(event, h2.events.StreamEnded):
                    headers = [(b":status", self.h2_status), (b"content-length", b"2")]
                    server.send_headers(event.stream_id, headers)
                    server.send_data(event.stream_id, b"ok", end_stream=True)
            conn.sendall(server.data_to_send())
            data = conn.recv(65536)
        return data

    @staticmethod
    def _read_request(conn: socket.socket, data: bytes) -> None:
        """Read until a bodiless request (its last byte held back by the sync) is complete."""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return
            data += more


if __name__ == "__main__":
    main()
