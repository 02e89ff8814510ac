"""Titles in Rust's terms for the rules whose shared title names Python's ORMs (`get_or_create`,
SQLAlchemy): the same race, as a diesel or sea-orm user recognises it. Fix texts are the rule
catalog's (`Rule.fix_in("rust")`)."""

from __future__ import annotations

from ...findings import Finding

__all__ = ["in_rust"]

_TITLES = {
    "RC303": "Lookup then insert on fields with no unique constraint",
    "RC304": "ORM row read, changed in Rust and saved without a row lock",
}


def in_rust(finding: Finding) -> Finding:
    title = _TITLES.get(finding.rule_id)
    return finding.model_copy(update={"title": title}) if title else finding
