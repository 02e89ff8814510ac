"""Which Python calls draw a value at random (`core/fresh.py`): a lookup by such a value, or an
insert filling a looked-up column with one, is no check-then-insert race."""

from __future__ import annotations

import re

from ..core import model

__all__ = ["is_random_name", "is_random_source"]

# The standard library's and common packages' generators by qualified name, and helpers named for
# the random value they make (`random_string(10)`, `get_random_code()`, `new_uuid()`), not for
# picking an existing thing.
_RANDOM_MODULES = ("secrets.", "random.", "shortuuid.", "nanoid.", "ulid.")
_RANDOM_FUNCTIONS = frozenset(
    {"uuid.uuid1", "uuid.uuid4", "uuid.uuid7", "os.urandom", "django.utils.crypto.get_random_string"}
)
_RANDOM_HELPER = re.compile(
    r"^(?:get_|new_|gen_|generate_|make_)?(?:uuid[147]?"
    r"|random_?(?:str|string|code|token|id|key|hex|chars?|word|name|slug|suffix|password)s?)$",
    re.IGNORECASE,
)


def is_random_source(call: model.Call) -> bool:
    """`call` draws a value at random (see `_RANDOM_HELPER`)."""
    name = call.name or ""
    if name in _RANDOM_FUNCTIONS or name.startswith(_RANDOM_MODULES):
        return True
    own = call.method or (call.func.id if isinstance(call.func, model.Name) else "")
    return bool(own) and bool(_RANDOM_HELPER.search(own))


def is_random_name(qualified: str) -> bool:
    """A call of the function `qualified` (dotted, imports resolved) draws a value at random."""
    if qualified in _RANDOM_FUNCTIONS or qualified.startswith(_RANDOM_MODULES):
        return True
    return bool(_RANDOM_HELPER.search(qualified.rpartition(".")[2]))
