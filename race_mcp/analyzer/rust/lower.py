"""tree-sitter Rust lowered to the program model (`core/model.py`).

Items: `fn` (async too) and the methods of `impl` blocks (`Type.method`, the type a `ClassModel`),
`static`/`const` items as module assignments (their declared types in `RustModule.statics`), `use`
declarations as imports (local name -> `a::b::Name`). Statements: `let` with patterns, `if` /
`if let`, `match` (a `Branch` whose subject is bound once to a synthetic local), loops, `return`,
`break`/`continue`, and `?` as a possible early return after its statement. A block's tail
expression is the value its context wants: a function's return, a `let`'s value, a statement.

A lock guard bound by `let g = m.lock().unwrap();` is a `With` over the lock for the rest of its
block (or until `drop(g)`), and `g` inside it lowers to the locked place (`m`), so reads and writes
through the guard are reads and writes of `m` with the lock held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..core import model
from ._expressions import CONTROL, ExpressionLowering, lock_target
from ._patterns import base_name, drops, entry_place, is_copy, parameters, pattern_names
from ._syntax import Node, parse, span, text
from ._syntax import field as child
from ._transactions import TransactionClosure, transaction_closure

__all__ = ["RustModule", "lower_module", "pattern_names"]


def _guarded_place(left: Node | None) -> Node | None:
    """The locked place of an assignment target written through a temporary guard (`*m.lock()...`)."""
    while left is not None and left.type in ("unary_expression", "parenthesized_expression"):
        left = left.named_children[0] if left.named_children else None
    return lock_target(left) if left is not None else None


_SKIPPED = frozenset({"line_comment", "block_comment", "attribute_item", "empty_statement"})


@dataclass
class RustModule:
    """A lowered Rust file: the model, the tree, and what Rust says beyond the model."""

    module: model.ModuleModel
    tree: object
    # `static NAME: Type` -> the type's text (shared in-process state is declared this way).
    statics: dict[str, str] = field(default_factory=dict)
    # Function qualname -> its attributes' texts (`post("/p")`), for actix-web's route macros.
    attributes: dict[str, list[Node]] = field(default_factory=dict)
    # `struct Name { field: Type }` -> field -> the type's text (which state fields are shared).
    structs: dict[str, dict[str, str]] = field(default_factory=dict)
    # `type Db = Arc<RwLock<HashMap<..>>>` -> the aliased type's text.
    type_aliases: dict[str, str] = field(default_factory=dict)


def lower_module(source: str, path: str) -> RustModule:
    tree = parse(source)
    module = model.ModuleModel(path=path, language="rust", source=source)
    lowered = RustModule(module, tree)
    _Items(lowered).items(tree.root_node.named_children, owner=None)
    return lowered


class _Items:
    def __init__(self, lowered: RustModule) -> None:
        self.lowered = lowered
        self.module = lowered.module

    def qualify(self, path: str) -> str:
        head, sep, rest = path.partition("::")
        imported = self.module.imports.get(head)
        return f"{imported}{sep}{rest}" if imported else path

    def items(self, nodes: list[Node], owner: str | None) -> None:
        attributes: list[Node] = []
        for node in nodes:
            kind = node.type
            if kind == "attribute_item":
                attributes.append(node)
                continue
            if kind in ("line_comment", "block_comment"):  # between `#[post("/p")]` and its fn
                continue
            if kind == "function_item":
                self.function(node, owner, attributes)
            elif kind == "impl_item":
                self.impl(node)
            elif kind == "use_declaration":
                argument = child(node, "argument")
                if argument is not None:
                    self.use(argument, "")
            elif kind in ("static_item", "const_item"):
                self.static(node)
            elif kind == "struct_item":
                self.struct(node)
            elif kind == "type_item" and (alias := child(node, "name")) is not None:
                self.lowered.type_aliases[text(alias)] = text(child(node, "type"))
            elif kind == "mod_item":
                body = child(node, "body")
                if body is not None:
                    self.items(body.named_children, owner)
            attributes = []

    def use(self, node: Node, prefix: str) -> None:
        kind = node.type
        if kind in ("identifier", "scoped_identifier"):
            path = f"{prefix}{text(node)}"
            self.module.imports[path.rsplit("::", 1)[-1]] = path
        elif kind == "use_as_clause":
            original, alias = child(node, "path"), child(node, "alias")
            if original is not None and alias is not None:
                self.module.imports[text(alias)] = f"{prefix}{text(original)}"
        elif kind == "scoped_use_list":
            base, items = child(node, "path"), child(node, "list")
            inner = f"{prefix}{text(base)}::" if base is not None else prefix
            if items is not None:
                for item in items.named_children:
                    self.use(item, inner)
        elif kind == "use_list":
            for item in node.named_children:
                self.use(item, prefix)

    def static(self, node: Node) -> None:
        name, value, kind = child(node, "name"), child(node, "value"), child(node, "type")
        if name is None or value is None:
            return
        lowering = ExpressionLowering(self.qualify)
        expr = lowering.expr(value)
        target = model.Name(text(name), span=span(name), origin=name)
        self.module.assignments[text(name)] = expr
        self.module.body = (*self.module.body, model.Assign((target,), expr, span=span(node), origin=node))
        self.lowered.statics[text(name)] = text(kind)

    def struct(self, node: Node) -> None:
        name, body = child(node, "name"), child(node, "body")
        if name is None or body is None:
            return
        fields = self.lowered.structs.setdefault(text(name), {})
        for declaration in body.named_children:
            field_name, kind = child(declaration, "name"), child(declaration, "type")
            if declaration.type == "field_declaration" and field_name is not None:
                fields[text(field_name)] = text(kind)

    def impl(self, node: Node) -> None:
        kind, body = child(node, "type"), child(node, "body")
        if kind is None or body is None:
            return
        name = text(kind).split("<")[0]
        info = self.module.classes.setdefault(name, model.ClassModel(name, (), span=span(node), origin=node))
        self.items(body.named_children, owner=name)
        info.methods.update(
            {
                f.name: f
                for q, f in self.module.functions.items()
                if f.owner_class == name and q.startswith(name + ".")
            }
        )

    def function(self, node: Node, owner: str | None, attributes: list[Node]) -> None:
        name_node, body = child(node, "name"), child(node, "body")
        if name_node is None or body is None:
            return
        name = text(name_node)
        qualname = f"{owner}.{name}" if owner else name
        params, annotations = parameters(child(node, "parameters"))
        lowering = _Statements(ExpressionLowering(self.qualify))
        block = lowering.block(body, lambda value: model.Return(value, span=value.span))
        modifiers = next((c for c in node.children if c.type == "function_modifiers"), None)
        function = model.Function(
            name=name,
            qualname=qualname,
            params=params,
            body=block,
            is_async="async" in text(modifiers),
            owner_class=owner,
            decorators=tuple(model.Opaque("attribute", span=span(a), origin=a) for a in attributes),
            annotations=annotations,
            locals=frozenset(params) | lowering.bound,
            span=span(node),
            origin=node,
        )
        self.module.functions[qualname] = function
        self.lowered.attributes[qualname] = attributes


Tail = Callable[[model.Expr], model.Statement]


class _Statements:
    """The statements of one function body; `bound` collects the locals they bind."""

    def __init__(self, expressions: ExpressionLowering) -> None:
        self.x = expressions
        self.bound: set[str] = set()
        self._synthetic = 0
        # Locals bound to a copy (`let mut t = db.get(&id).cloned()?`): changing their fields
        # changes the copy, not the shared state it was read from.
        self.copies: set[str] = set()

    def block(self, node: Node, tail: Tail | None) -> model.Block:
        children = [c for c in node.named_children if c.type not in _SKIPPED]
        return tuple(self.sequence(children, tail))

    def sequence(self, children: list[Node], tail: Tail | None) -> list[model.Statement]:
        out: list[model.Statement] = []
        for position, node in enumerate(children):
            last = position == len(children) - 1
            transaction = transaction_closure(node)
            if transaction is not None:
                out.extend(self.transaction(node, transaction))
                continue
            guard = self.guard(node)
            if guard is not None:
                out.extend(self.locked(guard, node, children[position + 1 :], tail))
                return out
            if last and node.type not in ("expression_statement", "let_declaration") and tail is not None:
                out.extend(self.tail(node, tail))
            else:
                out.extend(self.statement(node))
        return out

    def guard(self, node: Node) -> tuple[str, Node] | None:
        """`let g = m.lock().unwrap();`: the guard's name and the locked place."""
        if node.type != "let_declaration":
            return None
        pattern, value = child(node, "pattern"), child(node, "value")
        if pattern is None or value is None:
            return None
        names = list(pattern_names(pattern))
        target = lock_target(value)
        return (names[0], target) if target is not None and len(names) == 1 else None

    def locked(
        self, guard: tuple[str, Node], node: Node, rest: list[Node], tail: Tail | None
    ) -> list[model.Statement]:
        """The rest of the block, up to `drop(guard)`, inside a `With` over the lock."""
        name, place = guard
        self.bound.add(name)
        value = child(node, "value")
        context = self.lock_context(place, value)
        dropped = next((i for i, n in enumerate(rest) if drops(n, name)), None)
        inside, after = (rest, []) if dropped is None else (rest[:dropped], rest[dropped + 1 :])
        shadowed = self.x.guards.get(name)
        self.x.guards[name] = place
        body = self.sequence(inside, tail if dropped is None else None)
        if shadowed is None:
            self.x.guards.pop(name, None)
        else:
            self.x.guards[name] = shadowed
        statement = model.With(
            (model.WithItem(context, span=span(value)),), tuple(body), span=span(node), origin=node
        )
        # The lock ends at `drop(g)`; what follows runs unlocked.
        return [statement, *self.sequence(after, tail)]

    def transaction(self, node: Node, found: TransactionClosure) -> list[model.Statement]:
        """`conn.transaction(|conn| { .. })`: the closure's block inside a `With` over the call."""
        where = span(found.call)
        receiver = self.x.expr(found.receiver)
        context = model.Call(
            model.Attribute(receiver, "transaction", span=where),
            (),
            "transaction",
            span=where,
            origin=found.call,
        )
        self.bound.update(pattern_names(found.parameters))
        body = self.block(found.body, None)
        statements: list[model.Statement] = [
            model.With((model.WithItem(context, span=where),), body, span=span(node), origin=node)
        ]
        pattern = child(node, "pattern") if node.type == "let_declaration" else None
        if pattern is not None:
            self.bound.update(pattern_names(pattern))
            value = model.Opaque("transaction", span=span(node), origin=node)
            statements.append(model.Assign((self.target(pattern),), value, span=span(node), origin=node))
        return statements

    def tail(self, node: Node, tail: Tail) -> list[model.Statement]:
        if node.type in CONTROL:
            return self.control(node, tail)
        return self.with_tries(lambda: [tail(self.x.expr(node))], node)

    def statement(self, node: Node) -> list[model.Statement]:
        kind = node.type
        if kind == "expression_statement":
            inner = node.named_children[0] if node.named_children else None
            return self.statement(inner) if inner is not None else []
        if kind == "let_declaration":
            return self.let(node)
        if kind in CONTROL:
            return self.control(node, None)
        if kind in (
            "function_item",
            "struct_item",
            "enum_item",
            "impl_item",
            "use_declaration",
            "macro_definition",
        ):
            return [model.OpaqueStatement(kind, span=span(node), origin=node)]
        if kind in ("assignment_expression", "compound_assignment_expr"):
            return self.with_tries(lambda: [self.assign(node)], node)
        return self.with_tries(lambda: [model.Eval(self.x.expr(node), span=span(node), origin=node)], node)

    def with_tries(self, build: Callable[[], list[model.Statement]], node: Node) -> list[model.Statement]:
        """`?` in the statement: after it, a path that returns early (the error) joins the rest."""
        before = self.x.tries
        statements = build()
        if self.x.tries > before:
            early = model.If(
                model.Opaque("try", span=span(node)), (model.Return(span=span(node)),), span=span(node)
            )
            statements.append(early)
        return statements

    def assign(self, node: Node) -> model.Statement:
        left, right = child(node, "left"), child(node, "right")
        if left is not None and right is not None and base_name(left) in self.copies:
            return model.Eval(self.x.expr(right), span=span(node), origin=node)
        target = self.x.expr(left) if left is not None else model.Opaque("target")
        value = self.x.expr(right) if right is not None else None
        op = None
        if node.type == "compound_assignment_expr":
            operator = child(node, "operator")
            op = text(operator).rstrip("=") if operator is not None else "+"
        assign = model.Assign((target,), value, op, span=span(node), origin=node)
        place = _guarded_place(left)
        if place is None:
            return assign
        # `*m.lock().unwrap() += 1`: the temporary guard lives for the whole statement, so the
        # statement runs under the lock (what it reads before it, it does not hold).
        context = self.lock_context(place, left)
        return model.With(
            (model.WithItem(context, span=span(left)),), (assign,), span=span(node), origin=node
        )

    def lock_context(self, place: Node, guard: Node) -> model.Call:
        """The `With` context standing for a lock over `place` taken by the `guard` expression."""
        receiver = model.Attribute(self.x.expr(place), "lock", span=span(guard))
        return model.Call(receiver, (), "lock", span=span(guard), origin=guard)

    def let(self, node: Node) -> list[model.Statement]:
        pattern, value = child(node, "pattern"), child(node, "value")
        names = list(pattern_names(pattern))
        self.bound.update(names)
        if value is None:
            return []
        target = self.target(pattern)
        if value.type in CONTROL:  # `let x = match ... { ... }`: each arm's tail assigns x
            return self.control(value, lambda v: model.Assign((target,), v, span=v.span, origin=node))
        self.copies.difference_update(names)
        if len(names) == 1 and is_copy(value):
            self.copies.add(names[0])
        alternative = child(node, "alternative")  # `let Some(x) = e else { return };`
        statements = self.with_tries(
            lambda: [model.Assign((target,), self.x.expr(value), span=span(node), origin=node)], node
        )
        if alternative is not None:
            statements.append(model.If(model.Opaque("let-else"), self.block(alternative, None)))
        return statements

    def target(self, pattern: Node | None) -> model.Expr:
        if pattern is None:
            return model.Opaque("pattern")
        names = [model.Name(n, span=span(pattern)) for n in pattern_names(pattern)]
        if len(names) == 1 and pattern.type in ("identifier", "mut_pattern", "ref_pattern"):
            names[0].span = span(pattern)
            return names[0]
        return model.Collection("tuple", tuple(names), span=span(pattern), origin=pattern)

    def synthetic(self, node: Node) -> model.Name:
        self._synthetic += 1
        name = f"$match{self._synthetic}"
        self.bound.add(name)
        return model.Name(name, span=span(node))

    def control(self, node: Node, tail: Tail | None) -> list[model.Statement]:
        kind = node.type
        if kind in ("block", "unsafe_block"):
            block = (
                node if kind == "block" else next((c for c in node.named_children if c.type == "block"), node)
            )
            return list(self.block(block, tail))
        if kind == "return_expression":
            value = node.named_children[0] if node.named_children else None
            return self.with_tries(
                lambda: [
                    model.Return(
                        self.x.expr(value) if value is not None else None, span=span(node), origin=node
                    )
                ],
                node,
            )
        if kind in ("break_expression", "continue_expression"):
            jump: Literal["break", "continue"] = "break" if kind == "break_expression" else "continue"
            return [model.Jump(jump, span=span(node), origin=node)]
        if kind == "if_expression":
            return self.if_(node, tail)
        if kind == "match_expression":
            return self.match(node, tail)
        return [self.loop(node)]

    def condition(self, node: Node) -> model.Expr:
        """A test; `let P = e` (if let / while let) binds P to e's value while testing it."""
        if node.type == "let_condition":
            pattern, value = child(node, "pattern"), child(node, "value")
            self.bound.update(pattern_names(pattern))
            lowered = self.x.expr(value) if value is not None else model.Opaque("value")
            return model.Walrus(self.target(pattern), lowered, span=span(node), origin=node)
        if node.type == "let_chain":
            parts = tuple(self.condition(c) for c in node.named_children)
            return model.Operation("and", parts, span=span(node), origin=node)
        return self.x.expr(node)

    def if_(self, node: Node, tail: Tail | None) -> list[model.Statement]:
        condition, consequence = child(node, "condition"), child(node, "consequence")
        alternative = child(node, "alternative")
        statements: list[model.Statement] = []
        test = self.with_tries(lambda: [model.Eval(self.condition(condition))], node) if condition else []
        body = self.block(consequence, tail) if consequence is not None else ()
        orelse: model.Block = ()
        if alternative is not None and alternative.named_children:
            orelse = tuple(self.control(alternative.named_children[0], tail))
        first = test[0]
        assert isinstance(first, model.Eval)
        statements.append(model.If(first.value, body, orelse, span=span(node), origin=node))
        # A `?` in the condition returns before either branch: keep that path too.
        lowered = [*test[1:], *statements] if len(test) > 1 else statements
        # `if let Entry::Vacant(slot) = map.entry(k)`: the entry holds the map's lock.
        subject = (
            child(condition, "value") if condition is not None and condition.type == "let_condition" else None
        )
        return self.under_entry(subject, lowered, node)

    def match(self, node: Node, tail: Tail | None) -> list[model.Statement]:
        value, body = child(node, "value"), child(node, "body")
        subject = self.synthetic(node)
        statements = self.with_tries(
            lambda: [
                model.Assign(
                    (subject,), self.x.expr(value) if value else model.Opaque("value"), span=span(node)
                )
            ],
            node,
        )
        arms: list[model.Block] = []
        patterns: list[model.Expr | None] = []
        for arm in body.named_children if body is not None else ():
            if arm.type != "match_arm":
                continue
            arms.append(self.arm(arm, subject, tail))
            patterns.append(None)
        statements.append(model.Branch(subject, tuple(arms), tuple(patterns), span=span(node), origin=node))
        return self.under_entry(value, statements, node)

    def under_entry(
        self, subject: Node | None, statements: list[model.Statement], node: Node
    ) -> list[model.Statement]:
        """`match map.entry(k) { .. }` / `if let .. = map.entry(k)` (DashMap, a map behind a guard):
        the entry holds the map's (shard's) lock from the lookup to the arm's insert."""
        place = entry_place(subject)
        if subject is None or place is None:
            return statements
        item = model.WithItem(self.lock_context(place, subject), span=span(subject))
        return [model.With((item,), tuple(statements), span=span(node))]

    def arm(self, arm: Node, subject: model.Name, tail: Tail | None) -> model.Block:
        pattern, value = child(arm, "pattern"), child(arm, "value")
        inner = pattern.named_children[0] if pattern is not None and pattern.named_children else None
        names = list(pattern_names(inner))
        self.bound.update(names)
        binding: list[model.Statement] = []
        if names:
            subject_copy = model.Name(subject.id, span=subject.span)
            binding.append(model.Assign((self.target(inner),), subject_copy, span=span(arm)))
        guard = child(pattern, "condition") if pattern is not None else None
        if value is None:
            body: list[model.Statement] = []
        elif value.type in CONTROL:
            body = self.control(value, tail)
        elif tail is not None:
            body = self.tail(value, tail)
        else:
            body = self.statement(value)
        if guard is not None:
            body = [model.If(self.condition(guard), tuple(body), span=span(guard), origin=guard)]
        return (*binding, *body)

    def loop(self, node: Node) -> model.Statement:
        kind, body = node.type, child(node, "body")
        block = self.block(body, None) if body is not None else ()
        if kind == "for_expression":
            pattern, value = child(node, "pattern"), child(node, "value")
            self.bound.update(pattern_names(pattern))
            iterable = self.x.expr(value) if value is not None else model.Opaque("value")
            return model.Loop(
                block, target=self.target(pattern), iterable=iterable, span=span(node), origin=node
            )
        condition = child(node, "condition")
        test = self.condition(condition) if condition is not None else model.Literal(True)
        return model.Loop(block, test=test, span=span(node), origin=node)
