"""Settings from `[tool.race-mcp]` in the nearest `pyproject.toml`, with safe defaults.

```toml
[tool.race-mcp]
select = ["RC1"]            # rule ids or prefixes to enable (default: all)
ignore = ["RC102"]          # rule ids or prefixes to disable
exclude = ["legacy/**"]     # extra glob patterns skipped when walking directories
default_exclude = []        # also analyse tests/ and migrations/ (skipped by default)
jobs = 2                    # worker processes for directories (default: one per core)
roots = ["../shared-lib"]   # extra allowed roots for the MCP server's file tools
max_file_bytes = 2000000    # larger files are reported as errors, not analysed
max_file_seconds = 10       # analysis time budget per file (then error analysis-timeout)
max_file_nodes = 200000     # larger syntax trees are reported as errors (too-many-nodes)
max_patch_seconds = 120     # time budget of one patch request (remaining findings: guidance)

[tool.race-mcp.burst]       # the burst engine's safety policy (never widened by an MCP argument)
allow_hosts = ["staging.example.com", "10.0.0.0/8"]   # loopback is always allowed
max_requests = 100          # requests per burst
max_bursts = 50             # bursts per run
max_total_seconds = 120     # wall-clock cap for one run
ca_file = "certs/ca.pem"    # extra CA for TLS targets (relative to this file)

[tool.race-mcp.openapi]     # the OpenAPI checker's vocabulary (lists are added to the built-in ones)
idempotency_headers = ["X-Client-Token"]
idempotency_fields = ["client_token"]
version_fields = ["lock_version"]
rate_limit_headers = ["X-Quota-Remaining"]
range_covers = false        # true: a "4XX" response counts as declaring 409/412/428/429
default_covers = false      # true: a "default" response counts too
severity = { RA121 = "medium" }
remote_hosts = ["opensource.zalando.com"]   # remote $refs are fetched only from these hosts
```

`roots`, `allow_hosts` and `remote_hosts` widen what race-mcp may read or send to. The analysed
repository is not trusted to do that quietly: from a project's file each is announced on stderr
and refused when too wide (see `_widening.py`); the user's own file
(`$XDG_CONFIG_HOME/race-mcp/config.toml`, default `~/.config/race-mcp/config.toml`) adds to them
without warnings:

```toml
roots = ["~/src/shared-lib"]
[burst]
allow_hosts = ["staging.example.com"]
[openapi]
remote_hosts = ["opensource.zalando.com"]
```

`load_settings()` is the one way every command and the MCP server get their settings: the project
file (checked), the user's file, then `--select` / `--ignore` (checked).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ._widening import check_project_policy, read_user_policy, user_config_path
from .errors import InputError
from .findings import Severity
from .rules import check_selectors

__all__ = [
    "DEFAULT_SKIPPED_SOURCES",
    "BurstSettings",
    "OpenApiSettings",
    "Settings",
    "find_pyproject",
    "load_settings",
    "read_settings",
    "user_config_path",
    "validate_settings",
]

# Walking a directory skips these unless `default_exclude` says otherwise: test code and
# generated migrations are not where request races live, and they dominate large repositories.
# Not `testing/`: that is often a library (numpy.testing); test files in it still match test_*.py.
DEFAULT_SKIPPED_SOURCES: tuple[str, ...] = (
    "tests",
    "test",
    "migrations",
    "alembic",
    "test_*.py",
    "*_test.py",
    "*_tests.py",
    "conftest.py",
    # JavaScript/TypeScript test code (Jest, Vitest, Mocha, Playwright, Cypress): `*.spec.ts`,
    # `*.test.js`, `__tests__/`, `e2e/` (documenso's e2e specs, issue 12 review: 2 false RC101).
    "*.spec.*",
    "*.test.*",
    "__tests__",
    "__mocks__",
    "e2e",
)


class BurstSettings(BaseModel, extra="forbid"):
    """`[tool.race-mcp.burst]`: which hosts a burst may target and how big a run may get."""

    allow_hosts: list[str] = Field(
        default_factory=list,
        description="host names, IP addresses or CIDR networks allowed besides loopback",
    )
    max_requests: int = Field(100, ge=1, le=1000, description="requests per burst")
    max_bursts: int = Field(50, ge=1, le=1000, description="bursts per run")
    max_total_seconds: float = Field(120.0, gt=0, le=3600, description="wall-clock cap for one run")
    max_body_bytes: int = Field(1_048_576, ge=0, le=64 * 1_048_576, description="request body cap")
    max_response_bytes: int = Field(
        1_048_576, ge=1024, le=64 * 1_048_576, description="read cap per response"
    )
    connect_timeout: float = Field(5.0, gt=0, le=120, description="seconds to connect and handshake")
    response_timeout: float = Field(15.0, gt=0, le=600, description="seconds to wait for a response")
    ca_file: str | None = Field(None, description="extra CA bundle for TLS targets (relative to config)")


class OpenApiSettings(BaseModel, extra="forbid"):
    """`[tool.race-mcp.openapi]`: extra synonyms, status-code coverage, severities, remote $ref hosts."""

    idempotency_headers: list[str] = Field(
        default_factory=list, description="idempotency-key header names, added to the built-in synonyms"
    )
    idempotency_fields: list[str] = Field(
        default_factory=list, description="request body or query fields that carry an idempotency key"
    )
    version_fields: list[str] = Field(
        default_factory=list, description="body or query fields that carry a version or etag"
    )
    rate_limit_headers: list[str] = Field(
        default_factory=list, description="response headers that document a rate limit"
    )
    range_covers: bool = Field(False, description='a "4XX" response counts as declaring 409/412/428/429')
    default_covers: bool = Field(False, description='a "default" response counts as declaring them')
    severity: dict[str, Severity] = Field(default_factory=dict, description="per-rule severity overrides")
    remote_hosts: list[str] = Field(
        default_factory=list, description="hosts (or host:port) remote $refs may be fetched from"
    )
    max_spec_bytes: int = Field(32_000_000, ge=1, le=512_000_000, description="size cap per spec file")


class Settings(BaseModel, extra="forbid"):
    """Everything a user may configure; every field has a safe default."""

    select: list[str] = Field(default_factory=list, description="rule ids or prefixes to enable")
    ignore: list[str] = Field(default_factory=list, description="rule ids or prefixes to disable")
    exclude: list[str] = Field(default_factory=list, description="extra glob patterns to skip")
    default_exclude: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKIPPED_SOURCES),
        description="skipped when walking directories: tests and migrations (set [] to analyse them)",
    )
    jobs: int = Field(0, ge=0, le=64, description="worker processes for directories (0: one per core)")
    roots: list[str] = Field(default_factory=list, description="extra allowed roots (relative to config)")
    max_file_bytes: int = Field(2_000_000, ge=1, le=100_000_000)
    max_file_seconds: float = Field(10.0, gt=0, le=3600, description="analysis time budget per file")
    max_file_nodes: int = Field(200_000, ge=1, le=10_000_000, description="syntax-tree nodes per file")
    max_patch_seconds: float = Field(120.0, gt=0, le=3600, description="time budget of one patch request")
    burst: BurstSettings = Field(default_factory=BurstSettings, description="burst safety policy")
    openapi: OpenApiSettings = Field(default_factory=OpenApiSettings, description="OpenAPI checks")
    config_dir: str | None = Field(None, description="directory of the pyproject.toml read, if any")

    def rule_enabled(self, rule_id: str) -> bool:
        """True unless `ignore` names the rule (or a prefix of it), or `select` leaves it out."""
        if any(rule_id.startswith(prefix.upper()) for prefix in self.ignore):
            return False
        return not self.select or any(rule_id.startswith(prefix.upper()) for prefix in self.select)

    def root_paths(self) -> list[Path]:
        """Configured roots, resolved against the directory of the config file."""
        base = Path(self.config_dir) if self.config_dir else Path.cwd()
        return [(base / root).resolve() for root in self.roots]


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start`."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    start: Path | None = None,
    *,
    config: Path | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    user_config: Path | None = None,
) -> Settings:
    """The settings every command and the MCP server use, from the one path that checks them.

    `[tool.race-mcp]` from `config` if given (a `--config` option), else from the nearest
    pyproject.toml (defaults when there is none); validated (`InputError`: `bad-config`,
    `unknown-rule`); its widening settings announced, or refused when too wide (`PolicyError`
    `policy-too-wide`); then the user's own file (`user_config`, default `user_config_path()`)
    adds roots and hosts, and `select` / `ignore` (from `--select` / `--ignore`) replace the
    file's lists, as ruff's flags do.
    """
    pyproject = config if config is not None else find_pyproject(start or Path.cwd())
    settings = read_settings(pyproject) if pyproject is not None else Settings()
    validate_settings(settings, source=f"{pyproject} [tool.race-mcp]" if pyproject else "settings")
    project_roots = settings.root_paths()
    if pyproject is not None:
        project_roots = check_project_policy(
            settings.roots, settings.burst.allow_hosts, settings.openapi.remote_hosts, pyproject
        )
    user_file = user_config or user_config_path()
    user = read_user_policy(user_file)
    roots = [*project_roots, *user.root_paths(user_file.parent)]
    updates: dict[str, Any] = {
        "roots": [str(root) for root in roots],
        "burst": settings.burst.model_copy(
            update={"allow_hosts": [*settings.burst.allow_hosts, *user.burst.allow_hosts]}
        ),
        "openapi": settings.openapi.model_copy(
            update={"remote_hosts": [*settings.openapi.remote_hosts, *user.openapi.remote_hosts]}
        ),
    }
    for flag, chosen in (("select", select), ("ignore", ignore)):
        if chosen is not None:
            check_selectors(chosen, source=f"--{flag}")
            updates[flag] = list(chosen)
    return settings.model_copy(update=updates)


def validate_settings(settings: Settings, *, source: str = "settings") -> Settings:
    """Check what the model's types cannot: every `select` / `ignore` entry names a rule or prefix
    (`InputError` `unknown-rule`), so a typo cannot silently turn every rule off."""
    check_selectors([*settings.select, *settings.ignore], source=source)
    return settings


def read_settings(pyproject: Path) -> Settings:
    """Read `[tool.race-mcp]` from this file (e.g. `race-mcp analyze --config`); `InputError` if unusable."""
    try:
        data: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{pyproject}: cannot read configuration: {exc}", code="bad-config") from None
    table = data.get("tool", {}).get("race-mcp", {})
    try:
        return Settings(**table, config_dir=str(pyproject.parent))
    except (ValidationError, TypeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc), "loc": ()}
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{pyproject}: [tool.race-mcp] {where}: {first['msg']}", code="bad-config") from None
