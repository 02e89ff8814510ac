"""Allowed roots: the only places file tools may read or write.

Containment is checked on fully resolved paths (symlinks followed) with `Path.is_relative_to`,
never with string prefixes, so `../`, absolute paths and symlinks that leave a root are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, PolicyError

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["AllowedRoots", "allowed_roots"]

logger = logging.getLogger("race_mcp.config")


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


def allowed_roots(
    extra: Sequence[str | Path],
    settings: Settings,
    *,
    working_directory: bool = True,
    flag: str = "--root",
) -> AllowedRoots:
    """The one way the CLI and the server build their roots: the working directory (unless told
    not to), each directory given on the command line (`flag`; `InputError` if missing), then the
    configured `roots` (the project's, already checked by `load_settings`, and the user's)."""
    candidates: list[Path] = []
    if working_directory:
        cwd = Path.cwd().resolve()
        if cwd == Path(cwd.anchor):
            # Hosts such as desktop apps may start servers in `/`: that would allow the whole disk.
            logger.warning("not using the working directory %s as an allowed root; pass --root DIR", cwd)
        else:
            candidates.append(cwd)
    for given in extra:
        directory = Path(given).expanduser()
        if not directory.is_dir():
            raise InputError(f"{flag} {given}: no such directory", code="not-found")
        candidates.append(directory)
    for configured in settings.root_paths():
        if configured.is_dir():
            candidates.append(configured)
        else:
            logger.warning("ignoring configured root %s: no such directory", configured)
    return AllowedRoots(candidates)
