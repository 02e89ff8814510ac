"""tRPC procedures as entry points (real-world review, issue 12: documenso's API is tRPC).

`export const createSubscriptionRoute = authenticatedProcedure.input(Z).mutation(async ({ ctx,
input }) => {...})`: a client calls the procedure over HTTP (a mutation is a POST), so the
function given to `.mutation(...)` is a request handler. The chain's root names the procedure
builder (`publicProcedure`, `t.procedure`, `adminProcedure`...). The router that mounts it may live
in another file, so the route is the procedure's own name (`POST createSubscriptionRoute`), the way
RPC-style Koa routes read (`POST users.invite`). Queries are reads (GET) and are not entry points.
"""

from __future__ import annotations

import re
from typing import Any

from ..core import model

__all__ = ["trpc_procedures"]

_BUILDER = re.compile(r"procedure$", re.IGNORECASE)
_FUNCTION_NODES = frozenset({"arrow_function", "function_expression", "function"})


def trpc_procedures(module: model.ModuleModel) -> list[model.EntryPoint]:
    if "@trpc/server" not in " ".join(module.imports.values()) and "rocedure" not in module.source:
        return []
    found = []
    for name, function in module.functions.items():
        node: Any = function.origin
        if node is None or getattr(node, "type", None) not in _FUNCTION_NODES:
            continue
        call = _mutation_call(node)
        if call is not None and _built_by_procedure(call):
            found.append(model.EntryPoint(name, "http", "event-loop", f"POST {_declared_name(call)}", "trpc"))
    return found


def _mutation_call(node: Any) -> Any:
    """The `.mutation(...)` call `node` is the argument of."""
    arguments = node.parent
    call = arguments.parent if arguments is not None and arguments.type == "arguments" else None
    if call is None or call.type != "call_expression":
        return None
    callee = call.child_by_field_name("function")
    prop = (
        callee.child_by_field_name("property")
        if callee is not None and callee.type == "member_expression"
        else None
    )
    return call if prop is not None and prop.text == b"mutation" else None


def _built_by_procedure(call: Any) -> bool:
    """The chain `x.input(..).output(..).mutation` starts at a procedure builder."""
    current = call
    for _ in range(32):  # chains are short; a bound keeps hostile input linear
        callee = current.child_by_field_name("function") if current.type == "call_expression" else current
        if callee is None:
            return False
        if callee.type == "member_expression":
            obj = callee.child_by_field_name("object")
            prop = callee.child_by_field_name("property")
            if prop is not None and _BUILDER.search(prop.text.decode("utf-8", "replace")):
                return True  # `t.procedure`
            if obj is None:
                return False
            current = obj
        elif callee.type == "identifier":
            return bool(_BUILDER.search(callee.text.decode("utf-8", "replace")))
        else:
            return False
    return False


def _declared_name(call: Any) -> str:
    """The variable or object key the procedure is bound to, else `mutation`."""
    node = call
    for _ in range(8):
        node = node.parent
        if node is None:
            break
        if node.type == "variable_declarator":
            name = node.child_by_field_name("name")
            return name.text.decode("utf-8", "replace") if name is not None else "mutation"
        if node.type == "pair":
            key = node.child_by_field_name("key")
            return key.text.decode("utf-8", "replace").strip("'\"") if key is not None else "mutation"
    return "mutation"
