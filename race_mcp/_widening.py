"""What a project's own configuration may widen, and the user-level file that may widen more.

The repository under analysis is untrusted input: its `pyproject.toml` must not quietly let
race-mcp read the whole disk or send bursts anywhere. Three settings widen what race-mcp may
read or send to: `roots`, `[tool.race-mcp.burst] allow_hosts` and `[tool.race-mcp.openapi]
remote_hosts`. From the user (command-line flags, or the user-level file `user_config_path()`)
they are trusted. From the project they are announced on stderr (one warning line each), and
refused (`PolicyError`, code `policy-too-wide`) when they cover:

- roots: `/`, the home directory or an ancestor of it, a dot-directory of the home directory
  (`~/.ssh`, `~/.aws`, `~/.config`: credentials and tool settings, race-mcp's own among them),
  or the directory of the user-level config file;
- burst hosts: an IPv4 network wider than /8, an IPv6 network wider than /32, an IPv6 network
  that stands for more than an IPv4 /8 (mapped, compatible, NAT64, 6to4, Teredo forms), or a
  wildcard over a top-level domain (`*.com`, `*`);
- remote $ref hosts: a wildcard, or a link-local address (where cloud metadata lives).

A project root inside the project's own directory widens nothing and is accepted silently.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .errors import InputError, PolicyError

__all__ = ["UserPolicy", "check_project_policy", "read_user_policy", "user_config_path"]

# The CLI routes this logger to stderr as `race-mcp: warning: ...`; the server logs it at start.
logger = logging.getLogger("race_mcp.config")

_MIN_IPV4_PREFIX = 8
_MIN_IPV6_PREFIX = 32

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 ranges that carry an IPv4 address, and the bit where it starts: a network over one of
# them reaches the IPv4 addresses it carries, so it is judged by the IPv4 prefix it stands for.
_IPV4_CARRIERS: tuple[tuple[ipaddress.IPv6Network, int], ...] = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 96),  # IPv4-mapped
    (ipaddress.IPv6Network("::/96"), 96),  # IPv4-compatible (deprecated)
    (ipaddress.IPv6Network("64:ff9b::/96"), 96),  # NAT64, RFC 6052
    (ipaddress.IPv6Network("64:ff9b:1::/48"), 48),  # local NAT64, RFC 8215
    (ipaddress.IPv6Network("2002::/16"), 16),  # 6to4
    (ipaddress.IPv6Network("2001::/32"), 32),  # Teredo (the server's address)
)


# ------------------------------------------------------------------------------ the user's file


class _UserBurst(BaseModel, extra="forbid"):
    allow_hosts: list[str] = Field(default_factory=list, description="extra burst targets")


class _UserOpenApi(BaseModel, extra="forbid"):
    remote_hosts: list[str] = Field(default_factory=list, description="hosts remote $refs may come from")


class UserPolicy(BaseModel, extra="forbid"):
    """The user-level config file: only the settings that widen what race-mcp may read or send to."""

    roots: list[str] = Field(default_factory=list, description="extra allowed roots")
    burst: _UserBurst = Field(default_factory=_UserBurst)
    openapi: _UserOpenApi = Field(default_factory=_UserOpenApi)

    def root_paths(self, base: Path) -> list[Path]:
        """The roots resolved (`~` expanded) against the directory of the user's file."""
        return [(base / Path(root).expanduser()).resolve() for root in self.roots]


def user_config_path() -> Path:
    """`$XDG_CONFIG_HOME/race-mcp/config.toml`, by default `~/.config/race-mcp/config.toml`."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "race-mcp" / "config.toml"


def read_user_policy(path: Path) -> UserPolicy:
    """The user's file if it exists (no file: nothing added); `InputError` if it is unusable."""
    if not path.is_file():
        return UserPolicy()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return UserPolicy(**data)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read configuration: {exc}", code="bad-config") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(
            f"{path}: {where}: {first['msg']} (this file holds only roots, [burst] allow_hosts "
            "and [openapi] remote_hosts)",
            code="bad-config",
        ) from None


# ------------------------------------------------------------------------- the project's file


