"""Rust's in-process memory profile (`core.profile.LanguageProfile`).

Shared state in a Rust web service is what every request reaches: `static` items with interior
mutability (atomics, `Mutex`, `RwLock`, `DashMap`, also inside `Lazy<...>`), and the fields of the application
state handlers receive (`State<Arc<AppState>>` in Axum, `web::Data<AppState>` in actix-web,
`Extension<...>`). A field is shared when its declared type (the module's `struct`) is one of those
containers; for a state struct declared in another file, any field not named like a store client
(`client`, `pool`, `db`, `redis`...) is, since store handles are not in-process state.

Locks are the `With` contexts the lowering builds for `let g = m.lock()...` guards. Atomics read
with `load` and written with `store` are a container's read and write. `fetch_add`,
`compare_exchange`, DashMap's `entry(...)` are atomic and no container methods at all, nor is `set`
(`OnceLock::set` refuses a second value, as SET NX does).
"""

from __future__ import annotations

import re

from ..core import model
from ..core.profile import Callee
from ..core.state import Frame
from ..python.strings import string_value
from .lower import RustModule

__all__ = ["RustMemory", "may_share_state"]

MUTATING_METHODS = frozenset(
    {
        "insert",
        "remove",
        "push",
        "pop",
        "push_back",
        "push_front",
        "pop_back",
        "pop_front",
        "clear",
        "store",
        "extend",
        "retain",
        "truncate",
        "append",
    }
)
CONTAINER_METHODS = MUTATING_METHODS | {
    "get",
    "get_mut",
    "contains_key",
    "contains",
    "len",
    "is_empty",
    "load",
    "iter",
    "keys",
    "values",
    "first",
    "last",
}
# `\w*` before the locks: `use tokio::sync::Mutex as AsyncMutex` is still a mutex. `Cell` and
# `RefCell` are not here: they are not `Sync`, so each worker thread has its own (actix-web's
# per-worker `Data<Cell<..>>`), and `c.set(c.get() + 1)` has no await for another task to run in.
# Nor are the one-time initialisers (`Lazy`, `LazyLock`, `OnceCell`, `OnceLock`): they hand out
# `&T` only, so `static CLIENT: LazyLock<reqwest::Client>` is immutable once built, and what a
# request gets from it (`CLIENT.get(url)`, a builder) is its own value; a `LazyLock<Mutex<..>>`
# is shared through its `Mutex` (real-world review, issue 12: vaultwarden's `WEBAUTHN`, `CLIENT`).
_INTERIOR = re.compile(r"\b(Atomic\w*|\w*Mutex|\w*RwLock|DashMap|DashSet)\b")
_STATE_PARAMETER = re.compile(r"\b(State|Data|Extension)\s*<")
# What shares a container between tasks: the frameworks' state extractors, an `Arc`, a `'static`.
_SHARED_POINTER = re.compile(r"\b(State|Data|Extension|Arc)\s*<|&'static\b")
_STORE_HANDLE = re.compile(
    r"(client|pool|db|database|dynamo|redis|conn|connection|pg|postgres|sql|mongo|s3|sqs|http)", re.I
)
_INNER_TYPE = re.compile(r"(?<!\w)(\w++)\s*+>*+\s*+$")
_WORD = re.compile(r"\b[A-Z]\w*")
_STRING_WRAPPERS = frozenset({"to_string", "to_owned", "into", "as_str", "clone"})


def may_share_state(lowered: RustModule) -> bool:
    """Cheap pre-filter: a static with interior mutability, or handlers that receive state."""
    if any(_INTERIOR.search(kind) for kind in (*lowered.statics.values(), *lowered.type_aliases.values())):
        return True
    return any(
        _STATE_PARAMETER.search(kind)
        for f in lowered.module.functions.values()
        for kind in f.annotations.values()
    )


