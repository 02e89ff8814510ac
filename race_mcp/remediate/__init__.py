"""Remediation patches: libcst codemods per rule family, verified by re-analysis.

`propose_patches` turns one file's text into a `PatchReport` (pure); `apply_patches` writes the
result atomically, only inside the allowed roots and only if the file is unchanged since it was read.
Fixers live in `_fix_<family>.py` and register themselves in `_fixers.FIXERS` on import.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import PatchError
from ..roots import AllowedRoots
from ._models import Patch, PatchReport, Unpatched
from ._pipeline import propose_patches
from ._text import render_patch_text
from ._write import source_sha256, write_patched

__all__ = [
    "Patch",
    "PatchReport",
    "Unpatched",
    "apply_patches",
    "propose_patches",
    "render_patch_text",
    "source_sha256",
]

# Python's libcst fixers, then the packages of text fixers for other languages (each package's
# __init__ imports its fixer modules).
_FIXER_MODULES = (
    "_fix_memory",
    "_fix_sql",
    "_fix_orm",
    "_fix_dynamodb",
    "_fix_redis",
    "_fix_fs",
    "javascript",
    "rust",
)


def _load_fixers() -> None:
    """Import every fixer module that exists; one not written yet must not break the package."""
    for name in _FIXER_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


_load_fixers()


def apply_patches(
    path: Path | str,
    patched: PatchReport | str,
    *,
    roots: AllowedRoots,
    base_sha256: str | None = None,
) -> Path | None:
    """Write a report's patched text (or the given text) over `path`; None when there is nothing to write.

    Refuses (`PolicyError`) a path outside `roots`, symlinks followed, and (`PatchError`) a file
    whose content no longer hashes to what the report was computed from.
    """
    if isinstance(patched, PatchReport):
        if not patched.patches:
            return None
        if patched.patched_source is None:
            raise PatchError(
                f"{path}: this report carries no patched text; compute it again with propose_patches"
            )
        new_text, base = patched.patched_source, base_sha256 or patched.source_sha256
    else:
        if base_sha256 is None:
            raise PatchError(f"{path}: pass base_sha256, the hash of the text the new text was made from")
        new_text, base = patched, base_sha256
    return write_patched(path, new_text, base_sha256=base, roots=roots)
