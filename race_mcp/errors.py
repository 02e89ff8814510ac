"""The one exception tree of race-mcp.

    RaceMcpError                 anything race-mcp reports to a user as a one-line message
    ├── InputError               a file, spec, URL or argument that cannot be used as given
    ├── PolicyError              refused on purpose: outside the allowed roots, host not allowlisted
    ├── BurstError               the burst could not be sent or read (connection, TLS, protocol)
    └── PatchError               a patch could not be produced or applied

The CLI turns every one into exit code 2 and one line on stderr; the MCP server turns every one
into a `ToolError` whose text the model reads.
"""

from __future__ import annotations

__all__ = ["BurstError", "InputError", "PatchError", "PolicyError", "RaceMcpError"]


class RaceMcpError(Exception):
    """Base class: a problem to report to the user in one line, never with a traceback."""


class InputError(RaceMcpError):
    """Input that cannot be used: missing path, binary or oversized file, bad syntax, bad option."""


class PolicyError(RaceMcpError):
    """Refused by policy: a path outside the allowed roots, a host not on the burst allowlist."""


class BurstError(RaceMcpError):
    """The burst could not be carried out: refused connection, TLS failure, protocol garbage."""


class PatchError(RaceMcpError):
    """A patch could not be produced or written."""
