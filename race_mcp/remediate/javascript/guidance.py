"""Guidance for the JavaScript findings no rewrite is sound for (in-process state, ORMs, missing
idempotency keys, files...): the finding's fix in words, then a short JavaScript example, written
with the file's own ORM where the example has a version for it (Prisma, TypeORM, Sequelize)."""

from __future__ import annotations

from ...findings import Finding
from ...rules import get_rule
from .._fixers import Fixed, Guidance, register_text
from ._examples import READ_MODIFY_WRITE_FILE, with_example
from ._libraries import library_of

__all__ = ["guidance_with_example"]

_WHY = {
    "RC1": "in-process state has no atomic check-and-write a patch could switch to; where the claim "
    "goes and how a failure gives it back is the handler's decision",
}


@register_text("javascript", "RC")
def guidance_with_example(text: str, finding: Finding) -> Fixed | Guidance:
    """Every rule without a JavaScript rewrite: what to do, and how it looks in JavaScript."""
    fix = finding.fix or get_rule(finding.rule_id).title
    why = _WHY.get(finding.rule_id[:3])
    message = f"No mechanical patch ({why}). {fix}" if why else fix
    example = finding.rule_id
    if example.startswith("RC7") and not any(step.role == "check" for step in finding.evidence):
        example = READ_MODIFY_WRITE_FILE  # read and written back: an exclusive create is no answer
    return Guidance(with_example(message, example, library_of(text, finding)))
