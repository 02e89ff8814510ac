"""`openapi SPEC --source DIR` on a Rust shop: Axum routes nested under `/v1` and an actix-web route
macro linked to the spec's operations (Axum's `{id}`, `:id`, `{*rest}` and `*rest`, actix's regex
segments `{id:\\d+}`, a prefix on either side), racy handlers confirming the spec's missing
preconditions, through the library and the installed CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from race_mcp.openapi import check_openapi
from race_mcp.openapi._link import normalize_template
from tests._language_apps import RUST_LINKS, write_rust_shop
from tests._mcp_helpers import RACE_MCP


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_rust_shop(tmp_path_factory.mktemp("rust-openapi"))


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("/users/{id:\\d+}/sessions", "/users/{}/sessions"),  # actix-web regex segment
        ("/shows/:show/seats/:seat", "/shows/{}/seats/{}"),  # Axum 0.7
        ("/assets/{*path}", "/assets/{}"),  # Axum 0.8 wildcard
        ("/assets/*path", "/assets/{}"),  # Axum 0.7 wildcard
        ("/v1/wallets/{id}/withdraw", "/v1/wallets/{}/withdraw"),
        ("/codes/{code:[A-Z]{3}}", "/codes/{}"),  # actix regex with braces inside
        ("/files/{name}.{ext}", "/files/{}.{}"),
    ],
)
def test_rust_route_spellings_normalise(route: str, template: str) -> None:
    assert normalize_template(route) == template


@pytest.mark.parametrize(
    "segment",
    [
        ":" + "a" * 100_000 + "{" * 50_000,  # was quadratic: 13 s at twice this size
        "{" * 100_000,
        "x" + "<" * 100_000,
        "{" + "{a}" * 50_000,
        ":a(" + "x)" * 50_000 + "q",
        "[..." + "a" * 100_000,
    ],
    ids=["param-then-braces", "braces", "angles", "nested", "parens", "brackets"],
)
def test_hostile_route_text_normalises_in_linear_time(segment: str) -> None:
    # Routes come from the analysed source: a hostile file must not stall the linker.
    started = time.perf_counter()
    normalize_template(f"/x/{segment}/y")
    assert time.perf_counter() - started < 1.0


def test_operations_link_to_their_handlers(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    report = check_openapi(spec, source=source)
    linked = {
        endpoint.operation: (endpoint.handler, [f.rule_id for f in endpoint.code_findings])
        for endpoint in report.endpoints
        if endpoint.code_findings
    }
    assert linked == {operation: (handler, [rule]) for operation, (handler, rule, _) in RUST_LINKS.items()}
    routes = {e.operation: e.code_findings[0].route for e in report.endpoints if e.code_findings}
    assert routes == {operation: route for operation, (_, _, route) in RUST_LINKS.items()}
    assert all(e.code_findings for e in report.endpoints[: len(RUST_LINKS)])  # ranked first
    assert "GET /health" not in {e.operation for e in report.endpoints}


def test_racy_handlers_confirm_the_missing_preconditions(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    by_operation = {e.operation: e for e in check_openapi(spec, source=source).endpoints}
    sessions = by_operation["DELETE /users/{userId}/sessions"]
    (ra101,) = [f for f in sessions.spec_findings if f.rule_id == "RA101"]
    assert (ra101.severity, ra101.confidence) == ("high", "high")
    assert "Its handler `drop_sessions` (" in ra101.message and "admin.rs:7) has RC501" in ra101.message
    seats = by_operation["POST /shows/{showId}/seats/{seatId}"]
    (ra111,) = [f for f in seats.spec_findings if f.rule_id == "RA111"]
    assert "`reserve`" in ra111.message and "has RC102" in ra111.message


def test_cli_links_the_rust_shop(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    done = subprocess.run(
        [str(RACE_MCP), "openapi", str(spec), "--source", str(source), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=spec.parent,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    linked = {e["operation"]: e["handler"] for e in report["endpoints"] if e["code_findings"]}
    assert linked == {operation: handler for operation, (handler, _, _) in RUST_LINKS.items()}
    assert report["summary"]["files_analyzed"] == 1 + 2  # the spec and two Rust files
    # A --source that does not exist is one line and exit 2, whatever the language.
    missing = subprocess.run(
        [str(RACE_MCP), "openapi", str(spec), "--source", str(source / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=spec.parent,
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert "error[not-found]" in missing.stderr and "Traceback" not in missing.stderr
