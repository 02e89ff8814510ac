"""Temporary: replaced by the RC1xx checker in the next commit."""
from __future__ import annotations
from ..findings import Finding
from ._module import ModuleIndex

def check_shared_state(index: ModuleIndex, path: str) -> list[Finding]:
    return []
