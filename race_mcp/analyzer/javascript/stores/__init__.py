"""The JavaScript/TypeScript recognizers, each registered on the store's existing `StoreSpec`
(`core.stores.add_recognizer`): the same keys, rules and messages as Python's. Calls are rewritten
in the shape the Python recognizer of the store reads (`_calls`), so a rule's logic is written once.
"""

from __future__ import annotations

# The Python stores register the specs first; the order of the specs is the order recognizers are asked.
# isort: off
from ...python import stores as _python_stores  # noqa: F401
from . import dynamodb
from . import fs
from . import mongodb
from . import orm
from . import sql
from . import redis

# isort: on

__all__ = ["dynamodb", "fs", "mongodb", "orm", "redis", "sql"]
