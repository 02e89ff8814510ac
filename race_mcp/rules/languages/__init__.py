"""Each analyzer rule in JavaScript/TypeScript and Rust: a racy example and its fix per language, or
why the rule has no meaning there. One module per family, mirroring the family modules (which keep
the Python examples), so that those stay readable; the registry attaches them and refuses an
analyzer rule that is silent about a language, or examples for a rule that does not exist."""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage
from . import (
    rc1_memory,
    rc2_sql,
    rc3_orm,
    rc4_dynamodb,
    rc5_redis,
    rc6_idempotency,
    rc7_files,
    rc8_mongodb,
)

__all__ = ["LANGUAGE_EXAMPLES"]

LANGUAGE_EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    rule_id: examples
    for module in (
        rc1_memory,
        rc2_sql,
        rc3_orm,
        rc4_dynamodb,
        rc5_redis,
        rc6_idempotency,
        rc7_files,
        rc8_mongodb,
    )
    for rule_id, examples in module.EXAMPLES.items()
}
