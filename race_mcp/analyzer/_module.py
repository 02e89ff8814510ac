"""Temporary: replaced by the real index in the next commit."""
from __future__ import annotations
from dataclasses import dataclass, field
import libcst as cst

@dataclass
class ModuleIndex:
    module: cst.Module
    function_lines: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, module: cst.Module, source: str) -> "ModuleIndex":
        return cls(module)
