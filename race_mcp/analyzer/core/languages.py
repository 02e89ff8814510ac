"""Which front-end analyses a file: the registry of languages, by file suffix.

Each front-end registers its suffixes and where its `analyze(source, path, settings, facts) ->
list[Finding]` lives, as a `module:function` string so that nothing of it (tree-sitter, its
grammars) is imported until a file of that language is analysed: Python analysis never pays for
the other languages. Python is the default for text without a suffix (`<stdin>`, MCP snippets);
any other unregistered suffix is refused with `unsupported-language`.

A front-end that parsed a file with syntax errors analyses what its tree makes usable and raises
`PartialAnalysis` with those findings: the caller keeps them and reports the error beside them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import InputError

if TYPE_CHECKING:
    from ...config import Settings
    from ...findings import Finding

__all__ = [
    "PYTHON",
    "FrontEnd",
    "Language",
    "PartialAnalysis",
    "language_for",
    "languages",
    "register_language",
    "supported_suffixes",
]

FrontEnd = Callable[[str, str, "Settings", Any], "list[Finding]"]
PYTHON = "python"


@dataclass(frozen=True)
class Language:
    name: str
    suffixes: tuple[str, ...]
    # `race_mcp.analyzer.javascript:analyze`: imported on first use.
    entry: str

    def front_end(self) -> FrontEnd:
        module_name, _, attribute = self.entry.partition(":")
        function: FrontEnd = getattr(importlib.import_module(module_name), attribute)
        return function


class PartialAnalysis(InputError):
    """The file has syntax errors; `findings` are those of the parts its tree made usable."""

    def __init__(self, message: str, findings: Sequence[Finding], *, code: str = "syntax-error") -> None:
        super().__init__(message, code=code)
        self.findings = list(findings)


_LANGUAGES: dict[str, Language] = {}
_BY_SUFFIX: dict[str, Language] = {}


def register_language(name: str, suffixes: Sequence[str], entry: str) -> Language:
    """Declare a front-end; a suffix claimed twice is a programming error, refused at import time."""
    language = Language(name, tuple(suffixes), entry)
    for suffix in language.suffixes:
        if suffix in _BY_SUFFIX and _BY_SUFFIX[suffix].name != name:
            raise ValueError(f"suffix {suffix!r} is claimed by {_BY_SUFFIX[suffix].name} and {name}")
    _LANGUAGES[name] = language
    _BY_SUFFIX.update(dict.fromkeys(language.suffixes, language))
    return language


def languages() -> dict[str, Language]:
    return dict(_LANGUAGES)


def supported_suffixes() -> tuple[str, ...]:
    """Every registered suffix, for the directory walk (`.py`, `.pyi`, `.js`, `.ts`, ...)."""
    return tuple(_BY_SUFFIX)


def _suffix(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name.startswith("<") or "." not in name.lstrip("."):
        return ""
    return "." + name.rsplit(".", 1)[1].lower()


def language_for(path: str) -> Language:
    """The front-end for `path`; Python without a suffix; `unsupported-language` for the rest."""
    suffix = _suffix(path)
    if not suffix:
        return _LANGUAGES[PYTHON]
    language = _BY_SUFFIX.get(suffix)
    if language is None:
        known = ", ".join(sorted(_BY_SUFFIX))
        raise InputError(
            f"{path}: {suffix} files are not a supported language (supported: {known})",
            code="unsupported-language",
        )
    return language


# The built-in front-ends. The Python one is wired directly in `analyzer/__init__.py` (it parses and
# measures before lowering); its entry is still named for completeness.
register_language(PYTHON, (".py", ".pyi"), "race_mcp.analyzer.python:analyze_python")
register_language(
    "javascript",
    (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts"),
    "race_mcp.analyzer.javascript:analyze",
)
register_language("rust", (".rs",), "race_mcp.analyzer.rust:analyze")
