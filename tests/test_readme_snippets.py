"""What the README tells a new user to paste or type works as written.

Every MCP client configuration in README.md (each ```json block with an `mcpServers` or `servers`
table, and each `claude mcp add ... -- COMMAND ARGS` line) is filled in (the installed race-mcp for
`/path/to/race-mcp/.venv/bin/race-mcp`, a project with a racy handler for `/path/to/your/project`)
and launched through the MCP SDK's real client, which must get a finding from `analyze_file`. The
streamable-HTTP snippet is served by the README's own `race-mcp serve --http` line. Also here: the
terminal notice of a hand-started stdio server, the demo shop started as the README says for a
manual burst, and docs that stay inside the repository.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests._mcp_helpers import RACE_MCP, RACY_ROUTE, RACY_SOURCE, free_port, stop, wait_for_port

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RACE_MCP_PLACEHOLDER = "/path/to/race-mcp/.venv/bin/race-mcp"
PROJECT_PLACEHOLDER = "/path/to/your/project"
README_PORT = "8000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Block:
    language: str
    text: str


def readme_blocks() -> list[Block]:
    """Every fenced code block of the README, with its language tag."""
    pattern = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [Block(match[1], match[2]) for match in pattern.finditer(README.read_text(encoding="utf-8"))]


def config_snippets() -> list[dict[str, Any]]:
    """The JSON client configurations: each one's server table entry for race-mcp."""
    found = []
    for block in readme_blocks():
        if block.language == "json" and ('"mcpServers"' in block.text or '"servers"' in block.text):
            data = json.loads(block.text)
            table = data.get("mcpServers") or data.get("servers")
            assert set(table) == {"race-mcp"}, block.text
            found.append(table["race-mcp"])
    return found


def shell_lines(marker: str) -> list[str]:
    """Commands in the README's sh blocks (backslash continuations joined) that contain `marker`."""
    lines = []
    for block in readme_blocks():
        if block.language != "sh":
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].strip()
            if marker in command:
                lines.append(command)
    return lines


STDIO_SNIPPETS = [entry for entry in config_snippets() if "command" in entry]
HTTP_SNIPPETS = [entry for entry in config_snippets() if entry.get("type") == "http"]
CLAUDE_ADD_LINES = shell_lines("claude mcp add")


def test_the_readme_shows_every_client_this_test_launches() -> None:
    # Generic mcpServers (Claude Desktop, Cursor), VS Code's servers table, the HTTP one, Claude Code.
    assert len(STDIO_SNIPPETS) == 2
    assert any(entry.get("type") == "stdio" for entry in STDIO_SNIPPETS)  # VS Code's format
    assert len(HTTP_SNIPPETS) == 1
    assert len(CLAUDE_ADD_LINES) == 1
    # Nothing else: a snippet this file does not understand would be a snippet nobody tested.
    assert len(config_snippets()) == len(STDIO_SNIPPETS) + len(HTTP_SNIPPETS)


# ------------------------------------------------------------------------------ launching them


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The code to review, with a racy handler; the client starts race-mcp somewhere else."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "racy.py").write_text(RACY_SOURCE)
    return directory


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """The client's working directory: not the project, so only `--root` can allow it."""
    directory = tmp_path / "client-cwd"
    directory.mkdir()
    return directory


def fill(value: str, project: Path) -> str:
    return value.replace(RACE_MCP_PLACEHOLDER, str(RACE_MCP)).replace(PROJECT_PLACEHOLDER, str(project))


async def assert_finds_the_race(client: Client, project: Path) -> None:
    result = await client.call_tool("analyze_file", {"path": str(project / "racy.py")})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    findings = result.structured_content["findings"]
    assert [(finding["rule_id"], finding["route"]) for finding in findings] == [("RC101", RACY_ROUTE)]


async def launch_stdio(command: str, args: list[str], project: Path, cwd: Path) -> None:
    params = StdioServerParameters(command=command, args=args, cwd=str(cwd))
    async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
        await assert_finds_the_race(client, project)


