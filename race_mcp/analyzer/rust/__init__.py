"""The Rust front-end: tree-sitter trees lowered to the language-neutral model (`lower`), Axum and
actix-web routes (`entrypoints`), the in-process memory profile (`memory`: guards, atomics,
DashMap) and the Rust recognizers of the stores (`stores/`: aws-sdk-dynamodb, redis-rs).

Registered in `core/languages.py` for `.rs`; tree-sitter and its grammar are imported only when a
Rust file is analysed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...config import Settings
    from ...findings import Finding

__all__ = ["analyze"]


def analyze(source: str, path: str, settings: Settings, facts: Any = None) -> list[Finding]:
    """Every enabled, unsuppressed finding in one Rust file (see `pipeline.analyze_rust`)."""
    from .pipeline import analyze_rust

    return analyze_rust(source, path, settings, facts)
