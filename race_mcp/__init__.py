"""race-mcp: find, prove and fix race conditions in web APIs.

The public surface: the four core functions (`analyze_paths`/`analyze_source`, `check_openapi`,
`run_burst`, `propose_patches`/`apply_patches`), the `Finding` model and reports, the rule catalog,
settings and the exception tree. Everything else is private.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._version import __version__

__all__ = [
    "RULES",
    "AllowedRoots",
    "AnalysisReport",
    "BurstError",
    "BurstPolicy",
    "BurstResult",
    "BurstSpec",
    "Evidence",
    "FileError",
    "Finding",
    "InputError",
    "OpenApiReport",
    "Patch",
    "PatchError",
    "PatchReport",
    "PolicyError",
    "RaceMcpError",
    "Rule",
    "Settings",
    "Summary",
    "__version__",
    "analyze_paths",
    "analyze_source",
    "apply_patches",
    "check_openapi",
    "get_rule",
    "load_settings",
    "propose_patches",
    "run_burst",
]

if _TYPE_CHECKING:
    from .analyzer import analyze_paths, analyze_source
    from .burst import BurstPolicy, BurstResult, BurstSpec, run_burst
    from .config import Settings, load_settings
    from .errors import BurstError, InputError, PatchError, PolicyError, RaceMcpError
    from .findings import AnalysisReport, Evidence, FileError, Finding, Summary
    from .openapi import OpenApiReport, check_openapi
    from .remediate import Patch, PatchReport, apply_patches, propose_patches
    from .roots import AllowedRoots
    from .rules import RULES, Rule, get_rule

# Every name is loaded on first use. Importing `race_mcp` happens before any submodule's import
# (`race-mcp --version` imports `race_mcp.cli`, the MCP server's worker imports `race_mcp.server`):
# pydantic, the analyzer, the burst engine (h2, httpx) and the codemods (libcst) together cost
# about half a second, which each command should pay only for what it runs.
_LAZY = {
    "analyze_paths": ".analyzer",
    "analyze_source": ".analyzer",
    "BurstPolicy": ".burst",
    "BurstResult": ".burst",
    "BurstSpec": ".burst",
    "run_burst": ".burst",
    "Settings": ".config",
    "load_settings": ".config",
    "BurstError": ".errors",
    "InputError": ".errors",
    "PatchError": ".errors",
    "PolicyError": ".errors",
    "RaceMcpError": ".errors",
    "AnalysisReport": ".findings",
    "Evidence": ".findings",
    "FileError": ".findings",
    "Finding": ".findings",
    "Summary": ".findings",
    "OpenApiReport": ".openapi",
    "check_openapi": ".openapi",
    "Patch": ".remediate",
    "PatchReport": ".remediate",
    "apply_patches": ".remediate",
    "propose_patches": ".remediate",
    "AllowedRoots": ".roots",
    "RULES": ".rules",
    "Rule": ".rules",
    "get_rule": ".rules",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
