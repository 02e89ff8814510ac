"""Class methods run for the class they were called on.

`Alias.get_by(email=e)` and `Alias.create(...)` are often one generic class method of a mixin the
models share (`def get_by(cls, **kw): return Session.query(cls).filter_by(**kw).first()`). Run
as written, its `cls` names no model and the store recognizers see a query of nothing. Run for the
class the caller named, it is a query of `Alias`: the copy made here reads `cls` as that class
wherever the class is used as a value (`query(cls)`, `cls(**kw)`, `cls.query.filter_by(...)`).
A call on `cls` itself (`cls.get_by(...)`) keeps `cls`: the interpreter resolves it through the
frame's class and binds the same class again, so a chain of mixin helpers stays specialised.

Copies are cached per (function, class, module): a mixin used by 80 models is copied once per
model it is called on, never per call.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

from . import model

__all__ = ["BINDER", "ClassBinder", "binds_class"]

_N = TypeVar("_N", bound=model.Node)
_SKIPPED = frozenset({"span", "origin"})
_MAX_COPIES = 4096  # a long-lived server analyses many projects: start over rather than grow


class ClassBinder:
    """Specialised copies of helpers, and modules that hold them (store facts are read per
    module, and a facts reader that scans the module's functions must see the copy)."""

    def __init__(self) -> None:
        self._copies: dict[tuple[int, str | None, tuple[str, ...], int], tuple[Any, ...]] = {}
        self._forwards: dict[int, tuple[model.Function, frozenset[str]]] = {}

    def forwarded(self, function: model.Function, call: model.Call) -> tuple[str, ...]:
        """The call's keywords a helper's `**kw` receives, when the helper hands `**kw` on."""
        keywords = tuple(
            a.keyword for a in call.args if a.keyword is not None and a.keyword not in function.params
        )
        if not keywords:
            return ()
        found = self._forwards.get(id(function))
        if found is None or found[0] is not function:
            if len(self._forwards) >= _MAX_COPIES:
                self._forwards.clear()
            found = self._forwards[id(function)] = (function, _forwarding(function))
        return keywords if found[1] else ()

    def bind(
        self,
        function: model.Function,
        class_name: str | None,
        module: model.ModuleModel | None,
        forwarded: tuple[str, ...] = (),
    ) -> tuple[model.Function, model.ModuleModel | None]:
        """`function` run for `class_name` (its `cls`), with `**kw` forwarded as the keywords
        `forwarded` the call site gave (`get_by(email=e)` makes `filter_by(**kw)` a filter on
        `email`)."""
        key = (id(function), class_name, forwarded, id(module))
        found = self._copies.get(key)
        if found is not None and found[0] is function and found[1] is module:
            return found[2], found[3]
        if len(self._copies) >= _MAX_COPIES:
            self._copies.clear()
        rewriter = _Rewriter(class_name, _forwarding(function), forwarded)
        copy = replace(function, body=rewriter.rewrite(function.body))
        home = module
        if module is not None:
            # Only the copy and no classes: store facts are read per module object, and a whole
            # module's (simple-login keeps 80 models in one) re-read per copy cost 10 s on one file.
            # Unique keys of its models still come from the project index.
            local = next((name for name, f in module.functions.items() if f is function), function.qualname)
            home = replace(module, functions={local: copy}, classes={})
        self._copies[key] = (function, module, copy, home)
        return copy, home


BINDER = ClassBinder()


def binds_class(function: model.Function) -> bool:
    """A class method: its first parameter is `cls`."""
    return bool(function.params) and function.params[0] == "cls"


def _forwarding(function: model.Function) -> frozenset[str]:
    params = set(function.params)
    found: set[str] = set()
    for node in _walk(function.body):
        value = node.value if isinstance(node, model.Arg) and node.star == "**" else None
        if isinstance(value, model.Name) and value.id in params:
            found.add(value.id)
    return frozenset(found)


def _walk(value: Any) -> Any:
    if isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, model.Node) and is_dataclass(value):
        yield value
        for item in fields(value):
            if item.name not in _SKIPPED:
                yield from _walk(getattr(value, item.name))


class _Rewriter:
    def __init__(self, class_name: str | None, kwargs: frozenset[str], forwarded: tuple[str, ...]) -> None:
        self.class_name = class_name
        self.kwargs = kwargs
        self.forwarded = forwarded

    def rewrite(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(self.rewrite(item) for item in value)
        if isinstance(value, list):
            return [self.rewrite(item) for item in value]
        if isinstance(value, model.Node):
            return self.node(value)
        return value

    def node(self, node: _N) -> _N:
        if isinstance(node, model.Name):
            if node.id == "cls" and self.class_name is not None:
                return replace(node, id=self.class_name)
            return node
        if isinstance(node, model.Call):
            return self.call(node)  # type: ignore[return-value]
        return self.fields(node)

    def call(self, call: model.Call) -> model.Call:
        """`cls(**kw)` builds the class; `cls.get_by(...)` stays a call on `cls` (module doc);
        `**kw` becomes the forwarded keywords, each bound to the `kw` dict itself."""
        args = self.arguments(call.args)
        if call.receiver is not None and _is_cls(call.receiver):
            return replace(call, args=args) if args != call.args else call
        func = self.rewrite(call.func)
        bound = self.class_name is not None and call.name == "cls"
        name = self.class_name if bound else call.name
        if func is call.func and args == call.args and name == call.name:
            return call
        return replace(call, func=func, args=args, name=name)

    def arguments(self, args: tuple[model.Arg, ...]) -> tuple[model.Arg, ...]:
        out: list[model.Arg] = []
        for arg in args:
            value = arg.value
            if arg.star == "**" and isinstance(value, model.Name) and value.id in self.kwargs:
                out.extend(model.Arg(value, keyword=k, span=arg.span) for k in self.forwarded)
                if not self.forwarded:
                    out.append(arg)
                continue
            out.append(self.fields(arg))
        changed = len(out) != len(args) or any(a is not b for a, b in zip(out, args, strict=False))
        return tuple(out) if changed else args

    def fields(self, node: _N) -> _N:
        if not is_dataclass(node):
            return node
        changes: dict[str, Any] = {}
        for item in fields(node):
            if item.name in _SKIPPED or not item.init:
                continue
            before = getattr(node, item.name)
            after = self.rewrite(before)
            if after is not before and after != before:
                changes[item.name] = after
        return replace(node, **changes) if changes else node


def _is_cls(expr: model.Expr) -> bool:
    return isinstance(expr, model.Name) and expr.id == "cls"