class RustMemory:
    """`LanguageProfile` for one Rust module."""

    mutating_methods = MUTATING_METHODS
    container_methods = CONTAINER_METHODS
    executing_methods: frozenset[str] = frozenset({"execute", "fetch_one", "fetch_all", "fetch_optional"})

    def __init__(self, lowered: RustModule) -> None:
        self.lowered = lowered
        self.module = lowered.module
        self.shared_statics = {name for name, kind in lowered.statics.items() if _INTERIOR.search(kind)}
        self._lines: list[str] | None = None

    def frame(
        self, function: model.Function, *, self_class: str | None = None, self_instance: str | None = None
    ) -> Frame:
        return Frame(function, function.locals, function.globals, self_class, self_instance, self.module)

    def qualname(self, function: model.Function, self_class: str | None) -> str:
        return function.qualname

    def text(self, node: model.Node) -> str:
        if self._lines is None:
            self._lines = self.module.source.splitlines()
        line, column, end_line, end_column = node.span
        if not 0 < line <= len(self._lines):
            return ""
        if end_line == line:
            return _cut(self._lines[line - 1], column, end_column)
        last = min(end_line, len(self._lines))
        parts = [_cut(self._lines[line - 1], column, None), *self._lines[line : last - 1]]
        parts.append(_cut(self._lines[last - 1], None, end_column))
        return "\n".join(parts)

    # -- shared state -----------------------------------------------------------------------------
    def is_shared_global(self, name: str, *, rebinding: bool = False) -> bool:
        return name in self.shared_statics

    def shared_key(self, expr: model.Expr, frame: Frame) -> str | None:
        if isinstance(expr, model.Name):
            if expr.id in frame.locals:
                return self._shared_parameter(frame, expr.id)
            return expr.id if expr.id in self.shared_statics else None
        if isinstance(expr, model.Subscript):
            return self.shared_key(expr.value, frame)
        if not isinstance(expr, model.Attribute):
            return None
        owner = expr.value
        if isinstance(owner, model.Name) and owner.id in frame.locals:
            whole = self._shared_parameter(frame, owner.id)
            if whole is not None:
                return whole  # a field of state that is one locked container is that container
            state_type = self._state_type(frame, owner.id)
            if state_type is None or not self._shared_field(state_type, expr.attr):
                return None
            return f"{state_type}.{expr.attr}"
        return self.shared_key(owner, frame)

    def annotation(self, frame: Frame, name: str) -> str:
        """A parameter's type with the module's `type` aliases expanded (`State<Db>`)."""
        annotation = frame.function.annotations.get(name, "")
        aliases = self.lowered.type_aliases
        if aliases:
            for _ in range(3):  # aliases of aliases
                annotation = _WORD.sub(lambda m: aliases.get(m.group(), m.group()), annotation)
        return annotation

    def _shared_parameter(self, frame: Frame, name: str) -> str | None:
        """`State(db): State<Db>` with `type Db = Arc<RwLock<..>>`, `data: web::Data<Mutex<..>>`:
        the parameter itself is the shared container; its key is the declared type's name."""
        declared = frame.function.annotations.get(name, "")
        annotation = self.annotation(frame, name)
        if not (_SHARED_POINTER.search(annotation) and _INTERIOR.search(annotation)):
            return None
        found = _INNER_TYPE.search(declared)
        inner = found.group(1) if found else ""
        return inner if inner in self.lowered.type_aliases or inner in self.lowered.structs else name

    def _state_type(self, frame: Frame, name: str) -> str | None:
        """The state type a parameter holds: `AppState` of `State<Arc<AppState>>` (a handler's),
        or of `&AppState` / `Arc<AppState>` when the module's `AppState` has a locked or atomic
        field (a helper the handler passes its state to); `self` in a method of such a struct."""
        if name == "self":
            owner = frame.self_class or frame.function.owner_class
            return owner if owner is not None and self._has_interior(owner) else None
        annotation = self.annotation(frame, name)
        found = _INNER_TYPE.search(annotation)
        inner = found.group(1) if found else None
        if _STATE_PARAMETER.search(annotation):
            return inner
        return inner if inner is not None and self._has_interior(inner) else None

    def _has_interior(self, struct: str) -> bool:
        fields = self.lowered.structs.get(struct, {})
        return any(_INTERIOR.search(kind) for kind in fields.values())

    def _shared_field(self, state_type: str, attr: str) -> bool:
        fields = self.lowered.structs.get(state_type)
        if fields is not None:
            return bool(_INTERIOR.search(fields.get(attr, "")))
        return not _STORE_HANDLE.search(attr)

    def is_lock(self, expr: model.Expr) -> bool:
        return isinstance(expr, model.Call) and expr.method == "lock"

    # -- calls ----------------------------------------------------------------------------------
    def resolve_callee(self, call: model.Call, frame: Frame) -> Callee | None:
        func = call.func
        functions = self.module.functions
        if isinstance(func, model.Name):
            name = func.id.rsplit("::", 1)[-1]
            owner = func.id.rsplit("::", 2)[-2] if "::" in func.id else None
            if owner == "Self" and frame.function.owner_class:
                owner = frame.function.owner_class
            function = functions.get(f"{owner}.{name}" if owner else name)
            return (function, self.frame(function, self_class=function.owner_class)) if function else None
        receiver = call.receiver
        owner_class = frame.function.owner_class
        if isinstance(receiver, model.Name) and receiver.id == "self" and owner_class and call.method:
            function = functions.get(f"{owner_class}.{call.method}")
            return (function, self.frame(function, self_class=owner_class)) if function else None
        return None

    def row_method(self, key: str, method: str) -> Callee | None:
        return None

    def string(self, expr: model.Expr, frame: Frame | None) -> str | None:
        """String literals, `format!` templates, `"x".to_string()` / `String::from("x")`, and
        names bound to those in the function or as `const` items."""
        while isinstance(expr, model.Call):
            if expr.method in _STRING_WRAPPERS and expr.receiver is not None:
                expr = expr.receiver
            elif (expr.name or "").endswith("String::from") and expr.args:
                expr = expr.args[0].value
            else:
                break
        if frame is None:
            return string_value(expr, self.module)
        return string_value(expr, self.module, function=frame.function, strings=frame.strings)


def _cut(line: str, start: int | None, end: int | None) -> str:
    """Columns are UTF-8 byte offsets (tree-sitter's, as `ast`'s are)."""
    if line.isascii():
        return line[start:end]
    return line.encode()[start:end].decode(errors="replace")
