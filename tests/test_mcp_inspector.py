"""The MCP Inspector CLI (npm) against the installed `race-mcp`: a client nobody here wrote.

Skipped when `npx` is missing, except in CI (`CI=true`), where that is a failure. The first run
downloads the pinned Inspector into npm's cache; later runs take a few seconds each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests._mcp_helpers import RACE_MCP, RACY_ROUTE, Workspace, make_workspace

pytestmark = pytest.mark.inspector

# Pinned: exit code 5 for an isError result arrived in v2 (v0.x exits 0).
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
TOOL_IS_ERROR_EXIT = 5


@pytest.fixture(scope="module")
def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npx is required in CI for the MCP Inspector tests; install Node.js >= 20")
        pytest.skip("npx not found; install Node.js >= 20 to run the MCP Inspector tests")
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("inspector"))


@pytest.fixture(scope="module")
def inspector(npx: str, workspace: Workspace) -> tuple[Any, subprocess.CompletedProcess[str]]:
    """The Inspector runner, and its first run (`tools/list`), which also warms npm's cache."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # The Inspector gives a server 15 s to connect; a server starting on a loaded 2-core machine
        # (the suite's four workers and their servers) can take longer.
        command = [npx, "-y", INSPECTOR, "--cli", str(RACE_MCP), "--connect-timeout", "60000", *args]
        return subprocess.run(
            command, cwd=workspace.root, capture_output=True, text=True, timeout=timeout, check=False
        )

    # A generous timeout: only the very first run on a machine downloads the Inspector. Its answer
    # is test_tools_list's, instead of a second identical run (each starts node and the server).
    first = run("--method", "tools/list", timeout=300)
    assert first.returncode == 0, first.stderr
    return run, first


@pytest.fixture(scope="module")
def inspect(inspector: tuple[Any, subprocess.CompletedProcess[str]]) -> Any:
    return inspector[0]


def output(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_tools_list(inspector: tuple[Any, subprocess.CompletedProcess[str]]) -> None:
    tools = output(inspector[1])["tools"]

    assert [tool["name"] for tool in tools] == ["analyze_file", "check_openapi", "propose_patch", "run_burst"]
    assert tools[0]["annotations"] | {"title": None} == {
        "title": None,
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    }
    assert tools[0]["outputSchema"]["properties"].keys() == {"findings", "errors", "summary", "page"}


def test_tools_call_finds_the_race(inspect: Any) -> None:
    result = output(
        inspect(
            "--method", "tools/call", "--tool-name", "analyze_file",
            "--tool-arg", "path=racy.py", "--tool-arg", "max_findings=5",
        )
    )  # fmt: skip

    assert result.get("isError") is not True
    findings = result["structuredContent"]["findings"]
    assert [(f["rule_id"], f["route"]) for f in findings] == [("RC101", RACY_ROUTE)]
    assert "RC101" in result["content"][0]["text"]


def test_tools_call_outside_the_roots_is_a_tool_error(inspect: Any) -> None:
    done = inspect(
        "--method", "tools/call", "--tool-name", "analyze_file", "--tool-arg", "path=../outside/secret.py"
    )  # fmt: skip

    assert done.returncode == TOOL_IS_ERROR_EXIT, done.stderr
    result = json.loads(done.stdout)
    assert result["isError"] is True
    assert "outside the allowed roots" in result["content"][0]["text"]
    assert '"tool_is_error"' in done.stderr


def test_resources_read(inspect: Any) -> None:
    contents = output(inspect("--method", "resources/read", "--uri", "race://rules/RC101"))["contents"]

    assert contents[0]["mimeType"] == "text/markdown"
    assert contents[0]["text"].startswith("# RC101 ")


def test_prompts_get(inspect: Any) -> None:
    prompt = output(
        inspect("--method", "prompts/get", "--prompt-name", "audit_file", "--prompt-args", "path=racy.py")
    )

    text = prompt["messages"][0]["content"]["text"]
    assert "`racy.py`" in text and "analyze_file" in text
