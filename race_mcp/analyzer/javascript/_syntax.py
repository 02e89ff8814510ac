"""Small readings of tree-sitter nodes the statement lowering needs: the error codes a `catch`
tests (as the exception names store recognizers ask about), `async`, and `require("m")`."""

from __future__ import annotations

import re
from typing import Any

from ..core import model
from ._expressions import text

__all__ = ["caught_errors", "existence_probe", "is_async", "required_module"]

_FS_MODULES = frozenset(
    {"fs", "node:fs", "fs/promises", "node:fs/promises", "fs.promises", "node:fs.promises", "fs-extra"}
)
# What Babel, tsc and esbuild wrap a `require` in when they compile `import` statements.
_INTEROP = frozenset(
    {"_interopRequireDefault", "_interopRequireWildcard", "__importDefault", "__importStar", "__toESM"}
)
_PROBES = frozenset({"access", "accessSync", "stat", "statSync", "lstat", "lstatSync"})


# A `catch` has no types in JavaScript; the error codes it tests name what it handles, in the
# exception names the store recognizers ask about (`ctx.catching`).
_ERROR_CODES = (
    (re.compile(r"\b11000\b|E11000|MongoServerError|DuplicateKey"), ("DuplicateKeyError",)),
    (
        re.compile(r"23505|ER_DUP_ENTRY|\b1062\b|UniqueConstraint|SQLITE_CONSTRAINT|P2002"),
        ("IntegrityError", "UniqueViolation"),
    ),
    (re.compile(r"ConditionalCheckFailed|TransactionCanceled"), ("ConditionalCheckFailedException",)),
)


def caught_errors(source: str) -> tuple[str, ...]:
    return tuple(name for pattern, names in _ERROR_CODES if pattern.search(source) for name in names)


def is_async(node: Any) -> bool:
    return any(child.type == "async" for child in node.children)


def required_module(node: Any | None) -> str | None:
    """`require("m")` -> "m"; `require("m").a.b` -> "m.a.b"; `await import("m")` -> "m"."""
    if node is None:
        return None
    if node.type == "await_expression" and node.named_children:
        return required_module(node.named_children[0])
    if node.type == "member_expression":
        base = required_module(node.child_by_field_name("object"))
        prop = node.child_by_field_name("property")
        return f"{base}.{text(prop)}" if base and prop is not None else None
    if node.type != "call_expression":
        return None
    func, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
    if func is not None and args is not None and text(func) in _INTEROP and args.named_children:
        # Compiled modules: `_interopRequireDefault(require("fs"))`, `__importStar(require("fs"))`.
        return required_module(args.named_children[0])
    if func is None or text(func) not in ("require", "import") or args is None:
        return None
    strings = [child for child in args.named_children if child.type == "string"]
    return text(strings[0])[1:-1] if strings else None


def existence_probe(block: model.Block) -> model.Expr | None:
    """`try { await access(path); ...exists... } catch { ...absent... }`: a first statement that only
    probes a path (it throws when the path is absent) is the try's existence test."""
    first = block[0] if block else None
    if not isinstance(first, model.Eval):
        return None
    call = first.value.value if isinstance(first.value, model.Await) else first.value
    if not isinstance(call, model.Call):
        return None
    module, _, method = (call.name or "").rpartition(".")
    return first.value if module in _FS_MODULES and method in _PROBES else None
