"""Allowed roots: the configured ones, plus the client's workspace roots where it offers them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from mcp.server.mcpserver import Context, ListRoots, Resolve
from mcp.types import (
    ListRootsResult,
)

from ..config import Settings
from ..errors import InputError, PolicyError
from ..roots import AllowedRoots
from ._common import logger

# ----------------------------------------------------------------------------------------------
# Allowed roots: the configured ones, plus the client's workspace roots where it offers them.


@dataclass(frozen=True)
class Workspace:
    """What every file tool needs: the configured roots, the user's settings, and whether the
    client's roots widen the configured ones. They should on stdio, where the client is the user's
    own host app, but not on HTTP, where any caller could name `file:///` a root of this machine."""

    roots: AllowedRoots
    settings: Settings
    trust_client_roots: bool

    def with_client_roots(self, listed: ListRootsResult) -> AllowedRoots:
        """The client's workspace roots first (relative paths try them first), then the configured ones."""
        if not self.trust_client_roots:
            return self.roots
        return AllowedRoots([*local_directories(listed), *self.roots.paths])


def local_directories(listed: ListRootsResult) -> list[Path]:
    """`file://` roots that are existing directories on this machine; others are logged and skipped."""
    directories: list[Path] = []
    for root in listed.roots:
        uri = urlparse(str(root.uri))
        directory = Path(unquote(uri.path))
        if uri.scheme != "file" or uri.netloc not in ("", "localhost") or not directory.is_dir():
            logger.warning("ignoring client root %s: not a local directory", root.uri)
            continue
        directories.append(directory.resolve())
    return directories


def client_roots_of(ctx: Context[Any, Any]) -> ListRootsResult | ListRoots:
    """Ask for the client's roots only when it declared the capability (asking otherwise fails)."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return ListRootsResult(roots=[])
    return ListRoots()


ClientRoots = Annotated[ListRootsResult, Resolve(client_roots_of)]


def locate(path: str, roots: AllowedRoots) -> Path:
    """Resolve `path` inside the roots; a relative path is tried against each root in turn."""
    if Path(path).expanduser().is_absolute() or not roots.paths:
        target = roots.check(path)
        if not target.exists():
            raise InputError(f"{path}: no such file or directory", code="not-found")
        return target
    refusal: PolicyError | None = None
    for root in roots.paths:
        try:
            target = roots.check(path, base=root)
        except PolicyError as exc:
            refusal = refusal or exc
            continue
        if target.exists():
            return target
    if refusal is not None:
        raise refusal
    searched = ", ".join(str(root) for root in roots.paths)
    raise InputError(
        f"{path}: no such file or directory (relative paths are looked up in {searched})", code="not-found"
    )
