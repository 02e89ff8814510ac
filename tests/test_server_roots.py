"""Allowed roots and HTTP policy of the MCP server, driven in-process through the SDK's client.

Client roots arrive differently per protocol era (a `roots/list` request mid-call on handshake
sessions, an input-required round trip on 2026-07-28), so every roots test runs in both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ListRootsFnT
from mcp.types import ListRootsResult, Root, TextContent

from race_mcp.config import Settings
from race_mcp.errors import InputError
from race_mcp.roots import AllowedRoots
from race_mcp.server import allowed_roots, build_server, is_loopback, transport_security
from tests._mcp_helpers import RACY_SOURCE

pytestmark = pytest.mark.anyio
MODES = pytest.mark.parametrize("mode", ["legacy", "auto"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """`configured` is the server's root, `client` the client's workspace, `elsewhere` neither."""
    made = {name: tmp_path / name for name in ("configured", "client", "elsewhere")}
    for directory in made.values():
        directory.mkdir()
        (directory / f"{directory.name}.py").write_text(RACY_SOURCE)
    (made["configured"] / "shared.py").write_text(RACY_SOURCE)
    (made["client"] / "shared.py").write_text(RACY_SOURCE)
    return made


def offering(*uris: str) -> ListRootsFnT:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri) for uri in uris])

    return list_roots


async def analyze(
    dirs: dict[str, Path], mode: str, path: str, roots: ListRootsFnT | None, *, trusted: bool = True
) -> tuple[bool, str]:
    server = build_server(
        roots=AllowedRoots([dirs["configured"]]), settings=Settings(), trust_client_roots=trusted
    )
    async with Client(server, mode=mode, list_roots_callback=roots) as client:
        result = await client.call_tool("analyze_file", {"path": path})
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    if not result.is_error:
        assert result.structured_content is not None
        text = result.structured_content["findings"][0]["path"]
    return bool(result.is_error), text


@MODES
async def test_without_the_roots_capability_only_configured_roots_count(
    dirs: dict[str, Path], mode: str
) -> None:
    assert await analyze(dirs, mode, "configured.py", None) == (
        False,
        str(dirs["configured"] / "configured.py"),
    )
    refused, message = await analyze(dirs, mode, str(dirs["client"] / "client.py"), None)
    assert refused and "outside the allowed roots" in message


@MODES
async def test_client_roots_are_added_to_the_configured_ones(dirs: dict[str, Path], mode: str) -> None:
    roots = offering(dirs["client"].as_uri())
    client_file = str(dirs["client"] / "client.py")
    assert await analyze(dirs, mode, client_file, roots) == (False, client_file)
    assert await analyze(dirs, mode, "configured.py", roots) == (
        False,
        str(dirs["configured"] / "configured.py"),
    )
    refused, message = await analyze(dirs, mode, str(dirs["elsewhere"] / "elsewhere.py"), roots)
    assert refused and "outside the allowed roots" in message


@MODES
async def test_untrusted_client_roots_do_not_widen_access(dirs: dict[str, Path], mode: str) -> None:
    roots = offering(dirs["client"].as_uri())
    refused, message = await analyze(dirs, mode, str(dirs["client"] / "client.py"), roots, trusted=False)
    assert refused and "outside the allowed roots" in message
    assert await analyze(dirs, mode, "shared.py", roots, trusted=False) == (
        False,
        str(dirs["configured"] / "shared.py"),
    )


@MODES
async def test_relative_paths_try_the_client_workspace_first(dirs: dict[str, Path], mode: str) -> None:
    roots = offering(dirs["client"].as_uri())
    assert await analyze(dirs, mode, "shared.py", roots) == (False, str(dirs["client"] / "shared.py"))


@MODES
async def test_remote_and_missing_client_roots_are_ignored(dirs: dict[str, Path], mode: str) -> None:
    roots = offering(f"file://fileserver{dirs['elsewhere']}", (dirs["elsewhere"] / "gone").as_uri())
    refused, message = await analyze(dirs, mode, str(dirs["elsewhere"] / "elsewhere.py"), roots)
    assert refused and "outside the allowed roots" in message
    assert await analyze(dirs, mode, "configured.py", roots) == (
        False,
        str(dirs["configured"] / "configured.py"),
    )


@MODES
async def test_parent_escapes_are_refused(dirs: dict[str, Path], mode: str) -> None:
    refused, message = await analyze(dirs, mode, "../elsewhere/elsewhere.py", None)
    assert refused and "outside the allowed roots" in message


# ------------------------------------------------------------------------------ allowed_roots()


def test_allowed_roots_are_cwd_flags_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "flag").mkdir()
    (tmp_path / "lib").mkdir()
    monkeypatch.chdir(tmp_path)
    settings = Settings(roots=["lib", "missing"], config_dir=str(tmp_path))

    roots = allowed_roots(["flag"], settings)

    assert roots.paths == [tmp_path.resolve(), (tmp_path / "flag").resolve(), (tmp_path / "lib").resolve()]


def test_a_missing_root_flag_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="--root nope: no such directory"):
        allowed_roots(["nope"], Settings())


def test_filesystem_root_as_cwd_is_not_an_allowed_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert allowed_roots([], Settings()).paths == []


def test_the_server_and_the_cli_share_one_roots_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`patch --apply` and `openapi` build their roots with the server's function (roots.py).

    The commands import it when they run (the CLI loads only what a command needs), so the check
    runs them with roots.allowed_roots recording its callers."""
    from race_mcp import cli, roots

    assert allowed_roots is roots.allowed_roots
    flags: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> AllowedRoots:
        flags.append(kwargs.get("flag", "--root"))
        return allowed_roots(*args, **kwargs)

    monkeypatch.setattr(roots, "allowed_roots", recording)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.race-mcp]\n")
    (tmp_path / "spec.yaml").write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n")
    (tmp_path / "app.py").write_text(RACY_SOURCE)
    assert cli.main(["openapi", "spec.yaml"]) == 0
    assert cli.main(["patch", "app.py", "--apply"]) == 0
    capsys.readouterr()
    assert flags == ["--ref-root", "--root"]
    (tmp_path / "specs").mkdir()
    refs = allowed_roots([tmp_path / "specs"], Settings(), working_directory=False, flag="--ref-root")
    assert refs.paths == [(tmp_path / "specs").resolve()]  # no working directory for $ref roots
    with pytest.raises(InputError, match="--ref-root nope: no such directory") as caught:
        allowed_roots(["nope"], Settings(), working_directory=False, flag="--ref-root")
    assert caught.value.code == "not-found"


# ------------------------------------------------------------------------------- HTTP policy


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_transport_security_allows_bind_host_and_loopback_names_only() -> None:
    settings = transport_security("192.168.1.5", ["mcp.example.com"])

    assert settings.enable_dns_rebinding_protection
    assert "192.168.1.5:*" in settings.allowed_hosts
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*", "mcp.example.com:*"} <= set(settings.allowed_hosts)
    assert "https://mcp.example.com" in settings.allowed_origins
    assert not any("evil" in host for host in settings.allowed_hosts)


def test_wildcard_bind_address_is_not_an_allowed_host_name() -> None:
    settings = transport_security("0.0.0.0")
    assert not any(host.startswith("0.0.0.0") for host in settings.allowed_hosts)
    assert "127.0.0.1:*" in settings.allowed_hosts
