"""moto's DynamoDB server for tests, on a free port of 127.0.0.1 (shared by the Python and the
JavaScript DynamoDB tests).

The server answers one request at a time. `moto_server` serves each request on its own thread and
moto checks a ConditionExpression and then writes without a lock, so under a burst a *conditional*
update could itself race there, which real DynamoDB never does (each request is atomic). One
request at a time keeps that guarantee; the races under test sit between requests and still happen.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests._mcp_helpers import free_port
from tests._npm import require_or_skip

_ONE_REQUEST_AT_A_TIME = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=False, request_handler=MotoRequestHandler)
"""


@contextmanager
def moto_server() -> Iterator[str]:
    """The running server's URL; skipped without `moto[server]`, except under CI, where that fails."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("werkzeug") is None:
        require_or_skip("moto[server] is not installed")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _ONE_REQUEST_AT_A_TIME, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
