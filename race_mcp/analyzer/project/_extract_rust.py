"""Facts of one Rust file for the project index, as JSON data in `FileFacts.extra`:

- `functions`: the file's functions as its analysis names them (`withdraw`, `Wallet.debit`);
  `calls`: per function, the paths it calls (`db::debit`), for what a handler reaches elsewhere;
- `mods`: modules declared by `mod x;` (their files are `x.rs` or `x/mod.rs` beside this module);
- `imports`: local name -> `use` path as written (`crate::handlers::withdraw`, `super::db`);
  `globs`: `use crate::handlers::*;` paths;
- `routes`: [function, path, verb, handler as written, framework] (Axum, actix-web);
  `nests`: [function, prefix, nested router's function as written] (Axum `.nest`, actix-web
  `scope(..).service(f)` / `.configure(f)`); `macros`: function -> its actix-web route macro's route.

The module path of a file (`crate::api::wallet`) comes from where it lies under its crate's `src/`,
which the index knows; the file itself says nothing about it. Only files that mention a route
registration are lowered; the others are read from the top of the tree alone.
"""

from __future__ import annotations

import re
from typing import Any

from ._facts import FileFacts

__all__ = ["extract_rust"]

_ROUTING = re.compile(
    r"\.(?:route|nest|service|configure|to)\s*\(|Router::|web::scope|#\[(?:get|post|put|patch|delete|route)\("
)
_MAX_NODES = 300_000
_MAX_CALLS = 200  # per function


def extract_rust(data: bytes, module: str) -> FileFacts:
    """The file's facts; one too deeply nested to read gives none (`broken`), never an error."""
    try:
        return _extract(data, module)
    except (RecursionError, ValueError, MemoryError):
        return FileFacts(module, kind="rs", broken=True)


def _extract(data: bytes, module: str) -> FileFacts:
    from ..rust._syntax import parse

    source = data.decode("utf-8", errors="replace")
    tree = parse(source)
    reading = _Items()
    reading.items(tree.root_node.named_children, None)
    extra: dict[str, Any] = {
        "functions": reading.functions,
        "mods": reading.mods,
        "imports": reading.imports,
        "globs": reading.globs,
        "calls": reading.calls,
    }
    if _ROUTING.search(source) and tree.root_node.descendant_count <= _MAX_NODES:
        from ..rust.entrypoints import macro_routes, route_registrations
        from ..rust.lower import lower_module

        lowered = lower_module(source, "module.rs")
        routes, nests = route_registrations(lowered)
        extra["routes"] = [list(route) for route in routes]
        extra["nests"] = [list(nest) for nest in nests]
        extra["macros"] = macro_routes(lowered)
    return FileFacts(module, kind="rs", broken=tree.root_node.has_error, extra=extra)


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", errors="replace"))


def _called_paths(body: Any | None) -> list[str]:
    """The functions a body calls by path (`db::debit(..)`, `helper(..)`), closures included."""
    found: list[str] = []
    stack = [body] if body is not None else []
    while stack and len(found) < _MAX_CALLS:
        node = stack.pop()
        if node.type == "call_expression":
            callee = node.child_by_field_name("function")
            if callee is not None and callee.type in ("identifier", "scoped_identifier"):
                written = "".join(_text(callee).split())
                if written not in found:
                    found.append(written)
        stack.extend(reversed(node.named_children))
    return found


class _Items:
    """Functions, `mod` declarations and `use` paths, as the lowering reads items (inline `mod`
    bodies flattened into the file, `impl` methods as `Type.method`)."""

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.mods: list[str] = []
        self.imports: dict[str, str] = {}
        self.globs: list[str] = []
        # Per function: the paths it calls (`db::debit`, `crate::ledger::record`, `helper`).
        self.calls: dict[str, list[str]] = {}

    def items(self, nodes: list[Any], owner: str | None) -> None:
        for node in nodes:
            kind = node.type
            name = node.child_by_field_name("name")
            if kind == "function_item" and name is not None:
                qualname = f"{owner}.{_text(name)}" if owner else _text(name)
                self.functions.append(qualname)
                called = _called_paths(node.child_by_field_name("body"))
                if called:
                    self.calls[qualname] = called
            elif kind == "impl_item":
                target, body = node.child_by_field_name("type"), node.child_by_field_name("body")
                if target is not None and body is not None:
                    self.items(body.named_children, _text(target).split("<", 1)[0])
            elif kind == "mod_item" and name is not None:
                body = node.child_by_field_name("body")
                if body is None:
                    self.mods.append(_text(name))
                else:
                    self.items(body.named_children, owner)
            elif kind == "use_declaration":
                argument = node.child_by_field_name("argument")
                if argument is not None:
                    self.use(argument, "")

    def use(self, node: Any, prefix: str) -> None:
        kind = node.type
        if kind == "self" and prefix:  # `use crate::handlers::{self, withdraw}`
            path = prefix.removesuffix("::")
            self.imports[path.rsplit("::", 1)[-1]] = path
        elif kind in ("identifier", "scoped_identifier", "crate", "self", "super"):
            path = f"{prefix}{_text(node)}"
            self.imports[path.rsplit("::", 1)[-1]] = path
        elif kind == "use_as_clause":
            original, alias = node.child_by_field_name("path"), node.child_by_field_name("alias")
            if original is not None and alias is not None:
                self.imports[_text(alias)] = f"{prefix}{_text(original)}"
        elif kind == "use_wildcard":
            base = _text(node).removesuffix("*").rstrip(":")
            self.globs.append(f"{prefix}{base}")
        elif kind == "scoped_use_list":
            base, items = node.child_by_field_name("path"), node.child_by_field_name("list")
            inner = f"{prefix}{_text(base)}::" if base is not None else prefix
            if items is not None:
                for item in items.named_children:
                    self.use(item, inner)
        elif kind == "use_list":
            for item in node.named_children:
                self.use(item, prefix)
