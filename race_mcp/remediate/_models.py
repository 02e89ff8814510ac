"""What `propose_patches` returns: patches (with diffs), findings left unpatched, and errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from ..findings import FileError

__all__ = ["Patch", "PatchReport", "Unpatched"]


class Patch(BaseModel):
    """One fix for one finding, verified by re-analysis."""

    rule_id: str = Field(description="the rule the patch fixes, e.g. RC101")
    path: str = Field(description="file, relative as given")
    line: int = Field(description="1-based line of the finding in the original file")
    description: str = Field(description="what the patch does, in one sentence")
    diff: str = Field(description="unified diff of this patch alone, on top of the patches listed before it")
    safety: Literal["safe", "unsafe"] = Field(
        "safe",
        description="unsafe: behaviour changes for sequential requests too, or the fix has limits (see note)",
    )
    note: str = Field("", description="limits of the fix, e.g. a lock protects one process only")


class Unpatched(BaseModel):
    """A finding with no sound mechanical fix: the fix in words."""

    rule_id: str
    path: str
    line: int = Field(description="1-based line of the finding in the original file")
    guidance: str = Field(description="what to change by hand, and why no patch was generated")


class PatchReport(BaseModel):
    """Patches for one file, applied in sequence, and the combined diff of all of them."""

    path: str = Field(description="file, relative as given")
    patches: list[Patch] = Field(default_factory=list)
    unpatched: list[Unpatched] = Field(default_factory=list)
    diff: str = Field("", description="one unified diff of every patch together, against the original file")
    errors: list[FileError] = Field(default_factory=list)
    source_sha256: str = Field("", description="hash of the text the patches were computed from")

    # The patched text itself; kept out of the JSON (the diff says the same) but used by apply.
    _patched_source: str | None = PrivateAttr(default=None)

    @property
    def patched_source(self) -> str | None:
        """The whole file with every patch applied (None when the report came from JSON)."""
        return self._patched_source
