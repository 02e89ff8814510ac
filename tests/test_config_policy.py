"""One configuration path, and who may widen the policy.

Every command and the MCP server validate settings the same way (an unknown rule selector is
`unknown-rule` everywhere) and build allowed roots with the same function. The analysed project's
`pyproject.toml` may not widen what race-mcp reads or sends to quietly: each widening entry is one
warning line, and one that covers `/`, the home directory or all addresses is `policy-too-wide`.
The user's own file (`$XDG_CONFIG_HOME/race-mcp/config.toml`) widens without warnings.

Everything runs the installed `race-mcp` (or the SDK's stdio client against it); bursts go to a real
HTTP server on this machine's non-loopback address, the case the allowlist exists for.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

from race_mcp.config import Settings, load_settings
from race_mcp.errors import InputError, PolicyError
from race_mcp.roots import allowed_roots
from race_mcp.server import build_server
from tests._mcp_helpers import RACE_MCP, RACY_SOURCE, SAFE_SOURCE

SPEC = """\
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /orders/{id}:
    put:
      parameters:
        - $ref: "../shared/params.yaml#/IfMatch"
      responses:
        "200": {description: ok}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of our own (with the user's config dir in it), for this process and children."""
    directory = tmp_path / "home"
    (directory / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(directory))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(directory / ".config"))
    return directory


@pytest.fixture
def project(home: Path) -> Path:
    """A project inside the home directory, as most are."""
    directory = home / "src" / "project"
    directory.mkdir(parents=True)
    (directory / "ok.py").write_text(SAFE_SOURCE)
    (directory / "racy.py").write_text(RACY_SOURCE)
    return directory


@pytest.fixture
def shared(home: Path) -> Path:
    """A sibling directory the project is not allowed to read unless someone widens the roots."""
    directory = home / "src" / "shared"
    directory.mkdir(parents=True)
    (directory / "racy.py").write_text(RACY_SOURCE)
    (directory / "params.yaml").write_text("IfMatch: {name: If-Match, in: header, required: true}\n")
    return directory


def project_config(project: Path, body: str) -> None:
    (project / "pyproject.toml").write_text(body)


def user_config(home: Path, body: str) -> Path:
    path = home / ".config" / "race-mcp" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def race_mcp(project: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The installed command, in the project, with this process's HOME and XDG_CONFIG_HOME."""
    return subprocess.run(
        [str(RACE_MCP), *args], cwd=project, input=stdin, capture_output=True, text=True, timeout=180
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"race-mcp: error[{code}]: "), lines[0]
    return lines[0]


def warnings_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("race-mcp: warning: ")]


# ----------------------------------------------------------------- one validation for every command


