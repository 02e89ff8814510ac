"""The JavaScript/TypeScript front-end: tree-sitter trees lowered to the language-neutral model
(`lower`), entry points of the Node web frameworks and AWS Lambda (`entrypoints`), the event-loop
memory profile (`memory`) and the store recognizers (`stores/`).

Registered in `core/languages.py` for `.js .mjs .cjs .jsx .ts .tsx .mts .cts`; tree-sitter and its
grammars are imported only when such a file is analysed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...config import Settings
    from ...findings import Finding

__all__ = ["analyze"]


def analyze(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    """Every enabled, unsuppressed finding in one JavaScript or TypeScript module."""
    from .pipeline import analyze_javascript

    return analyze_javascript(source, path, settings, facts)
