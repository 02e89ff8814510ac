"""The registry of stores: one declaration per store, read by the interpreter, the checks and the
front-ends. Adding a store is one `StoreSpec` (plus its recognizers and fixtures).

A store declares its key prefix (`sql` in `sql:accounts`), the words whose absence lets a file skip
its recognizers (a cheap pre-filter over the source text), its recognizers per language (factories,
so a front-end builds them per module), and how its keys and outcomes read in findings. The
registry refuses a duplicate name at import time; `spec(name)` refuses an unknown one with a
`KeyError` that names the known stores, so a recognizer emitting an unregistered prefix fails its
own tests instead of silently becoming in-process state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .effects import Recognizer

__all__ = ["MEMORY", "StoreSpec", "add_recognizer", "register", "spec", "store_of", "stores"]

MEMORY = "memory"

# A factory builds a language's recognizer for one module: it receives the front-end's module
# context (for Python, the lowered module and its imports) and returns the recognizer.
RecognizerFactory = Callable[[Any], Recognizer]


@dataclass(frozen=True)
class StoreSpec:
    name: str
    markers: tuple[str, ...]
    # `label(name)`: how a key reads in a message: "table `accounts`", "`Account` rows".
    label: Callable[[str], str]
    # What concurrent requests do when the check and the write are not held together.
    outcome: str
    # For an insert after an absence check (SQL, ORM, MongoDB): duplicates are created.
    insert_outcome: str | None = None
    # For such an insert on a unique key nothing handles the violation of (`Sequence.refused`):
    # no duplicate, but the losing request fails with an unhandled error.
    refused_outcome: str | None = None
    recognizers: Mapping[str, RecognizerFactory] = field(default_factory=dict)
    # The rule a racy read-then-write on this store completes when the recognizer names none.
    default_rule: str | None = None
    # The multi-write rule (several writes outside a transaction on one path): RC202, RC403.
    multi_write_rule: str | None = None
    # Reads are row objects (an ORM's): two rows of one key read separately (a transfer's source
    # and target) are two races, one per read, instead of one per key.
    per_row: bool = False
    # The label names several things ("`Account` rows"): messages say "are checked", not "is".
    plural: bool = False
    # The rules whose write inserts (RC203, RC303, RC802): their findings say `insert_outcome`
    # whatever the insert call is named (`session.add`, `Model(...).save()`), never `outcome`.
    insert_rules: frozenset[str] = frozenset()
    # Rows are objects changed through attributes (an ORM's models): `data["x"] = v` on a local
    # holding a value derived from a row (a serializer's dict) changes no row.
    attribute_rows: bool = False


_STORES: dict[str, StoreSpec] = {}


def register(store: StoreSpec) -> StoreSpec:
    if store.name in _STORES or store.name == MEMORY:
        raise ValueError(f"store {store.name!r} is registered twice")
    _STORES[store.name] = store
    return store


def add_recognizer(name: str, language: str, factory: RecognizerFactory) -> StoreSpec:
    """A second language's recognizer for a registered store (the Rust front-end's for `dynamodb`).
    The spec is replaced, not mutated: specs are frozen. A language registered twice is refused."""
    store = spec(name)
    if language in store.recognizers:
        raise ValueError(f"store {name!r} already has a {language} recognizer")
    _STORES[name] = replace(store, recognizers={**store.recognizers, language: factory})
    return _STORES[name]


def spec(name: str) -> StoreSpec:
    try:
        return _STORES[name]
    except KeyError:
        raise KeyError(f"unknown store {name!r}; registered: {', '.join(sorted(_STORES))}") from None


def stores() -> Mapping[str, StoreSpec]:
    return _STORES


def store_of(key: str) -> str:
    """`sql` for `sql:accounts`; `memory` for in-process state (no registered prefix)."""
    prefix, sep, _ = key.partition(":")
    return prefix if sep and prefix in _STORES else MEMORY
