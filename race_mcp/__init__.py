"""race-mcp: find, prove and fix race conditions in web APIs.

The public surface: the four core functions (`analyze_paths`/`analyze_source`, `check_openapi`,
`run_burst`, `propose_patches`/`apply_patches`), the `Finding` model and reports, the rule catalog,
settings and the exception tree. Everything else is private.
"""

from ._version import __version__
from .analyzer import analyze_paths, analyze_source
from .burst import BurstPolicy, BurstResult, BurstSpec, run_burst
from .config import Settings, load_settings
from .errors import BurstError, InputError, PatchError, PolicyError, RaceMcpError
from .findings import AnalysisReport, Evidence, FileError, Finding, Summary
from .openapi import OpenApiReport, check_openapi
from .remediate import Patch, PatchReport, apply_patches, propose_patches
from .roots import AllowedRoots
from .rules import RULES, Rule, get_rule

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
