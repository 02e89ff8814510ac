"""Shared by the MCP protocol tests: the installed command, a workspace of fixtures, ports, and
heavy but legitimate workloads (a shop of many racy handler modules, a large OpenAPI spec)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
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


# ------------------------------------------------------------------ heavy but legitimate workloads
# Real application code and a real spec that simply have a lot in them: the analyzer must do all of
# the work (nothing here is refused or cut short by its per-file limits), so a call on them is slow
# or memory-hungry for the right reason.

_SHOP_MODULE_HEAD = """\
\"\"\"{title} routes: {things}, stock, wallets and quotas.\"\"\"

import asyncio

import asyncpg
import redis.asyncio as redis
from fastapi import APIRouter, HTTPException

router = APIRouter(prefix="/{slug}")
cache = redis.Redis()
pool: asyncpg.Pool
{slug}_{things}: dict[str, dict[str, bool]] = {{}}
{slug}_stock: dict[str, int] = {{}}


async def audit_{slug}(event: str) -> None:
    await asyncio.sleep(0)
"""

# Four handlers per group, each racy in its own way: an in-memory check-then-act across an await,
# a read-modify-write of stock, a SELECT then UPDATE of a balance, a Redis GET then SET of a quota.
_SHOP_HANDLER_GROUP = """\


@router.post("/{things}/{{code}}/redeem-{n}")
async def redeem_{thing}_{slug}_{n}(code: str) -> dict[str, bool]:
    entry = {slug}_{things}[code]
    if entry["used"]:
        raise HTTPException(409, "already used")
    await audit_{slug}(f"redeem {{code}}")
    entry["used"] = True
    return {{"ok": True}}


@router.post("/items/{{item}}/buy-{n}")
async def buy_{slug}_{n}(item: str, quantity: int) -> dict[str, int]:
    left = {slug}_stock.get(item, 0)
    if left < quantity:
        raise HTTPException(409, "sold out")
    await audit_{slug}(f"buy {{item}}")
    {slug}_stock[item] = left - quantity
    return {{"left": {slug}_stock[item]}}


@router.post("/wallets/{{user}}/spend-{n}")
async def spend_{slug}_{n}(user: str, amount: int) -> dict[str, int]:
    async with pool.acquire() as conn:
        balance = await conn.fetchval("SELECT balance FROM {slug}_wallets WHERE user_id = $1", user)
        if balance < amount:
            raise HTTPException(402, "insufficient funds")
        await conn.execute(
            "UPDATE {slug}_wallets SET balance = $1 WHERE user_id = $2", balance - amount, user
        )
    return {{"balance": balance - amount}}


@router.post("/quota/{{user}}/use-{n}")
async def use_quota_{slug}_{n}(user: str) -> dict[str, int]:
    used = int(await cache.get(f"{slug}:quota:{n}:{{user}}") or 0)
    if used >= 100:
        raise HTTPException(429, "quota exhausted")
    await cache.set(f"{slug}:quota:{n}:{{user}}", used + 1)
    return {{"used": used + 1}}
"""

_SHOP_THINGS = (
    ("coupon", "coupons"),
    ("voucher", "vouchers"),
    ("gift_card", "gift_cards"),
    ("ticket", "tickets"),
)
SHOP_HANDLERS_PER_GROUP = 4


def racy_shop_module(slug: str, groups: int, thing: str = "coupon", things: str = "coupons") -> str:
    """A FastAPI router module with `groups` x 4 racy handlers (in memory, SQL and Redis)."""
    fields = {"slug": slug, "title": slug.replace("_", " ").title(), "thing": thing, "things": things}
    head = _SHOP_MODULE_HEAD.format(**fields)
    return head + "".join(_SHOP_HANDLER_GROUP.format(n=n, **fields) for n in range(groups))


def write_racy_shop(directory: Path, modules: int, groups: int) -> int:
    """`modules` router modules in `directory`; returns how many racy handlers they hold."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(modules):
        thing, things = _SHOP_THINGS[number % len(_SHOP_THINGS)]
        source = racy_shop_module(f"shop{number}", groups, thing, things)
        (directory / f"shop_{number:03d}_routes.py").write_text(source)
    return modules * groups * SHOP_HANDLERS_PER_GROUP


def _spec_operation(resource: str, shop: int, verb: str) -> dict[str, Any]:
    kinds = (("name", "string"), ("quantity", "integer"), ("price", "number"), ("note", "string"))
    properties = {
        f"{name}_{shop}": {"type": kind, "description": f"The {resource}'s {name}."} for name, kind in kinds
    }
    body = {"type": "object", "required": list(properties)[:2], "properties": properties}
    operation: dict[str, Any] = {
        "operationId": f"{verb}{resource.title()}{shop}",
        "summary": f"{verb} one {resource} of shop {shop}",
        "tags": [resource],
        "responses": {
            "200": {"description": "done", "content": {"application/json": {"schema": body}}},
            "404": {"description": f"no such {resource}"},
        },
    }
    if verb != "delete":
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def write_big_openapi(path: Path, shops: int) -> int:
    """A JSON OpenAPI 3.0 spec: per shop, four resources with PATCH, DELETE and POST (12 operations);
    no preconditions, so every one of them is a finding. Returns the file's size in bytes."""
    paths: dict[str, Any] = {}
    for shop in range(shops):
        for resource in ("order", "coupon", "wallet", "seat"):
            id_parameter = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            paths[f"/shops/{shop}/{resource}s/{{id}}"] = {
                "parameters": [id_parameter],
                "patch": _spec_operation(resource, shop, "patch"),
                "delete": _spec_operation(resource, shop, "delete"),
            }
            paths[f"/shops/{shop}/{resource}s"] = {"post": _spec_operation(resource, shop, "post")}
    spec = {"openapi": "3.0.3", "info": {"title": "Shops", "version": "1"}, "paths": paths}
    path.write_text(json.dumps(spec))
    return path.stat().st_size
