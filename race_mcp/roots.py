"""Allowed roots: the only places file tools may read or write.

Containment is checked on fully resolved paths (symlinks followed) with `Path.is_relative_to`,
never with string prefixes, so `../`, absolute paths and symlinks that leave a root are refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import PolicyError

__all__ = ["AllowedRoots"]


class AllowedRoots:
    """A set of directories; `check()` turns a user path into a resolved path inside one of them."""

    def __init__(self, roots: Iterable[Path | str]) -> None:
        self._roots: list[Path] = []
        for root in roots:
            self.add(root)

    def add(self, root: Path | str) -> None:
        resolved = Path(root).expanduser().resolve()
        if resolved not in self._roots:
            self._roots.append(resolved)

    @property
    def paths(self) -> list[Path]:
        return list(self._roots)

    def contains(self, path: Path) -> bool:
        resolved = path.resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self._roots)

    def check(self, path: str | Path, *, base: Path | None = None) -> Path:
        """Resolve `path` (relative to `base`, default the first root) and require it inside a root."""
        raw = Path(path).expanduser()
        if not raw.is_absolute():
            raw = (base or (self._roots[0] if self._roots else Path.cwd())) / raw
        resolved = raw.resolve()
        if not self.contains(resolved):
            allowed = ", ".join(str(root) for root in self._roots) or "(none)"
            raise PolicyError(
                f"{path} is outside the allowed roots ({allowed}); "
                "pass a path inside them, or start race-mcp with --root DIR",
                code="outside-roots",
            )
        return resolved
