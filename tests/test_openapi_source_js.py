"""`openapi SPEC --source DIR` on a Node shop: Express, Fastify and Next.js handlers linked to the
spec's operations by method and path (Express's `:id(\\d+)`, Next.js's `[id]`, method-less
`pages/api` handlers and app-router route groups, the spec's server prefix), the spec findings a
racy handler confirms raised to high with the handler named, through the library, the installed CLI
and its exit code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from race_mcp.openapi import check_openapi
from race_mcp.openapi._link import normalize_template, split_route
from tests._language_apps import JS_LINKS, write_js_shop
from tests._mcp_helpers import RACE_MCP


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_js_shop(tmp_path_factory.mktemp("node-openapi"))


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("/wallets/:walletId(\\d+)/withdraw", "/wallets/{}/withdraw"),  # Express regex parameter
        ("/files/:name*", "/files/{}"),
        ("/posts/:id{[0-9]+}", "/posts/{}"),  # Hono
        ("/api/carts/[cartId]", "/api/carts/{}"),  # Next.js dynamic segment
        ("/api/docs/[...slug]", "/api/docs/{}"),
        ("/api/docs/[[...slug]]", "/api/docs/{}"),
        ("/(shop)/api/orders/[id]", "/api/orders/{}"),  # app-router route group
        ("/users/:$id", "/users/{}"),
    ],
)
def test_javascript_route_spellings_normalise(route: str, template: str) -> None:
    assert normalize_template(route) == template


def test_a_route_without_a_method_or_with_all_stands_for_every_method() -> None:
    for route in ("/api/carts/[cartId]", "ALL /carts/:id"):
        parsed = split_route(route)
        assert parsed is not None
        methods, _ = parsed
        assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(methods)


def test_operations_link_to_their_handlers(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    report = check_openapi(spec, source=source)
    linked = {
        endpoint.operation: (endpoint.handler, [f.rule_id for f in endpoint.code_findings])
        for endpoint in report.endpoints
        if endpoint.code_findings
    }
    assert linked == {operation: (handler, [rule]) for operation, (handler, rule, _) in JS_LINKS.items()}
    for endpoint in report.endpoints:
        if endpoint.operation in JS_LINKS:
            assert endpoint.code_findings[0].route == JS_LINKS[endpoint.operation][2]
    # Endpoints racy in both the contract and the code rank first; /health has no finding at all.
    assert [e.operation for e in report.endpoints[: len(JS_LINKS)]] == sorted(
        JS_LINKS, key=[e.operation for e in report.endpoints].index
    )
    assert all(e.code_findings for e in report.endpoints[: len(JS_LINKS)])
    assert "GET /health" not in {e.operation for e in report.endpoints}


def test_racy_handlers_confirm_the_missing_preconditions(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    report = check_openapi(spec, source=source)
    by_operation = {endpoint.operation: endpoint for endpoint in report.endpoints}
    withdraw = by_operation["POST /wallets/{walletId}/withdraw"]
    (ra111,) = [f for f in withdraw.spec_findings if f.rule_id == "RA111"]
    assert (ra111.severity, ra111.confidence) == ("high", "high")
    assert "Its handler `POST /wallets/:walletId(\\\\d+)/withdraw handler` (" in ra111.message
    assert "shop.js:9) has RC201" in ra111.message
    cart = by_operation["PATCH /carts/{cartId}"]
    (ra101,) = [f for f in cart.spec_findings if f.rule_id == "RA101"]
    assert "`handler`" in ra101.message and "has RC801" in ra101.message
    # Rate-limit rules are not what a racy handler confirms: they keep their own severity.
    assert {f.severity for f in withdraw.spec_findings if f.rule_id.startswith("RA12")} == {"low"}


def test_a_handler_for_every_method_links_to_the_writes_of_its_path(
    shop: tuple[Path, Path], tmp_path: Path
) -> None:
    spec, source = shop
    # The Next.js cart handler answers GET and PATCH alike: its race is the PATCH's, not the GET's.
    report = check_openapi(spec, source=source)
    assert "GET /carts/{cartId}" not in {e.operation for e in report.endpoints if e.code_findings}
    # With no write declared on the path, the finding still meets the path's operations.
    reads_only = tmp_path / "reads-only.yaml"
    reads_only.write_text(
        "openapi: 3.0.3\ninfo: {title: carts, version: '1'}\npaths:\n  /api/carts/{id}:\n"
        "    get: {responses: {'200': {description: the cart}}}\n",
        encoding="utf-8",
    )
    linked = check_openapi(reads_only, source=source).endpoints
    assert [(e.operation, e.handler) for e in linked] == [("GET /api/carts/{id}", "handler")]


def test_without_source_nothing_is_linked(shop: tuple[Path, Path]) -> None:
    spec, _ = shop
    report = check_openapi(spec)
    assert all(not endpoint.code_findings and endpoint.handler is None for endpoint in report.endpoints)


def test_cli_links_the_node_shop(shop: tuple[Path, Path]) -> None:
    spec, source = shop
    done = subprocess.run(
        [str(RACE_MCP), "openapi", str(spec), "--source", str(source), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=spec.parent,
    )
    assert done.returncode == 1, done.stderr  # findings
    report = json.loads(done.stdout)
    linked = {e["operation"]: e["handler"] for e in report["endpoints"] if e["code_findings"]}
    assert linked == {operation: handler for operation, (handler, _, _) in JS_LINKS.items()}
    assert report["summary"]["files_analyzed"] == 1 + 4  # the spec and four source files
    text = subprocess.run(
        [str(RACE_MCP), "openapi", str(spec), "--source", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=spec.parent,
    )
    assert "RC201" in text.stdout and "RC801" in text.stdout, text.stdout + text.stderr
