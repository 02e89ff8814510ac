"""Settings from `[tool.race-mcp]` in the nearest `pyproject.toml`, with safe defaults.

```toml
[tool.race-mcp]
select = ["RC1"]            # rule ids or prefixes to enable (default: all)
ignore = ["RC102"]          # rule ids or prefixes to disable
exclude = ["legacy/**"]     # extra glob patterns skipped when walking directories
roots = ["../shared-lib"]   # extra allowed roots for the MCP server's file tools
max_file_bytes = 2000000    # larger files are reported as errors, not analysed
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .errors import InputError

__all__ = ["DEFAULT_EXCLUDES", "Settings", "find_pyproject", "load_settings"]

# Directory names never walked into: virtualenvs, vendored and generated trees.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "site-packages",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "build",
    "dist",
)


class Settings(BaseModel, extra="forbid"):
    """Everything a user may configure; every field has a safe default."""

    select: list[str] = Field(default_factory=list, description="rule ids or prefixes to enable")
    ignore: list[str] = Field(default_factory=list, description="rule ids or prefixes to disable")
    exclude: list[str] = Field(default_factory=list, description="extra glob patterns to skip")
    roots: list[str] = Field(default_factory=list, description="extra allowed roots (relative to config)")
    max_file_bytes: int = Field(2_000_000, ge=1, le=100_000_000)
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


def load_settings(start: Path | None = None) -> Settings:
    """Read `[tool.race-mcp]` from the nearest pyproject.toml; defaults when there is none."""
    pyproject = find_pyproject(start or Path.cwd())
    if pyproject is None:
        return Settings()
    try:
        data: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{pyproject}: cannot read configuration: {exc}") from None
    table = data.get("tool", {}).get("race-mcp", {})
    try:
        return Settings(**table, config_dir=str(pyproject.parent))
    except (ValidationError, TypeError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc), "loc": ()}
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{pyproject}: [tool.race-mcp] {where}: {first['msg']}") from None