def check_project_policy(
    roots: list[str], burst_hosts: list[str], remote_hosts: list[str], pyproject: Path
) -> list[Path]:
    """Refuse what is too wide, warn about the rest; returns the project's roots, resolved."""
    project_dir = pyproject.parent.resolve()
    move = f"move it to {user_config_path()} or pass it as a flag to silence this"
    resolved_roots: list[Path] = []
    for root in roots:
        resolved = (project_dir / Path(root).expanduser()).resolve()
        _refuse(_root_too_wide(resolved), f"{pyproject} [tool.race-mcp] roots entry {root!r} ({resolved})")
        if not resolved.is_relative_to(project_dir):
            logger.warning(
                "%s [tool.race-mcp] roots adds %s, outside the project: the MCP file tools and "
                "OpenAPI $refs may read it (%s)",
                pyproject,
                resolved,
                move,
            )
        resolved_roots.append(resolved)
    for host in burst_hosts:
        _refuse(_burst_host_too_wide(host), f"{pyproject} [tool.race-mcp.burst] allow_hosts entry {host!r}")
        logger.warning(
            "%s [tool.race-mcp.burst] allow_hosts adds %s: bursts may send requests to it (%s)",
            pyproject,
            host,
            move,
        )
    for host in remote_hosts:
        _refuse(
            _remote_host_too_wide(host), f"{pyproject} [tool.race-mcp.openapi] remote_hosts entry {host!r}"
        )
        logger.warning(
            "%s [tool.race-mcp.openapi] remote_hosts adds %s: remote $refs may be fetched from it (%s)",
            pyproject,
            host,
            move,
        )
    return resolved_roots


def _refuse(why: str | None, what: str) -> None:
    if why is not None:
        raise PolicyError(
            f"{what} {why}; a project's own configuration may not widen race-mcp's policy that far "
            f"(a user who means it can pass a flag or write it in {user_config_path()})",
            code="policy-too-wide",
        )


def _root_too_wide(root: Path) -> str | None:
    if root == Path(root.anchor):
        return "is the filesystem root"
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory to protect
        home = None
    if home is not None and home.is_relative_to(root):
        return "covers the home directory" if root != home else "is the home directory"
    if home is not None and root.is_relative_to(home) and root.relative_to(home).parts[0].startswith("."):
        return "is inside a hidden directory of the home directory (credentials and tool settings live there)"
    user_dir = user_config_path().parent.resolve()
    if user_dir.is_relative_to(root):
        return "covers race-mcp's user-level configuration"
    return None


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
    except ValueError:
        return None


def _burst_host_too_wide(entry: str) -> str | None:
    text = entry.strip().lower().rstrip(".")
    network = _network(text)
    if network is None:
        labels = text.removeprefix("*.").split(".")
        if text == "*" or (text.startswith("*.") and len(labels) < 2):
            return "is a wildcard over a whole top-level domain"
        return None
    if isinstance(network, ipaddress.IPv4Network):
        if network.prefixlen < _MIN_IPV4_PREFIX:
            return f"covers more than an IPv4 /{_MIN_IPV4_PREFIX} (all addresses, or close to it)"
        return None
    if network.prefixlen < _MIN_IPV6_PREFIX:
        return f"covers more than an IPv6 /{_MIN_IPV6_PREFIX} (all addresses, or close to it)"
    for carrier, ipv4_start in _IPV4_CARRIERS:
        if carrier.subnet_of(network):
            return f"covers {carrier}, which stands for every IPv4 address"
        if network.subnet_of(carrier):
            ipv4_prefix = min(network.prefixlen, ipv4_start + 32) - ipv4_start
            if ipv4_prefix < _MIN_IPV4_PREFIX:
                return f"stands for more than an IPv4 /{_MIN_IPV4_PREFIX} through {carrier}"
    return None


def _remote_host_too_wide(entry: str) -> str | None:
    text = entry.strip().lower()
    if "*" in text:
        return "is a wildcard (remote hosts are named one by one)"
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text  # host:port
    network = _network(host)
    if network is not None and network.network_address.is_link_local:
        return "is a link-local address (where cloud metadata services live)"
    return None
