"""The Python front-end: CPython's `ast` lowered to the language-neutral model (`lower`), entry points
of the web and task frameworks (`entrypoints`), string values (`strings`), store recognizers
(`stores/`) and the in-process memory profile (`memory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...config import Settings
    from ...findings import Finding

__all__ = ["analyze_python"]


def analyze_python(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    """Every enabled, unsuppressed finding in one Python module (see `pipeline.analyze_python`).
    Imported on first use: the lowering and the store recognizers load only when analysis runs."""
    from .pipeline import analyze_python as analyze

    return analyze(source, path, settings, facts)
