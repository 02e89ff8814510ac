"""`check_openapi` over a real MCP stdio client and `race-mcp openapi` as a subprocess.

The core is tested in test_openapi_*.py; here: the adapters' contract, bad input as one clean
error (never a traceback), the server still serving afterwards, and the spec linked to the code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests._mcp_helpers import RACE_MCP, RACY_SOURCE

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
SPEC = """\
openapi: 3.1.0
info: {title: Coupons, version: "1"}
paths:
  /redeem/{code}:
    post:
      operationId: redeemCoupon
      parameters:
        - {name: code, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: redeemed}
"""
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("openapi-adapters")
    (root / "api").mkdir()
    (root / "api" / "openapi.yaml").write_text(SPEC)
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text(RACY_SOURCE)
    (root / "bomb.yaml").write_text(ALIAS_BOMB)
    (root / "escape.yaml").write_text(
        SPEC.replace('        "200": {description: redeemed}', '        "200": {$ref: "../../etc/passwd"}')
    )
    (root / "garbage.yaml").write_bytes(b"\x00\x01\x02 not yaml")
    shutil.copy(FIXTURES / "RA101.yaml", root / "RA101.yaml")
    return root


@pytest.fixture(scope="module")
async def client(workspace: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(workspace))
    async with Client(params, mode="legacy", read_timeout_seconds=30) as connected:
        yield connected


async def test_tool_is_listed_read_only_with_bounded_inputs(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "check_openapi")
    inputs = tool.input_schema["properties"]
    assert set(inputs) == {"spec", "source", "max_findings", "offset"}
    assert "remote" not in json.dumps(tool.input_schema).lower()  # remote $refs: config only
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.output_schema is not None and "endpoints" in tool.output_schema["properties"]


async def test_spec_and_code_findings_meet_on_the_endpoint(client: Client) -> None:
    result = await client.call_tool("check_openapi", {"spec": "api/openapi.yaml", "source": "app"})
    assert not result.is_error
    report = result.structured_content
    assert report is not None
    first = report["endpoints"][0]
    assert first["operation"] == "POST /redeem/{code}"
    assert {f["rule_id"] for f in first["spec_findings"]} >= {"RA111"}
    assert [f["rule_id"] for f in first["code_findings"]] == ["RC101"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("bomb.yaml", "alias"),
        ("escape.yaml", "outside"),
        ("garbage.yaml", "binary"),
        ("missing.yaml", "no such file"),
        ("/etc/hostname", "outside the allowed roots"),
    ],
)
async def test_bad_specs_are_one_clean_error_and_the_server_goes_on(
    client: Client, spec: str, words: str
) -> None:
    result = await client.call_tool("check_openapi", {"spec": spec})
    text = " ".join(block.text for block in result.content if hasattr(block, "text"))
    if spec == "escape.yaml":
        # An escaping $ref is reported as an unresolved reference; the rest of the spec is checked.
        assert not result.is_error
        assert result.structured_content is not None
        assert any(words in error["message"] for error in result.structured_content["errors"])
    else:
        assert result.is_error
        assert words in text.lower()
        assert "Traceback" not in text
    again = await client.call_tool("check_openapi", {"spec": "RA101.yaml"})
    assert not again.is_error


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RACE_MCP), "openapi", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_json_contract_and_exit_codes(workspace: Path) -> None:
    done = _cli("api/openapi.yaml", "--source", "app", "--format", "json", cwd=workspace)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert {"findings", "errors", "summary", "endpoints", "spec"} <= set(report)
    finding = report["findings"][0]
    assert finding["operation"] and finding["pointer"].startswith("/paths/")
    clean = _cli("api/openapi.yaml", "--select", "RA105", cwd=workspace)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_cli_sarif_validates(workspace: Path, check_sarif) -> None:  # type: ignore[no-untyped-def]
    done = _cli("RA101.yaml", "--format", "sarif", cwd=workspace)
    assert done.returncode == 1
    check_sarif(done.stdout)


@pytest.mark.parametrize("spec", ["bomb.yaml", "garbage.yaml", "missing.yaml"])
def test_cli_bad_spec_is_exit_2_with_one_line(workspace: Path, spec: str) -> None:
    done = _cli(spec, cwd=workspace)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
