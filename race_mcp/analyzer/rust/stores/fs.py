"""Files for Rust (`std::fs`, `tokio::fs`): a path checked (`p.exists()`, `is_file()`, `is_dir()`,
`fs::metadata(p)`, `tokio::fs::try_exists(p)`), then created or replaced by a separate call
(`fs::write`, `File::create`, `create_dir`, `rename`/`copy` onto it, `OpenOptions` that create):
RC701, as for Python's `os.path.exists` then `open(p, "w")`. A file read (`fs::read_to_string(p)`,
`fs::read(p)`) whose content, changed, is written back with `fs::write(p, ..)` is a lost update
(two requests read the same count and both write it plus one), as for Node's `readFile` then
`writeFile`.

Exclusive creation is its own check: `OpenOptions::create_new(true)`, `File::create_new`; so are
`create_dir_all` (succeeds on an existing directory) and appending (never truncates what another
writer wrote). Paths are compared by their source text without `&` (`&target` and `target` are
one path), which is what the check and the write share in practice.
"""

from __future__ import annotations

import re

from ...core import model
from ...core.effects import ALL, CallContext, Effect
from .._syntax import text
from ._chain import chain_calls

__all__ = ["RustFileRecognizer"]

_CHECK_METHODS = frozenset({"exists", "is_file", "is_dir", "try_exists", "is_symlink"})
_CHECK_FUNCTIONS = frozenset({"metadata", "symlink_metadata", "try_exists"})
_READ_FUNCTIONS = frozenset({"read_to_string", "read"})
# Function name -> the argument that names the created or replaced path.
_CREATES = {"write": 0, "create_dir": 0, "rename": 1, "copy": 1, "create": 0}
_EXCLUSIVE = frozenset({"create_new", "create_dir_all"})
_FS_PREFIXES = ("std::fs::", "tokio::fs::", "fs::", "async_std::fs::")
_SPACE = re.compile(r"\s+")


class RustFileRecognizer:
    def __init__(self, lowered: object) -> None:
        self.lowered = lowered

    def effects(self, call: model.Call, ctx: CallContext) -> list[Effect] | None:
        method = call.method
        if method in _CHECK_METHODS and not call.args and call.receiver is not None:
            return [Effect("read", _key(_path_of(call.receiver)))]
        if method == "open" and call.args:
            return _open(call)
        name = _fs_name(call)
        if name is None:
            return None
        if (name in _CHECK_FUNCTIONS or name in _READ_FUNCTIONS) and call.args:
            return [Effect("read", _key(call.args[0].value))]
        if name in _EXCLUSIVE and call.args:
            return [_write(call.args[0].value, ALL)]
        if name == "create_dir" and call.args and _answers_already_exists(call, ctx):
            return [_write(call.args[0].value, ALL)]
        if name == "write" and len(call.args) > 1:
            # The content is given: written from what was read of the path, it is a lost update.
            return [_write(call.args[0].value, frozenset(), needs_check=False)]
        position = _CREATES.get(name)
        if position is not None and len(call.args) > position:
            return [_write(call.args[position].value, frozenset())]
        return None


def _answers_already_exists(call: model.Call, ctx: CallContext) -> bool:
    """`match fs::create_dir(p) { Err(e) if e.kind() == ErrorKind::AlreadyExists => .. }`: the
    directory another request created counts as done, so the check before it is a fast path."""
    origin = ctx.function().origin
    return ctx.result_used(call) and origin is not None and b"AlreadyExists" in origin.text


def _open(call: model.Call) -> list[Effect] | None:
    """`OpenOptions::new().write(true).create(true).open(p)` (or `File::options()...`): a create
    that truncates or overwrites is a write; `create_new(true)` is exclusive; `append(true)` and a
    plain open of an existing file create nothing another request could lose."""
    calls = list(chain_calls(call))
    start = (calls[-1].name or "") if calls else ""
    if not (start.endswith("OpenOptions::new") or start.endswith("File::options")):
        return None
    options = {c.method for c in calls if c.method and _is_true(c)}
    target = call.args[0].value
    if "create_new" in options:
        return [_write(target, ALL)]
    if "append" in options or "create" not in options:
        return None
    return [_write(target, frozenset())]


def _is_true(call: model.Call) -> bool:
    argument = call.positional(0)
    return isinstance(argument, model.Literal) and argument.value is True


def _fs_name(call: model.Call) -> str | None:
    """`write` for `std::fs::write`/`tokio::fs::write`/`fs::write`, `create` for
    `File::create` of either, `create_new` for `File::create_new`."""
    name = (call.name or "").replace(".", "::")
    if "File::" in name:
        head, _, last = name.rpartition("File::")
        if last in ("create", "create_new") and (not head or head.endswith(_FS_PREFIXES) or head == ""):
            return last
        return None
    if not name.startswith(_FS_PREFIXES):
        return None
    last = name.rsplit("::", 1)[-1]
    return None if last == "create" else last


def _path_of(receiver: model.Expr) -> model.Expr:
    """`Path::new(&p).exists()` checks `p`."""
    if isinstance(receiver, model.Call) and (receiver.name or "").endswith("Path::new") and receiver.args:
        return receiver.args[0].value
    return receiver


def _write(target: model.Expr, guard: frozenset[str], *, needs_check: bool = True) -> Effect:
    return Effect("write", _key(_path_of(target)), "RC701", guard, needs_check=needs_check)


def _key(expr: model.Expr) -> str:
    origin = expr.origin
    code = text(origin) if origin is not None else _dotted(expr)
    return "fs:" + _SPACE.sub("", code).lstrip("&")


def _dotted(expr: model.Expr) -> str:
    if isinstance(expr, model.Name):
        return expr.id
    if isinstance(expr, model.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr}"
    return "?"