COMMANDS = {
    "analyze": ["analyze", "ok.py"],
    "patch": ["patch", "ok.py"],
    "openapi": ["openapi", "spec.yaml"],
    "burst": ["burst", "http://127.0.0.1:9/"],
    "serve": ["serve"],
    "stdio server as clients launch it": ["--root", "."],
    "bare race-mcp": [],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_rule_selector_stops_every_command(project: Path, command: str) -> None:
    project_config(project, '[tool.race-mcp]\nselect = ["RC9"]\n')
    (project / "spec.yaml").write_text(SPEC)
    line = assert_one_line_error(race_mcp(project, *COMMANDS[command]), "unknown-rule")
    assert "'RC9'" in line and "pyproject.toml" in line


def test_an_unknown_selector_in_a_flag_is_named_by_its_flag(project: Path) -> None:
    line = assert_one_line_error(race_mcp(project, "openapi", "x.yaml", "--ignore", "RA9"), "unknown-rule")
    assert "--ignore" in line


@pytest.mark.anyio
async def test_the_mcp_server_refuses_to_start_instead_of_returning_nothing(project: Path) -> None:
    """Before: `analyze_file` answered 0 findings under `select = ["RC9"]`. Now a real client
    cannot connect at all, and the server's stderr (the client's MCP log) says why in one line."""
    project_config(project, '[tool.race-mcp]\nselect = ["RC9"]\n')
    params = StdioServerParameters(command=str(RACE_MCP), args=["--root", str(project)], cwd=str(project))
    errlog = project / "server.log"
    with errlog.open("w") as log, pytest.raises(BaseExceptionGroup) as caught:
        async with Client(stdio_client(params, errlog=log), mode="legacy", read_timeout_seconds=30) as client:
            await client.call_tool("analyze_file", {"path": "racy.py"})
    assert caught.group_contains(MCPError, match="Connection closed")
    [line] = errlog.read_text().splitlines()
    assert line.startswith("race-mcp: error[unknown-rule]: ") and "'RC9'" in line


def test_build_server_validates_the_settings_it_is_given(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        build_server(roots=allowed_roots([], Settings()), settings=Settings(ignore=["XX"]))
    assert caught.value.code == "unknown-rule"


# ----------------------------------------------------------------------- one way to build roots


def test_roots_from_the_user_file_reach_the_server_patch_and_openapi(
    project: Path, shared: Path, home: Path
) -> None:
    (project / "api").mkdir()
    (project / "api" / "spec.yaml").write_text(SPEC.replace("../shared/", "../../shared/"))
    racy_copy = shared / "patch_me.py"
    racy_copy.write_text(RACY_SOURCE)

    # Without the user's roots: the $ref and the write are refused.
    refused = race_mcp(project, "openapi", "api/spec.yaml", "--format", "json")
    assert [error["code"] for error in json.loads(refused.stdout)["errors"]] == ["ref-outside-roots"]
    assert_one_line_error(race_mcp(project, "patch", str(racy_copy), "--apply"), "outside-roots")

    user_config(home, 'roots = ["~/src/shared"]\n')
    settings = load_settings(project)
    assert shared in allowed_roots([], settings).paths
    assert allowed_roots([], settings, working_directory=False).paths == [shared]

    allowed = race_mcp(project, "openapi", "api/spec.yaml", "--format", "json")
    assert json.loads(allowed.stdout)["errors"] == []
    assert warnings_of(allowed) == []  # the user's own file is trusted: no warning
    patched = race_mcp(project, "patch", str(racy_copy), "--apply")
    assert patched.returncode == 0, patched.stderr
    assert racy_copy.read_text() != RACY_SOURCE


def test_a_missing_flag_directory_is_an_error_for_every_builder(project: Path) -> None:
    (project / "spec.yaml").write_text(SPEC)
    for args in (
        ["patch", "ok.py", "--apply", "--root", "nope"],
        ["openapi", "spec.yaml", "--ref-root", "nope"],
    ):
        line = assert_one_line_error(race_mcp(project, *args), "not-found")
        assert "nope: no such directory" in line
    assert_one_line_error(race_mcp(project, "--root", "nope"), "not-found")


@pytest.mark.anyio
async def test_the_server_reads_user_roots_and_refuses_the_rest(
    project: Path, shared: Path, home: Path
) -> None:
    target = str(shared / "racy.py")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PATH": os.environ["PATH"]}

    async def analyze() -> Any:
        params = StdioServerParameters(command=str(RACE_MCP), args=[], cwd=str(project), env=env)
        async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
            return await client.call_tool("analyze_file", {"path": target})

    before = await analyze()
    assert before.is_error and "[outside-roots] " in before.content[0].text
    user_config(home, 'roots = ["../../src/shared"]\n')  # relative: from the user file's directory
    after = await analyze()
    assert not after.is_error
    assert [finding["rule_id"] for finding in after.structured_content["findings"]] == ["RC101"]


# ------------------------------------------------------------ what the project may widen, and how far


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """The configuration warnings, whatever handlers the CLI left on the logger."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("race_mcp.config")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


TOO_WIDE = {
    "the filesystem root": 'roots = ["/"]',
    "the home directory": 'roots = ["../.."]',
    "the home directory by ~": 'roots = ["~"]',
    "an ancestor of home": 'roots = ["../../../.."]',
    "a hidden directory of home": 'roots = ["~/.ssh"]',
    "the user config directory": 'roots = ["~/.config/race-mcp"]',
    "all IPv4": '[tool.race-mcp.burst]\nallow_hosts = ["0.0.0.0/0"]',
    "IPv4 wider than /8": '[tool.race-mcp.burst]\nallow_hosts = ["10.0.0.0/7"]',
    "all IPv6": '[tool.race-mcp.burst]\nallow_hosts = ["::/0"]',
    "IPv6 wider than /32": '[tool.race-mcp.burst]\nallow_hosts = ["2001:db8::/31"]',
    "all IPv4 through IPv4-mapped IPv6": '[tool.race-mcp.burst]\nallow_hosts = ["::ffff:0.0.0.0/96"]',
    "all IPv4 through NAT64": '[tool.race-mcp.burst]\nallow_hosts = ["64:ff9b::/96"]',
    "an IPv6 /64 holding the IPv4-compatible range": '[tool.race-mcp.burst]\nallow_hosts = ["::/64"]',
    "a top-level domain": '[tool.race-mcp.burst]\nallow_hosts = ["*.com"]',
    "every name": '[tool.race-mcp.burst]\nallow_hosts = ["*"]',
    "a remote wildcard": '[tool.race-mcp.openapi]\nremote_hosts = ["*.example.com"]',
    "a remote link-local address": '[tool.race-mcp.openapi]\nremote_hosts = ["169.254.169.254"]',
}


@pytest.mark.parametrize("case", TOO_WIDE)
def test_a_project_may_not_widen_too_far(project: Path, case: str) -> None:
    body = TOO_WIDE[case]
    project_config(project, body if body.startswith("[") else f"[tool.race-mcp]\n{body}\n")
    with pytest.raises(PolicyError) as caught:
        load_settings(project)
    assert caught.value.code == "policy-too-wide"
    assert str(project / "pyproject.toml") in str(caught.value)


NARROW = {
    "a sibling directory": ('roots = ["../shared"]', "shared"),
    "one private address": ('[tool.race-mcp.burst]\nallow_hosts = ["10.1.2.3"]', "10.1.2.3"),
    "a /8": ('[tool.race-mcp.burst]\nallow_hosts = ["10.0.0.0/8"]', "10.0.0.0/8"),
    "an IPv6 /48": ('[tool.race-mcp.burst]\nallow_hosts = ["2001:db8:1::/48"]', "2001:db8:1::/48"),
    "a NAT64 /104 (an IPv4 /8)": ('[tool.race-mcp.burst]\nallow_hosts = ["64:ff9b::a00:0/104"]', "64:ff9b"),
    "a name": ('[tool.race-mcp.burst]\nallow_hosts = ["staging.example.com"]', "staging.example.com"),
    "a wildcard under a domain": ('[tool.race-mcp.burst]\nallow_hosts = ["*.example.com"]', "*.example.com"),
    "a remote host": ('[tool.race-mcp.openapi]\nremote_hosts = ["specs.example.com"]', "specs.example.com"),
}


@pytest.mark.parametrize("case", NARROW)
def test_a_narrow_widening_is_accepted_and_announced_once(
    project: Path, shared: Path, warnings_logged: list[str], case: str
) -> None:
    body, named = NARROW[case]
    project_config(project, body if body.startswith("[") else f"[tool.race-mcp]\n{body}\n")
    settings = load_settings(project)
    assert len(warnings_logged) == 1, warnings_logged
    assert named in warnings_logged[0] and "pyproject.toml" in warnings_logged[0]
    assert settings.root_paths() in ([], [shared])


def test_roots_inside_the_project_are_not_announced(project: Path, warnings_logged: list[str]) -> None:
    (project / "src").mkdir()
    project_config(project, '[tool.race-mcp]\nroots = ["src", "."]\n')
    assert load_settings(project).root_paths() == [project / "src", project]
    assert warnings_logged == []


def test_the_user_file_widens_quietly_and_holds_only_policy(
    project: Path, home: Path, warnings_logged: list[str]
) -> None:
    user_config(
        home, '[burst]\nallow_hosts = ["10.1.2.3"]\n[openapi]\nremote_hosts = ["specs.example.com"]\n'
    )
    project_config(project, '[tool.race-mcp.burst]\nallow_hosts = ["10.9.9.9"]\n')
    settings = load_settings(project)
    assert settings.burst.allow_hosts == ["10.9.9.9", "10.1.2.3"]
    assert settings.openapi.remote_hosts == ["specs.example.com"]
    assert len(warnings_logged) == 1 and "10.9.9.9" in warnings_logged[0]  # only the project's

    user_config(home, 'select = ["RC1"]\n')
    with pytest.raises(InputError) as caught:
        load_settings(project)
    assert caught.value.code == "bad-config"


def test_the_issue_repository_cannot_start_the_server(project: Path) -> None:
    """The reported case: a repository asking for the whole disk and every address."""
    project_config(
        project,
        '[tool.race-mcp]\nroots = ["/"]\n[tool.race-mcp.burst]\nallow_hosts = ["0.0.0.0/0"]\n',
    )
    for args in ([], ["--root", "."], ["serve", "--http", "--port", "0"]):
        line = assert_one_line_error(race_mcp(project, *args), "policy-too-wide")
        assert "roots entry '/'" in line


def test_a_narrow_project_host_starts_the_server_with_one_warning(project: Path) -> None:
    project_config(project, '[tool.race-mcp.burst]\nallow_hosts = ["10.1.2.3"]\n')
    done = race_mcp(project, "--root", ".")  # stdin at end of file: starts, then the client is gone
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == warnings_of(done)
    [warning] = warnings_of(done)
    assert "[tool.race-mcp.burst] allow_hosts adds 10.1.2.3" in warning


# ----------------------------------------------------- bursts to a real host beyond loopback


def non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def lan_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on the non-loopback address; yields its URL and the paths it was asked for."""
    address = non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            seen.append(self.path)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}/item", seen
    finally:
        server.shutdown()
        server.server_close()


def burst(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    return race_mcp(project, "burst", url, "-n", "3", "--expect-max", "3", "--mode", "h1", "--format", "json")


def test_a_host_beyond_loopback_needs_the_user(
    project: Path, home: Path, lan_server: tuple[str, list[str]]
) -> None:
    url, seen = lan_server
    host = url.split("//")[1].split(":")[0]

    assert_one_line_error(burst(project, url), "host-not-allowed")
    assert seen == []  # refused before any connection

    user_config(home, f'[burst]\nallow_hosts = ["{host}"]\n')
    by_user = burst(project, url)
    assert by_user.returncode in (0, 1), by_user.stderr
    assert json.loads(by_user.stdout)["status_counts"] == {"200": 3}
    assert warnings_of(by_user) == []
    assert len(seen) == 3

    (home / ".config" / "race-mcp" / "config.toml").unlink()
    project_config(project, f'[tool.race-mcp.burst]\nallow_hosts = ["{host}"]\n')
    by_project = burst(project, url)
    assert by_project.returncode in (0, 1), by_project.stderr
    assert json.loads(by_project.stdout)["status_counts"] == {"200": 3}
    [warning] = warnings_of(by_project)
    assert f"allow_hosts adds {host}" in warning
    assert len(seen) == 6


@pytest.mark.anyio
async def test_run_burst_reaches_a_host_the_user_file_allows(
    project: Path, home: Path, lan_server: tuple[str, list[str]]
) -> None:
    url, seen = lan_server
    host = url.split("//")[1].split(":")[0]
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PATH": os.environ["PATH"]}
    spec = {"spec": {"url": url, "requests": 2, "mode": "h1", "expected_max_successes": 2}}

    async def run() -> Any:
        params = StdioServerParameters(command=str(RACE_MCP), args=[], cwd=str(project), env=env)
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            return await client.call_tool("run_burst", spec)

    refused = await run()
    assert refused.is_error and "[host-not-allowed] " in refused.content[0].text
    user_config(home, f'[burst]\nallow_hosts = ["{host}"]\n')
    allowed = await run()
    assert not allowed.is_error, allowed.content
    assert allowed.structured_content["status_counts"] == {"200": 2}
    assert len(seen) == 2
