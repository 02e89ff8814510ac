"""The Python recognizers of every store, each declared once with `core.stores.register`.

Importing this package registers the stores in the order the interpreter asks their recognizers,
most specific first: ORM query chains, DynamoDB and MongoDB calls (known by their method names),
then SQL text (any call whose first argument parses as SQL), then Redis and file names (known
partly by how a receiver is named).
"""

from __future__ import annotations

# The import order is the registration order, which is the order the recognizers are asked in.
# isort: off
from . import orm
from . import dynamodb
from . import mongodb
from . import sql
from . import redis
from . import fs

# isort: on

__all__ = ["dynamodb", "fs", "mongodb", "orm", "redis", "sql"]
