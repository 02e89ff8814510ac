"""The verified-fix loop on a real Express app (express and pg from the npm registry, PostgreSQL
on 127.0.0.1:5432): analysis finds the racy withdrawal, a burst proves it, the patch applies with
`apply_patches`, and the same burst against the patched app shows `no_race`.

Skipped with the reason when node, npm, the registry or PostgreSQL is missing; a failure under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import psycopg
import pytest

from race_mcp.analyzer import analyze_source
from race_mcp.burst import BurstPolicy, BurstSpec, run_burst
from race_mcp.remediate import apply_patches, propose_patches
from race_mcp.roots import AllowedRoots
from tests._npm import node_modules, require_or_skip

APP = Path(__file__).parent / "fixtures" / "live" / "express" / "bank.js"
POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"
PACKAGES = ("express@4", "pg@8")


@pytest.fixture(scope="module")
def modules() -> Path:
    return node_modules(*PACKAGES)


@pytest.fixture
def schema() -> Iterator[str]:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            pass
    except OSError as exc:
        require_or_skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc})")
    name = f"race_mcp_express_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def running(app: Path, modules: Path, schema: str) -> Iterator[str]:
    """`node app` on a free loopback port; yields its base URL."""
    env = {
        **os.environ,
        "NODE_PATH": str(modules),
        "DATABASE_URL": POSTGRES_URL,
        "BANK_SCHEMA": schema,
        "PORT": "0",
    }
    process = subprocess.Popen(
        ["node", str(app)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            process.kill()
            raise AssertionError(f"the app did not start: {line}{process.communicate()[1][-2000:]}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _withdrawals(base_url: str) -> BurstSpec:
    """10 withdrawals of the whole balance at once: at most one may succeed."""
    return BurstSpec.model_validate(
        {
            "url": f"{base_url}/accounts/1/withdraw",
            "method": "POST",
            "json_body": {"amount": 100},
            "requests": 10,
            "bursts": 2,
            "mode": "h1",
            "expected_max_successes": 1,
            "hold_ms": 20,
            "reset": {"url": f"{base_url}/admin/reset"},
        }
    )


def _verdict(app: Path, modules: Path, schema: str) -> tuple[str, list[int]]:
    with running(app, modules, schema) as base_url:
        result = anyio.run(lambda: run_burst(_withdrawals(base_url), policy=BurstPolicy()))
        if app != APP:
            _still_works_one_at_a_time(base_url)
    return result.verdict, [trial.successes for trial in result.trials]


def _still_works_one_at_a_time(base_url: str) -> None:
    """The patched app behaves as before for sequential requests: 30 three times, then refused."""
    httpx.post(f"{base_url}/admin/reset").raise_for_status()
    statuses = [
        httpx.post(f"{base_url}/accounts/1/withdraw", json={"amount": 30}).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 400]
    assert httpx.get(f"{base_url}/accounts/1").json() == {"balance": 10}


@pytest.mark.slow
def test_express_race_is_found_proven_patched_and_gone(modules: Path, schema: str, tmp_path: Path) -> None:
    source = APP.read_text(encoding="utf-8")
    findings = analyze_source(source, "bank.js")
    assert ("RC201", "POST /accounts/:id/withdraw") in [(f.rule_id, f.route) for f in findings]

    verdict, successes = _verdict(APP, modules, schema)
    assert verdict == "race", successes
    assert max(successes) > 1

    app = tmp_path / "bank.js"
    shutil.copyfile(APP, app)
    report = propose_patches(source, "bank.js", project_file=app, roots=AllowedRoots([tmp_path]))
    assert [p.rule_id for p in report.patches] == ["RC201"]
    # A money-moving POST also lacks an idempotency key (RC601): that stays guidance, no race fix.
    assert {u.rule_id for u in report.unpatched} <= {"RC601"}
    subprocess.run(["git", "apply", "--check", "-"], input=report.diff, text=True, cwd=tmp_path, check=True)
    apply_patches(app, report, roots=AllowedRoots([tmp_path]))
    assert "AND balance >= $1" in app.read_text(encoding="utf-8")
    assert [f.rule_id for f in analyze_source(app.read_text(encoding="utf-8"), "bank.js")] in ([], ["RC601"])

    verdict, successes = _verdict(app, modules, schema)
    assert verdict == "no_race", successes
    assert successes == [1, 1]
