"""The MCP tools on JavaScript/TypeScript and Rust, over stdio with the SDK's real client against the
installed `race-mcp`: `analyze_file` on files, directories and inline source, `propose_patch` (a
verified patch or guidance), `check_openapi` with `source` linking handlers, and a language race-mcp
does not analyse refused as `unsupported-language` while the server goes on serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from race_mcp import RULES
from tests._language_apps import (
    JS_LINKS,
    LAMBDA_LINKS,
    RUST_LINKS,
    SAM_TEMPLATE,
    write_js_shop,
    write_lambda_app,
    write_rust_shop,
)
from tests._mcp_helpers import RACE_MCP

pytestmark = pytest.mark.anyio

GO_SOURCE = 'package main\n\nfunc main() { println("hi") }\n'


def _example(rule_id: str, language: str, kind: str = "racy") -> str:
    examples = RULES[rule_id].other_languages[language]  # type: ignore[index]
    return examples.racy if kind == "racy" else examples.fixed


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("languages")
    write_js_shop(root)
    write_rust_shop(root)
    (root / "withdraw.js").write_text(_example("RC201", "javascript"), encoding="utf-8")
    (root / "withdraw.rs").write_text(_example("RC201", "rust"), encoding="utf-8")
    (root / "stock.rs").write_text(_example("RC102", "rust"), encoding="utf-8")
    (root / "safe.ts").write_text(_example("RC101", "javascript", "fixed"), encoding="utf-8")
    (root / "broken.ts").write_text(_example("RC101", "javascript") + "\nfunction (\n", encoding="utf-8")
    (root / "main.go").write_text(GO_SOURCE, encoding="utf-8")
    (root / "lambda").mkdir()
    write_lambda_app(root / "lambda", "template.yaml", SAM_TEMPLATE)
    return root


@pytest.fixture(scope="module")
async def client(workspace: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace))
    async with Client(params, mode="legacy", read_timeout_seconds=60) as connected:
        yield connected


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


# ----------------------------------------------------------------------------------- analyze_file


async def test_analyze_file_on_typescript(client: Client, workspace: Path) -> None:
    report = await call(client, "analyze_file", path="node-shop/stock.ts")
    [finding] = report["findings"]
    assert (finding["rule_id"], finding["route"], finding["line"]) == ("RC501", "PUT /items/:sku", 9)
    assert finding["path"] == str(workspace / "node-shop" / "stock.ts")
    assert finding["evidence"] and finding["fix"]


async def test_analyze_file_on_rust(client: Client) -> None:
    report = await call(client, "analyze_file", path="rust-shop/src/main.rs")
    found = {(f["rule_id"], f["function"], f["route"]) for f in report["findings"]}
    assert found == {
        ("RC201", "withdraw", "POST /v1/wallets/{id}/withdraw"),
        ("RC102", "reserve", "POST /v1/shows/:show/seats/:seat"),
    }


async def test_analyze_file_on_a_directory_of_both(client: Client) -> None:
    node = await call(client, "analyze_file", path="node-shop")
    assert sorted(f["rule_id"] for f in node["findings"]) == sorted(rule for _, rule, _ in JS_LINKS.values())
    assert node["summary"]["files_analyzed"] == 4
    rust = await call(client, "analyze_file", path="rust-shop")
    assert sorted(f["rule_id"] for f in rust["findings"]) == sorted(
        rule for _, rule, _ in RUST_LINKS.values()
    )


@pytest.mark.parametrize(
    ("rule_id", "language", "filename"),
    [("RC101", "javascript", "app/coupons.ts"), ("RC401", "rust", "src/giftcards.rs")],
)
async def test_inline_source_takes_its_language_from_the_filename(
    client: Client, rule_id: str, language: str, filename: str
) -> None:
    report = await call(client, "analyze_file", source=_example(rule_id, language), filename=filename)
    assert [(f["rule_id"], f["path"]) for f in report["findings"]] == [(rule_id, filename)]
    fixed = await call(client, "analyze_file", source=_example(rule_id, language, "fixed"), filename=filename)
    assert fixed["findings"] == []


async def test_clean_typescript_and_a_syntax_error(client: Client) -> None:
    clean = await client.call_tool("analyze_file", {"path": "safe.ts"})
    assert not clean.is_error and "No findings in 1 file analyzed" in text_of(clean)
    # A file that does not parse is one clean error naming where it broke.
    broken = await client.call_tool("analyze_file", {"path": "broken.ts"})
    assert broken.is_error
    assert "[syntax-error]" in text_of(broken) and "broken.ts:20:1" in text_of(broken)


# ---------------------------------------------------------------------------------- propose_patch


@pytest.mark.parametrize("path", ["withdraw.js", "withdraw.rs"])
async def test_propose_patch_gives_a_verified_patch(client: Client, workspace: Path, path: str) -> None:
    before = (workspace / path).read_text(encoding="utf-8")
    report = await call(client, "propose_patch", path=path)
    [patch] = report["patches"]
    assert (patch["rule_id"], patch["path"]) == ("RC201", path)
    assert report["diff"].startswith(f"diff --git a/{path} b/{path}\n")
    # The UPDATE now re-checks in its WHERE what the SELECT decided on, and the count of changed rows
    # tells the request that lost.
    added = [line for line in report["diff"].splitlines() if line.startswith("+")]
    assert any("UPDATE accounts" in line and "AND balance" in line for line in added), report["diff"]
    assert any("rowCount" in line or "rows_affected" in line for line in added), report["diff"]
    assert (workspace / path).read_text(encoding="utf-8") == before  # nothing written


async def test_propose_patch_answers_every_rust_finding(client: Client, workspace: Path) -> None:
    # In-process state: a patch when the fixer can hold one guard across the sequence, else words.
    before = (workspace / "stock.rs").read_text(encoding="utf-8")
    report = await call(client, "propose_patch", path="stock.rs")
    handled = [p["rule_id"] for p in report["patches"]] + [u["rule_id"] for u in report["unpatched"]]
    assert handled == ["RC102"]
    if report["patches"]:
        assert report["diff"].startswith("diff --git a/stock.rs b/stock.rs\n")
    else:
        assert report["unpatched"][0]["guidance"].strip()
    assert (workspace / "stock.rs").read_text(encoding="utf-8") == before


async def test_propose_patch_on_inline_typescript(client: Client) -> None:
    report = await call(
        client, "propose_patch", source=_example("RC101", "javascript"), filename="coupons.ts"
    )
    assert [u["rule_id"] for u in report["unpatched"]] + [p["rule_id"] for p in report["patches"]] == [
        "RC101"
    ]


# --------------------------------------------------------------------------------- check_openapi


@pytest.mark.parametrize(
    ("spec", "source", "links"),
    [("node-shop.yaml", "node-shop", JS_LINKS), ("rust-shop.yaml", "rust-shop", RUST_LINKS)],
    ids=["javascript", "rust"],
)
async def test_check_openapi_links_handlers_in_source(
    client: Client, spec: str, source: str, links: dict[str, tuple[str, str, str]]
) -> None:
    report = await call(client, "check_openapi", spec=spec, source=source)
    linked = {e["operation"]: e["handler"] for e in report["endpoints"] if e["handler"]}
    assert linked == {operation: handler for operation, (handler, _, _) in links.items()}
    # A page holds what fits the answer's size budget, and each finding carries its absolute path:
    # under a longer temporary directory (pytest-xdist's popen-gwN) fewer fit, so read every page.
    findings, offset = list(report["findings"]), report["page"]["next_offset"]
    while offset is not None:
        page = await call(client, "check_openapi", spec=spec, source=source, offset=offset)
        findings += page["findings"]
        offset = page["page"]["next_offset"]
    assert len(findings) == report["page"]["total"]
    code_rules = {f["rule_id"] for f in findings if f["rule_id"].startswith("RC")}
    assert code_rules == {rule for _, rule, _ in links.values()}


async def test_check_openapi_links_lambda_handlers_through_their_template(client: Client) -> None:
    report = await call(client, "check_openapi", spec="lambda/openapi.yaml", source="lambda/orders-app")
    linked = {e["operation"]: e["handler"] for e in report["endpoints"] if e["handler"]}
    assert linked == {operation: handler for operation, (handler, _) in LAMBDA_LINKS.items()}
    assert report["errors"] == []


# ------------------------------------------------------------------------------ other languages


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("analyze_file", {"path": "main.go"}),
        ("analyze_file", {"source": GO_SOURCE, "filename": "cmd/main.go"}),
        ("propose_patch", {"path": "main.go"}),
        ("propose_patch", {"source": GO_SOURCE, "filename": "main.go"}),
    ],
)
async def test_go_is_refused_as_unsupported_language(
    client: Client, tool: str, arguments: dict[str, str]
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = text_of(result)
    assert "[unsupported-language]" in text and ".go" in text and ".rs" in text
    assert "Traceback" not in text
    assert not (await client.call_tool("analyze_file", {"path": "safe.ts"})).is_error


# ------------------------------------------------------------------------------------ rule docs


async def test_rule_resources_show_every_language(client: Client) -> None:
    rc401 = getattr((await client.read_resource("race://rules/RC401")).contents[0], "text", "")
    rust = RULES["RC401"].other_languages["rust"]
    assert "## In JavaScript / TypeScript\n```javascript\n" in rc401
    assert f"## In Rust\n```rust\n{rust.racy}```" in rc401
    assert f"Fix: {rust.fix}" in rc401
    rc102 = getattr((await client.read_resource("race://rules/RC102")).contents[0], "text", "")
    assert "## In JavaScript / TypeScript\nDoes not apply: Node runs every handler" in rc102
    catalog = getattr((await client.read_resource("race://rules")).contents[0], "text", "")
    assert "| RC201 | sql-select-then-update-without-lock |" in catalog
    assert "| Python, JS/TS, Rust |" in catalog