@pytest.mark.anyio
@pytest.mark.parametrize("snippet", STDIO_SNIPPETS, ids=lambda entry: entry.get("type", "mcpServers"))
async def test_stdio_snippet_launches_and_finds_the_race(
    snippet: dict[str, Any], project: Path, elsewhere: Path
) -> None:
    if "type" in snippet:
        assert snippet["type"] == "stdio"
    command = fill(snippet["command"], project)
    args = [fill(arg, project) for arg in snippet.get("args", [])]
    await launch_stdio(command, args, project, elsewhere)


@pytest.mark.anyio
@pytest.mark.parametrize("line", CLAUDE_ADD_LINES)
async def test_claude_code_add_line_launches_and_finds_the_race(
    line: str, project: Path, elsewhere: Path
) -> None:
    words = shlex.split(fill(line, project))
    assert words[:4] == ["claude", "mcp", "add", "race-mcp"]
    command, *args = words[words.index("--") + 1 :]
    await launch_stdio(command, args, project, elsewhere)


@pytest.fixture
def readme_http_server(project: Path, elsewhere: Path) -> Iterator[str]:
    """The README's `race-mcp serve --http ...` line, on a free port instead of 8000."""
    [line] = shell_lines("race-mcp serve --http")
    port = str(free_port())
    words = [fill(word, project) for word in shlex.split(line)]
    words = [str(RACE_MCP) if word == "race-mcp" else port if word == README_PORT else word for word in words]
    log = elsewhere / "serve.log"
    env = {key: value for key, value in os.environ.items() if key != "RACE_MCP_TOKEN"}
    with log.open("wb") as stderr:
        process = subprocess.Popen(words, cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        wait_for_port(int(port), process, log)
        yield port
    finally:
        stop(process)


@pytest.mark.anyio
@pytest.mark.parametrize("snippet", HTTP_SNIPPETS)
async def test_http_snippet_connects_and_finds_the_race(
    snippet: dict[str, Any], readme_http_server: str, project: Path
) -> None:
    url = snippet["url"].replace(f":{README_PORT}/", f":{readme_http_server}/")
    async with Client(streamable_http_client(url), read_timeout_seconds=30) as client:
        await assert_finds_the_race(client, project)


# --------------------------------------------------------------------- started by hand, in a terminal


def test_on_a_terminal_it_says_what_it_is_and_serves_until_stdin_closes(tmp_path: Path) -> None:
    """`race-mcp` typed in a terminal: one stderr line saying it waits for an MCP client and how to
    get help, then it keeps serving (no exit) until the terminal sends end-of-file."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(RACE_MCP)], stdin=terminal, stdout=terminal, stderr=subprocess.PIPE, cwd=tmp_path
    )
    os.close(terminal)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 20)
        assert ready, "no notice on stderr within 20 s"
        notice = process.stderr.readline().decode()
        assert "MCP" in notice and "waiting for an MCP client" in notice
        assert "race-mcp --help" in notice
        time.sleep(1.0)
        assert process.poll() is None, "the server must keep waiting for a client"
        os.write(controller, b"\x04")  # Ctrl-D: end of input on a terminal
        assert process.wait(timeout=20) == 0
        assert process.stderr.read().decode().strip() == ""  # nothing else: one line, no traceback
    finally:
        stop(process)
        os.close(controller)


def test_without_a_terminal_it_stays_silent(tmp_path: Path) -> None:
    """MCP clients connect pipes, not a terminal: stderr stays quiet (clients log it as errors)."""
    done = subprocess.run(
        [str(RACE_MCP), "--root", str(tmp_path)],
        input=b"",
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stderr == b""


def test_options_without_a_command_are_serves_and_top_level_help_says_so(tmp_path: Path) -> None:
    missing = subprocess.run(
        [str(RACE_MCP), "--root", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("race-mcp: error[not-found]: --root ")
    assert len(missing.stderr.splitlines()) == 1

    helped = subprocess.run([str(RACE_MCP), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    assert "race-mcp --root DIR is race-mcp serve --root DIR" in " ".join(helped.stdout.split())
    analyze = subprocess.run(
        [str(RACE_MCP), "analyze", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "--fail-on" in analyze.stdout  # commands are still commands


# ---------------------------------------------------------------- the demo shop, for a manual burst


@pytest.fixture
def readme_demo_shop(tmp_path: Path) -> Iterator[str]:
    """The README's command to start the demo shop, on a free port; yields its base URL."""
    [line] = shell_lines("race_mcp.demo.shop:app")
    port = str(free_port())
    words = shlex.split(line)
    assert words[0] == ".venv/bin/uvicorn"
    words[0] = str(Path(sys.executable).parent / "uvicorn")  # the same .venv, wherever it is
    words = [port if word == README_PORT else word for word in words]
    log = tmp_path / "shop.log"
    env = os.environ | {"RACE_MCP_DEMO_DB": str(tmp_path / "shop.sqlite3")}
    with log.open("wb") as stderr:
        process = subprocess.Popen(words, cwd=tmp_path, stdout=stderr, stderr=stderr, env=env)
    try:
        wait_for_port(int(port), process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_demo_shop_starts_as_the_readme_says_and_its_bursts_find_the_races(readme_demo_shop: str) -> None:
    health = httpx.get(f"{readme_demo_shop}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"

    bursts = shell_lines("race-mcp burst")
    assert len(bursts) == 2
    for line in bursts:
        words = [word.replace("http://127.0.0.1:8000", readme_demo_shop) for word in shlex.split(line)]
        words[0] = str(RACE_MCP)
        done = subprocess.run([*words, "--format", "json"], capture_output=True, text=True, timeout=180)
        assert done.returncode == 1, done.stderr
        assert json.loads(done.stdout)["verdict"] == "race"


# ------------------------------------------------------------------ the configuration examples


def test_the_configuration_examples_load_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's pyproject example loads (its one root outside the project announced once) and
    its user-level file example is accepted as the user's own policy."""
    from race_mcp.config import load_settings

    toml = [block.text for block in readme_blocks() if block.language == "toml"]
    [project_example] = [text for text in toml if text.startswith("[tool.race-mcp]")]
    [user_example] = [text for text in toml if "[burst]" in text]
    home = tmp_path / "home"
    project = home / "src" / "project"
    project.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    (project / "pyproject.toml").write_text(project_example)
    user_file = home / ".config" / "race-mcp" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(user_example)

    warned: list[str] = []
    collect = logging.Handler(logging.WARNING)
    collect.emit = lambda record: warned.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("race_mcp.config")
    logger.addHandler(collect)  # its own handler: the CLI may have stopped propagation here
    try:
        settings = load_settings(project)
    finally:
        logger.removeHandler(collect)

    shared_lib = home / "src" / "shared-lib"
    assert [message.split(" adds ")[1].split(",")[0] for message in warned] == [str(shared_lib)]
    assert settings.root_paths() == [shared_lib, shared_lib]  # the project's, then the user's
    assert settings.burst.allow_hosts == ["staging.example.com", "10.1.2.3"]
    assert settings.openapi.remote_hosts == ["opensource.zalando.com"]


# ------------------------------------------------------------------------- docs stay in the repo


def repository_docs() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_no_doc_points_outside_the_repository() -> None:
    docs = repository_docs()
    assert README in docs and REPO / "docs" / "design.md" in docs
    link = re.compile(r"\]\(([^)#\s]+)")
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        assert "../shared/" not in text, f"{doc.relative_to(REPO)} points to ../shared/"
        for target in link.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(REPO), f"{doc.relative_to(REPO)} links outside: {target}"
            assert resolved.exists(), f"{doc.relative_to(REPO)} links to a missing file: {target}"
