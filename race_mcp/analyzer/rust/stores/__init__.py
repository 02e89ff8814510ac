"""The Rust recognizers of the registered stores, added under language "rust" to the specs the
Python front-end declares (`core.stores.add_recognizer`): same keys, same rules."""

from __future__ import annotations

from ...core.stores import add_recognizer
from ...python import stores as _python_stores  # noqa: F401  (declares the StoreSpecs)
from .dynamodb import RustDynamoRecognizer
from .fs import RustFileRecognizer
from .orm import RustOrmRecognizer
from .redis import RustRedisRecognizer
from .sql import RustSqlRecognizer

__all__ = [
    "RustDynamoRecognizer",
    "RustFileRecognizer",
    "RustOrmRecognizer",
    "RustRedisRecognizer",
    "RustSqlRecognizer",
]

add_recognizer("dynamodb", "rust", RustDynamoRecognizer)
add_recognizer("sql", "rust", RustSqlRecognizer)
add_recognizer("redis", "rust", RustRedisRecognizer)
add_recognizer("fs", "rust", RustFileRecognizer)
add_recognizer("orm", "rust", RustOrmRecognizer)
