"""The JavaScript Redis patches on real Redis (ioredis from npm, Redis on 127.0.0.1:6379): ten calls
at once redeem a single-use coupon several times and oversell a stock of 3 before the RC501
patches; after them exactly one redeems and exactly 3 are taken, the stock ending at 0.

Skipped with the reason when node, npm, the registry, redis-cli or Redis is missing; a failure
under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import apply_patches, propose_patches
from race_mcp.roots import AllowedRoots
from tests._npm import node_modules, require_or_skip

FIXTURES = Path(__file__).parent / "fixtures" / "live" / "redis"
REDIS_URL = "redis://127.0.0.1:6379/0"
REQUESTS = 10


@pytest.fixture(scope="module")
def modules() -> Path:
    return node_modules("ioredis@5")


@pytest.fixture
def prefix() -> Iterator[str]:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            pass
    except OSError as exc:
        require_or_skip(f"Redis at 127.0.0.1:6379 is not reachable ({exc})")
    if shutil.which("redis-cli") is None:
        require_or_skip("redis-cli is not installed")
    name = f"race-mcp-test:{uuid.uuid4().hex[:10]}"
    yield name
    keys = _cli("--scan", "--pattern", f"{name}:*").split()
    if keys:
        _cli("DEL", *keys)


def _cli(*args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _at_once(
    shop: Path, function: str, arg: str, key: str, modules: Path, prefix: str
) -> tuple[int, str | None]:
    """REQUESTS calls of `function` in flight together: (how many returned true, the key's value)."""
    env = {**os.environ, "NODE_PATH": str(modules), "REDIS_URL": REDIS_URL, "KEY_PREFIX": prefix}
    command = [
        "node",
        str(FIXTURES / "run_many.js"),
        str(shop),
        function,
        str(REQUESTS),
        arg,
        f"{prefix}:{key}",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout)
    return outcome["ok"], outcome["value"]


def _patched(tmp_path: Path) -> Path:
    source = (FIXTURES / "shop.js").read_text(encoding="utf-8")
    assert [f.rule_id for f in analyze_source(source, "shop.js")] == ["RC501", "RC501"]
    shop = tmp_path / "shop.js"
    shutil.copyfile(FIXTURES / "shop.js", shop)
    report = propose_patches(source, "shop.js", project_file=shop, roots=AllowedRoots([tmp_path]))
    assert [p.rule_id for p in report.patches] == ["RC501", "RC501"] and not report.unpatched
    apply_patches(shop, report, roots=AllowedRoots([tmp_path]))
    assert analyze_source(shop.read_text(encoding="utf-8"), "shop.js") == []
    return shop


def test_coupon_and_stock_races_before_the_patch_and_none_after(
    modules: Path, prefix: str, tmp_path: Path
) -> None:
    redeemed, holder = _at_once(FIXTURES / "shop.js", "redeem", "WELCOME", "coupon:WELCOME", modules, prefix)
    assert redeemed > 1 and holder is not None
    _cli("SET", f"{prefix}:stock:racy", "3")
    taken, left = _at_once(FIXTURES / "shop.js", "take", "racy", "stock:racy", modules, prefix)
    assert taken > 3 - int(left or 0), f"{taken} taken, {left} left: the unpatched counter should oversell"

    shop = _patched(tmp_path)
    redeemed, holder = _at_once(shop, "redeem", "FRESH", "coupon:FRESH", modules, prefix)
    assert redeemed == 1 and holder is not None and holder.startswith("user-")
    _cli("SET", f"{prefix}:stock:fixed", "3")
    taken, left = _at_once(shop, "take", "fixed", "stock:fixed", modules, prefix)
    assert (taken, left) == (3, "0")
