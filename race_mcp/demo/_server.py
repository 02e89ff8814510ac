"""Run a demo shop under uvicorn in a child process, listening on a loopback socket bound here.

Binding the socket in this process (port 0) and handing its descriptor to uvicorn (`--fd`) means the
port is known before the child starts and no other process can take it in between.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import httpx

from ..errors import BurstError
from ._partners import LATENCY_ENV
from ._store import DATABASE_ENV

__all__ = ["RunningShop", "ShopVariant", "serve_shop"]

ShopVariant = Literal["shop", "shop_fixed"]

_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunningShop:
    """A demo shop that is up and answering on `base_url`."""

    variant: ShopVariant
    base_url: str
    pid: int


def _child_environment(database: str | None, latency_ms: float | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(DATABASE_ENV, None)
    if database is not None:
        env[DATABASE_ENV] = database
    if latency_ms is not None:
        env[LATENCY_ENV] = str(latency_ms)
    return env


def _tail(log: IO[bytes], lines: int = 5) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "no output"


def _wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, log: IO[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BurstError(f"the demo shop exited with code {process.returncode}: {_tail(log)}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise BurstError(f"the demo shop did not answer within {timeout:g} s: {_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_shop(
    variant: ShopVariant,
    *,
    app_dir: Path | None = None,
    database_path: Path | None = None,
    database_url: str | None = None,
    latency_ms: float | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningShop]:
    """Start `race_mcp.demo.<variant>:app` on 127.0.0.1 and stop it on exit.

    `app_dir` serves a copy of the demo package instead: a package directory (`.../patched_demo`)
    holding `<variant>.py` and the modules it imports, imported as `patched_demo.<variant>:app`
    with its parent put first on the import path (uvicorn `--app-dir`). `database_path` names the
    SQLite file (default: a temporary one per run) and `database_url` a `postgresql://` server
    instead; `latency_ms` sets the partner-call latency (default: the shop's own, 40 ms). Raises
    `BurstError` if it does not start.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with closing(listener), tempfile.TemporaryFile() as log:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        port = listener.getsockname()[1]
        package = "race_mcp.demo" if app_dir is None else app_dir.name
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"{package}.{variant}:app",
            *(["--app-dir", str(app_dir.parent)] if app_dir is not None else []),
            "--fd",
            str(listener.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        process = subprocess.Popen(
            command,
            env=_child_environment(
                str(database_path) if database_path is not None else database_url, latency_ms
            ),
            pass_fds=(listener.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_ready(process, base_url, log, startup_timeout)
            yield RunningShop(variant=variant, base_url=base_url, pid=process.pid)
        finally:
            _stop(process)
