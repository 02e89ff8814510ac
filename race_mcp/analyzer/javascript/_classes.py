"""Classes and what TypeScript declares around functions: decorators, parameter types, and
constructor parameter properties.

- Decorators (`@Controller("wallet")` on a class, `@Post(":id")` on a method) are lowered as the
  expressions they are and kept on `ClassModel.decorators` / `Function.decorators`: NestJS routes
  are read off them (`entrypoints`).
- A parameter's type (`repo: Repository<Account>`, `svc: WalletService`) is kept in
  `Function.annotations` as its text: the memory profile follows methods of the module's classes
  through it, the TypeORM recognizer reads the entity of a `Repository<...>`.
- `constructor(private readonly wallet: WalletService) {}` declares and assigns `this.wallet`: the
  constructor is lowered with `this.wallet = wallet` first, so an injected service is followed
  exactly as one assigned by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import model
from ._expressions import span, text

if TYPE_CHECKING:
    from .lower import Lowering

__all__ = ["lower_class", "parameter_types", "property_assignments"]

_PARAMETERS = frozenset({"required_parameter", "optional_parameter"})
_MODIFIERS = frozenset({"accessibility_modifier", "readonly", "override_modifier"})
_TYPE_WRAPPERS = frozenset({"type_annotation", "opting_type_annotation"})


def _decorators(lowering: Lowering, nodes: list[Any]) -> tuple[model.Expr, ...]:
    """`@Post(":id")` -> the call `Post(":id")`; `@Injectable` -> the name."""
    return tuple(lowering.expressions.expr(node.named_children[0]) for node in nodes if node.named_children)


def _class_decorators(node: Any) -> list[Any]:
    """Decorators of a class: its own children, or those before `export` (`@X() export class`)."""
    own = [child for child in node.children if child.type == "decorator"]
    parent = node.parent
    if parent is not None and parent.type == "export_statement":
        own = [child for child in parent.children if child.type == "decorator"] + own
    return own


def _annotation(param: Any) -> str | None:
    """The text of a parameter's type: `Repository<Account>`, `WalletService`."""
    for child in param.named_children:
        if child.type in _TYPE_WRAPPERS and child.named_children:
            return text(child.named_children[0])
    return None


def parameter_types(params_node: Any | None) -> dict[str, str]:
    """Each typed parameter's name -> its type's text."""
    found: dict[str, str] = {}
    for param in params_node.named_children if params_node is not None else ():
        if param.type not in _PARAMETERS:
            continue
        pattern = param.child_by_field_name("pattern")
        annotation = _annotation(param)
        if pattern is not None and pattern.type == "identifier" and annotation:
            found[text(pattern)] = annotation
    return found


def property_assignments(params_node: Any | None) -> list[model.Statement]:
    """`constructor(private readonly repo: Repo)` -> `this.repo = repo`, for each parameter property."""
    assigns: list[model.Statement] = []
    for param in params_node.named_children if params_node is not None else ():
        if param.type not in _PARAMETERS or not any(c.type in _MODIFIERS for c in param.children):
            continue
        pattern = param.child_by_field_name("pattern")
        if pattern is None or pattern.type != "identifier":
            continue
        name, where = text(pattern), span(pattern)
        target = model.Attribute(model.Name("self", span=where), name, span=where, origin=pattern)
        assigns.append(model.Assign((target,), model.Name(name, span=where), span=where, origin=param))
    return assigns


def lower_class(lowering: Lowering, node: Any) -> model.ClassModel:
    """A class with its methods (registered as module functions `Class.method`), field values and
    the decorators of the class and of each method."""
    name_node = node.child_by_field_name("name")
    name = text(name_node) if name_node is not None else f"<class:{node.start_point[0] + 1}>"
    bases: list[str] = []
    for child in node.named_children:
        if child.type == "class_heritage":
            bases.extend(
                text(c).split(".")[-1] for c in child.named_children if c.type != "implements_clause"
            )
    info = model.ClassModel(
        name,
        tuple(bases),
        decorators=_decorators(lowering, _class_decorators(node)),
        span=span(node),
        origin=node,
    )
    body = node.child_by_field_name("body")
    pending: list[Any] = []  # decorators written before the next member
    for member in body.named_children if body is not None else ():
        if member.type == "decorator":
            pending.append(member)
            continue
        if member.type == "comment":  # a comment between a decorator and its method keeps both
            continue
        decorators = [*pending, *(c for c in member.children if c.type == "decorator")]
        pending = []
        member_name = member.child_by_field_name("name") or member.child_by_field_name("property")
        if member_name is None:
            continue
        if member.type == "method_definition":
            method = text(member_name)
            qualname = f"{name}.{method}"
            lowered = _decorators(lowering, decorators)
            function = lowering.function(member, method, qualname, owner_class=name, decorators=lowered)
            info.methods[method] = function
            lowering.module.functions[qualname] = function
        elif member.type in ("field_definition", "public_field_definition"):
            value = member.child_by_field_name("value")
            info.attributes[text(member_name)] = lowering.expressions.expr(value)
    return info
