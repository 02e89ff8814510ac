"""Shared by the MCP protocol tests: the installed command, a workspace of fixtures, ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The console script installed next to this interpreter: the tests drive what users run.
RACE_MCP = Path(sys.executable).parent / "race-mcp"

RACY_SOURCE = """\
import asyncio
from fastapi import FastAPI
app = FastAPI()
coupons = {"WELCOME": {"used": False}}
@app.post("/redeem/{code}")
async def redeem(code: str):
    coupon = coupons[code]
    if coupon["used"]:
        return {"ok": False}
    await asyncio.sleep(0.01)
    coupon["used"] = True
    return {"ok": True}
"""
RACY_ROUTE = "POST /redeem/{code}"

SAFE_SOURCE = """\
def add(a: int, b: int) -> int:
    return a + b
"""


@dataclass(frozen=True)
class Workspace:
    """A directory the server runs in (its default root) and one next to it that is off limits."""

    root: Path
    outside: Path


def make_workspace(base: Path) -> Workspace:
    """racy.py, safe.py, binary.py, broken.py, shop/ (two racy files), mixed/ (a symlink that escapes)."""
    root = base / "workspace"
    outside = base / "outside"
    for directory in (root, root / "shop", root / "mixed", outside):
        directory.mkdir(parents=True)
    (root / "racy.py").write_text(RACY_SOURCE)
    (root / "safe.py").write_text(SAFE_SOURCE)
    (root / "binary.py").write_bytes(b"\x00\x01\x02 not python\xff")
    (root / "broken.py").write_text("def broken(:\n    pass\n")
    (root / "shop" / "coupons.py").write_text(RACY_SOURCE)
    (root / "shop" / "vouchers.py").write_text(RACY_SOURCE.replace("coupons", "vouchers"))
    (root / "mixed" / "racy.py").write_text(RACY_SOURCE)
    (outside / "secret.py").write_text(RACY_SOURCE)
    (root / "mixed" / "escape.py").symlink_to(outside / "secret.py")
    (root / "escape.py").symlink_to(outside / "secret.py")
    return Workspace(root=root, outside=outside)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    """Return once the server accepts connections; fail with its stderr if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"server did not listen on {port} within {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
