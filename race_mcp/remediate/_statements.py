"""Small statement helpers shared by the pipeline's own fixers (memory, filesystem, Redis)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

__all__ = ["leading_lines_of"]


def leading_lines_of(statement: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    """The comments and blank lines above a statement (they move with it when it is wrapped)."""
    if isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        return statement.leading_lines
    return ()
