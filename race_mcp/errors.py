"""The one exception tree of race-mcp.

    RaceMcpError                 anything race-mcp reports to a user as a one-line message
    ├── InputError               a file, spec, URL or argument that cannot be used as given
    ├── PolicyError              refused on purpose: outside the allowed roots, host not allowlisted
    ├── BurstError               the burst could not be sent or read (connection, TLS, protocol)
    └── PatchError               a patch could not be produced or applied

Every error carries a stable machine-readable `code` (`yaml-too-deep`, `not-utf8`, `host-not-allowed`)
beside its human message: scripts, tests and models match on the code, never on the wording, which
may quote a dependency. Codes are lowercase words joined by hyphens; once published they do not
change meaning. Each class has a default code for raise sites that have nothing more precise to say.

The CLI turns every one into exit code 2 and one line on stderr (`race-mcp: error[CODE]: message`);
the MCP server turns every one into a `ToolError` whose text starts with `[CODE]`.
"""

from __future__ import annotations

import re

__all__ = ["BurstError", "InputError", "PatchError", "PolicyError", "RaceMcpError", "error_code"]

_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class RaceMcpError(Exception):
    """Base class: a problem to report to the user in one line, never with a traceback."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        chosen = code or self.default_code
        if not _CODE.fullmatch(chosen):
            raise ValueError(f"error codes are lowercase-hyphenated words, got {chosen!r}")
        self.code = chosen


class InputError(RaceMcpError):
    """Input that cannot be used: missing path, binary or oversized file, bad syntax, bad option."""

    default_code = "bad-input"


class PolicyError(RaceMcpError):
    """Refused by policy: a path outside the allowed roots, a host not on the burst allowlist."""

    default_code = "policy-refused"


class BurstError(RaceMcpError):
    """The burst could not be carried out: refused connection, TLS failure, protocol garbage."""

    default_code = "burst-failed"


class PatchError(RaceMcpError):
    """A patch could not be produced or written."""

    default_code = "patch-failed"


def error_code(exc: BaseException) -> str:
    """The stable code of any exception race-mcp reports (`internal-error` for a bug)."""
    return exc.code if isinstance(exc, RaceMcpError) else "internal-error"
