"""JSON in and out of the burst engine without recursion errors.

User JSON (a body to send, a condition's literal) nested deeper than `MAX_DEPTH` is refused with
a one-line `json-too-deep` error; a response body the parser cannot take (too deep, a 5,000-digit
number, not JSON at all) is data that does not match, never a crash.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InputError

__all__ = ["MAX_DEPTH", "check_depth", "dumps_user", "loads_response", "loads_user"]

# Far deeper than any real request body or condition; far shallower than the interpreter's stack.
MAX_DEPTH = 100


def check_depth(value: Any, what: str) -> None:
    """`InputError(json-too-deep)` when lists and objects in `value` nest deeper than `MAX_DEPTH`."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"{what}: JSON nested more than {MAX_DEPTH} levels deep", code="json-too-deep")
        pending.extend((child, depth + 1) for child in children)


def dumps_user(value: Any, what: str) -> str:
    """Compact JSON text of a user's value, its depth checked first."""
    check_depth(value, what)
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: cannot be sent as JSON: {exc}", code="bad-body") from None


def loads_user(text: str, what: str) -> Any:
    """A user's JSON text parsed; `ValueError` for bad JSON, `InputError(json-too-deep)` for deep JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply", code="json-too-deep") from None
    check_depth(value, what)
    return value


def loads_response(body: bytes) -> tuple[bool, Any]:
    """(parsed, document) of a response body; (False, None) for anything the parser refuses."""
    try:
        return True, json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False, None
