"""Which database library a JavaScript finding's code uses, so its guidance shows that library's code
(a Prisma file gets Prisma's conditional `updateMany`, not Sequelize's `Model.update`).

Per rule family, the libraries that family's store covers: the one of them the file imports
(`@prisma/client`, `sequelize`, `./prisma.service`); where it imports several or none of them by name
(models from "./models"), the one the finding's own evidence calls like (`prisma.order.update(...)`,
`Order.findByPk(...)`); else none, and the family's default example stands.
"""

from __future__ import annotations

import re

from ...findings import Finding

__all__ = ["library_of"]

_IMPORTED = re.compile(r"""(?:\bfrom\s*|\brequire\s*\(\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]""")


def _words(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words))


# family -> (library, what its imports are named like, what its calls look like in evidence)
_LIBRARIES: dict[str, tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...]] = {
    "RC2": (
        (
            "knex",
            _words(r"^knex$", r"^knex/"),
            _words(r"\bknex\b", r"\btrx\s*\(", r"\.where\(", r"\.(?:in|de)crement\("),
        ),
    ),
    "RC3": (
        (
            "prisma",
            _words(r"^@prisma/", r"prisma"),
            _words(r"\bprisma\.", r"\$transaction", r"\.findUnique(?:OrThrow)?\(", r"\.updateMany\("),
        ),
        (
            "typeorm",
            _words(r"^typeorm$", r"^@nestjs/typeorm$", r"^typeorm/"),
            _words(
                r"Repository\b",
                r"\.findOneBy\(",
                r"\bmanager\.",
                r"getRepository\(",
                r"\.createQueryBuilder\(",
            ),
        ),
        (
            "sequelize",
            _words(r"^sequelize", r"^@sequelize/"),
            _words(r"\.findByPk\(", r"\.findOrCreate\(", r"\bsequelize\."),
        ),
    ),
    "RC8": (
        ("mongoose", _words(r"^mongoose$"), _words(r"\.findById\(", r"\.save\(\)")),
        ("mongodb", _words(r"^mongodb$"), _words(r"\.collection\(", r"\.insertOne\(")),
    ),
}


def library_of(text: str, finding: Finding) -> str | None:
    """The library of the finding's family its code uses (`prisma`, `typeorm`, `knex`...), if known."""
    candidates = _LIBRARIES.get(finding.rule_id[:3], ())
    modules = _IMPORTED.findall(text)
    imported = [library for library, names, _ in candidates if any(names.search(m) for m in modules)]
    if len(imported) == 1:
        return imported[0]
    # Several imported, or none by a name it is known by (models from "./models"): the calls decide.
    code = "\n".join(step.code for step in finding.evidence)
    named = [
        library
        for library, _, calls in candidates
        if (not imported or library in imported) and calls.search(code)
    ]
    return named[0] if len(named) == 1 else None
