"""race-mcp: find, prove and fix race conditions in web APIs.

The public surface: the core functions, the `Finding` model and reports, the rule catalog,
settings and the exception tree. Everything else is private.
"""

from ._version import __version__
from .analyzer import analyze_paths, analyze_source
from .config import Settings, load_settings
from .errors import BurstError, InputError, PatchError, PolicyError, RaceMcpError
from .findings import AnalysisReport, Evidence, FileError, Finding, Summary
from .roots import AllowedRoots
from .rules import RULES, Rule, get_rule

__all__ = [
    "RULES",
    "AllowedRoots",
    "AnalysisReport",
    "BurstError",
    "Evidence",
    "FileError",
    "Finding",
    "InputError",
    "PatchError",
    "PolicyError",
    "RaceMcpError",
    "Rule",
    "Settings",
    "Summary",
    "__version__",
    "analyze_paths",
    "analyze_source",
    "get_rule",
    "load_settings",
]
