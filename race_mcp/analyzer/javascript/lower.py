"""tree-sitter JavaScript/TypeScript lowered to `core.model.ModuleModel`.

Functions: declarations, methods of classes (and of object literals), and every arrow function or
`function` expression, which is registered under a name of its own: a `const f = async () => {}`
under `f`, an inline route handler under `<anonymous:LINE>` (no dot, so it is a root the pipeline
runs), a callback inside a function under `outer.<locals>.<anonymous:LINE>`. Imports (`import`,
`require`) map local names to qualified ones (`@aws-sdk/client-dynamodb.UpdateItemCommand`), so
calls carry the names recognizers match. Block scoping is flattened: the interpreter follows
reads and writes by name, and a shadowing `let` inside a block is rare in handlers.
"""

from __future__ import annotations

from typing import Any

from ..core import model
from ..core.walk import statements
from ._classes import lower_class, parameter_types, property_assignments
from ._expressions import ExpressionLowering, span, text
from ._syntax import caught_errors, existence_probe, is_async, required_module
from .nest import handles_events
from .parse import parse

__all__ = ["Lowering", "lower_module"]

_DECLARATIONS = frozenset({"lexical_declaration", "variable_declaration"})
_FUNCTION_DECLARATIONS = frozenset({"function_declaration", "generator_function_declaration"})
_SKIPPED = frozenset(
    {
        "comment",
        "empty_statement",
        "type_alias_declaration",
        "interface_declaration",
        "enum_declaration",
        "ambient_declaration",
        "abstract_class_declaration_signature",
        "debugger_statement",
        "hash_bang_line",
    }
)


class Lowering:
    """One module's lowering; `module` is the result."""

    def __init__(self, source: str, path: str) -> None:
        self.module = model.ModuleModel(path=path, language="javascript", source=source)
        self.expressions = ExpressionLowering(self)
        self.calls: list[model.Call] = []  # the module's top-level calls, innermost first
        self._scopes: list[model.Function | None] = [None]  # the function being lowered (None: module)
        self._qualnames: list[str] = []
        self._bound: list[set[str]] = []  # per function being lowered: the names it declares

    def module_call(self, call: model.Call) -> None:
        if self._scopes[-1] is None:
            self.calls.append(call)

    # -- names ------------------------------------------------------------------------------------
    def qualified(self, func: model.Expr) -> str | None:
        """The callee's qualified name: its dotted text with an imported head resolved."""
        parts: list[str] = []
        node = func
        while isinstance(node, model.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, model.Name):
            return ".".join(reversed(parts)) if parts else None
        head = self.module.imports.get(node.id)
        tail = list(reversed(parts))
        if head is not None and tail[:1] == ["default"]:
            tail = tail[1:]  # `_fs.default.writeFile` of a compiled `import fs from "fs"`
        return ".".join([head or node.id, *tail])

    def _bind(self, target: model.Expr) -> None:
        if not self._bound:
            return
        if isinstance(target, model.Name):
            self._bound[-1].add(target.id)
        elif isinstance(target, model.Collection):
            for element in target.elements:
                self._bind(element)

    # -- module -----------------------------------------------------------------------------------
    def lower(self, root: Any) -> model.ModuleModel:
        body = self.block(root.named_children)
        self.module.body = body
        self.module.calls = self.calls
        return self.module

    def block(self, nodes: Any) -> model.Block:
        out: list[model.Statement] = []
        for node in nodes:
            out.extend(self.statement(node))
        return tuple(out)

    def _body(self, node: Any | None) -> model.Block:
        if node is None:
            return ()
        if node.type == "statement_block":
            return self.block(node.named_children)
        return tuple(self.statement(node))

    # -- statements -------------------------------------------------------------------------------
    def statement(self, node: Any) -> list[model.Statement]:
        kind = node.type
        if kind in _SKIPPED:
            return []
        method = getattr(self, "_s_" + kind, None)
        if method is not None:
            result: list[model.Statement] = method(node)
            return result
        children = tuple(
            self.expressions.expr(c) for c in node.named_children if c.type.endswith("expression")
        )
        return [model.OpaqueStatement(kind, children, span=span(node), origin=node)]

    def _s_statement_block(self, node: Any) -> list[model.Statement]:
        return list(self.block(node.named_children))

    def _s_export_statement(self, node: Any) -> list[model.Statement]:
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            return self.statement(declaration)
        value = node.child_by_field_name("value")
        if value is not None:  # export default <expression>
            return [model.Eval(self.expressions.expr(value), span=span(node), origin=node)]
        return [
            stmt
            for child in node.named_children
            if child.type.endswith("declaration")
            for stmt in self.statement(child)
        ]

    def _s_import_statement(self, node: Any) -> list[model.Statement]:
        source_node = node.child_by_field_name("source")
        if source_node is None:
            return []
        source = text(source_node)[1:-1]
        imports = self.module.imports
        for clause in (c for c in node.named_children if c.type == "import_clause"):
            for part in clause.named_children:
                if part.type == "identifier":  # default import
                    imports[text(part)] = source
                elif part.type == "namespace_import":
                    for name in part.named_children:
                        imports[text(name)] = source
                elif part.type == "named_imports":
                    for specifier in part.named_children:
                        name, alias = (
                            specifier.child_by_field_name("name"),
                            specifier.child_by_field_name("alias"),
                        )
                        if name is not None:
                            imports[text(alias if alias is not None else name)] = f"{source}.{text(name)}"
        return []

    def _s_expression_statement(self, node: Any) -> list[model.Statement]:
        inner = node.named_children[0] if node.named_children else None
        if inner is None:
            return []
        kind = inner.type
        if kind == "assignment_expression":
            left, right = inner.child_by_field_name("left"), inner.child_by_field_name("right")
            target = self.expressions.expr(left)
            if right is not None and right.type in ("arrow_function", "function_expression", "function"):
                # `exports.handler = async (event) => ...`: the function is known by the name assigned
                label = text(left).rsplit(".", 1)[-1] if left is not None else None
                value = self.function_expression(
                    right, name=label if label and label.isidentifier() else None
                )
            else:
                value = self.expressions.expr(right)
            if self._scopes[-1] is None and isinstance(target, model.Name):
                self.module.assignments[target.id] = value
            return [model.Assign((target,), value, span=span(node), origin=inner)]
        if kind == "augmented_assignment_expression":
            operator = inner.child_by_field_name("operator")
            op = text(operator).rstrip("=") if operator is not None else "+"
            target = self.expressions.expr(inner.child_by_field_name("left"))
            value = self.expressions.expr(inner.child_by_field_name("right"))
            return [model.Assign((target,), value, op, span=span(node), origin=inner)]
        if kind == "update_expression":  # x++ / --x
            argument = self.expressions.expr(inner.child_by_field_name("argument"))
            op = "-" if "--" in text(inner) else "+"
            one = model.Literal(1, span=span(inner))
            return [model.Assign((argument,), one, op, span=span(node), origin=inner)]
        if kind == "sequence_expression":
            return [
                model.Eval(self.expressions.expr(c), span=span(c), origin=c) for c in inner.named_children
            ]
        return [model.Eval(self.expressions.expr(inner), span=span(node), origin=inner)]

    def _declarator(self, node: Any) -> list[model.Statement]:
        name_node, value_node = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name_node is None:
            return []
        required = required_module(value_node)
        if required is not None and self._scopes[-1] is None:
            self._import_binding(name_node, required)
            return []
        target = self.expressions.expr(name_node)
        self._bind(target)
        if value_node is not None and value_node.type in (
            "arrow_function",
            "function_expression",
            "function",
        ):
            value = self.function_expression(value_node, name=text(name_node))
        else:
            value = self.expressions.expr(value_node) if value_node is not None else model.Literal(None)
        if self._scopes[-1] is None and isinstance(target, model.Name):
            self.module.assignments[target.id] = value
        return [model.Assign((target,), value, span=span(node), origin=node)]

    def _import_binding(self, pattern: Any, source: str) -> None:
        if pattern.type == "identifier":
            self.module.imports[text(pattern)] = source
        elif pattern.type == "object_pattern":
            for child in pattern.named_children:
                if child.type == "shorthand_property_identifier_pattern":
                    self.module.imports[text(child)] = f"{source}.{text(child)}"
                elif child.type == "pair_pattern":
                    key, value = child.child_by_field_name("key"), child.child_by_field_name("value")
                    if key is not None and value is not None and value.type == "identifier":
                        self.module.imports[text(value)] = f"{source}.{text(key)}"

    def _s_lexical_declaration(self, node: Any) -> list[model.Statement]:
        return [
            s
            for child in node.named_children
            if child.type == "variable_declarator"
            for s in self._declarator(child)
        ]

    _s_variable_declaration = _s_lexical_declaration

    def _s_if_statement(self, node: Any) -> list[model.Statement]:
        test = self.expressions.expr(node.child_by_field_name("condition"))
        body = self._body(node.child_by_field_name("consequence"))
        alternative = node.child_by_field_name("alternative")
        orelse: model.Block = ()
        if alternative is not None:
            orelse = self.block(alternative.named_children)
        return [model.If(test, body, orelse, span=span(node), origin=node)]

    def _s_for_statement(self, node: Any) -> list[model.Statement]:
        before: list[model.Statement] = []
        initializer = node.child_by_field_name("initializer")
        if initializer is not None:
            before = self.statement(initializer)
        condition = node.child_by_field_name("condition")
        test = self.expressions.expr(condition) if condition is not None else model.Literal(True)
        body = list(self._body(node.child_by_field_name("body")))
        increment = node.child_by_field_name("increment")
        if increment is not None:
            body.append(model.Eval(self.expressions.expr(increment), span=span(increment), origin=increment))
        return [*before, model.Loop(tuple(body), test=test, span=span(node), origin=node)]

    def _s_for_in_statement(self, node: Any) -> list[model.Statement]:
        target = self.expressions.expr(node.child_by_field_name("left"))
        self._bind(target)
        iterable = self.expressions.expr(node.child_by_field_name("right"))
        body = self._body(node.child_by_field_name("body"))
        is_async = any(child.type == "await" for child in node.children)
        return [
            model.Loop(
                body, target=target, iterable=iterable, is_async=is_async, span=span(node), origin=node
            )
        ]

    def _s_while_statement(self, node: Any) -> list[model.Statement]:
        test = self.expressions.expr(node.child_by_field_name("condition"))
        return [
            model.Loop(self._body(node.child_by_field_name("body")), test=test, span=span(node), origin=node)
        ]

    _s_do_statement = _s_while_statement

    def _s_try_statement(self, node: Any) -> list[model.Statement]:
        body = self._body(node.child_by_field_name("body"))
        handlers: list[model.Handler] = []
        handler = node.child_by_field_name("handler")
        if handler is not None:
            parameter = handler.child_by_field_name("parameter")
            name = text(parameter) if parameter is not None and parameter.type == "identifier" else None
            if name is not None and self._bound:
                self._bound[-1].add(name)
            catch_body = self._body(handler.child_by_field_name("body"))
            types = ("Exception", *caught_errors(text(handler)))
            handlers.append(model.Handler(types, catch_body, name, span=span(handler), origin=handler))
        finalizer = node.child_by_field_name("finalizer")
        final = self._body(finalizer.child_by_field_name("body")) if finalizer is not None else ()
        probe = existence_probe(body)
        if probe is not None:
            # The probe throws when the path is absent: the rest of the body runs when it exists.
            body = (model.If(probe, body[1:], (), span=body[0].span, origin=body[0].origin),)
        return [model.Try(body, tuple(handlers), final=final, span=span(node), origin=node)]

    def _s_switch_statement(self, node: Any) -> list[model.Statement]:
        subject = self.expressions.expr(node.child_by_field_name("value"))
        arms: list[model.Block] = []
        patterns: list[model.Expr | None] = []
        body = node.child_by_field_name("body")
        for case in body.named_children if body is not None else ():
            value = case.child_by_field_name("value")
            patterns.append(self.expressions.expr(value) if value is not None else None)
            statements = [c for c in case.named_children if c != value and c.type != "comment"]
            arms.append(self.block(statements))
        return [model.Branch(subject, tuple(arms), tuple(patterns), span=span(node), origin=node)]

    def _s_return_statement(self, node: Any) -> list[model.Statement]:
        value = node.named_children[0] if node.named_children else None
        lowered = self._returned(self.expressions.expr(value)) if value is not None else None
        return [model.Return(lowered, span=span(node), origin=node)]

    def _returned(self, value: model.Expr) -> model.Expr:
        """An async function's `return call()` hands back a promise its caller's `await` waits for:
        the same suspension as `return await call()`, which is how it is modelled (the interpreter
        inlines the project's async functions and yields only where their bodies await). So does a
        NestJS handler's, async or not: `spend() { return this.wallets.spend(id) }` is awaited by Nest."""
        function = self._scopes[-1]
        awaited = function is not None and (function.is_async or handles_events(function.decorators))
        if awaited and isinstance(value, model.Call):
            return model.Await(value, span=value.span, origin=value.origin)
        return value

    def _s_throw_statement(self, node: Any) -> list[model.Statement]:
        value = node.named_children[0] if node.named_children else None
        return [
            model.Raise(
                self.expressions.expr(value) if value is not None else None, span=span(node), origin=node
            )
        ]

    def _s_break_statement(self, node: Any) -> list[model.Statement]:
        return [model.Jump("break", span=span(node), origin=node)]

    def _s_continue_statement(self, node: Any) -> list[model.Statement]:
        return [model.Jump("continue", span=span(node), origin=node)]

    def _s_labeled_statement(self, node: Any) -> list[model.Statement]:
        return list(self._body(node.child_by_field_name("body")))

    # -- functions and classes --------------------------------------------------------------------
    def _qualname(self, name: str) -> str:
        if not self._qualnames:
            return name
        return f"{self._qualnames[-1]}.<locals>.{name}"

    def function(
        self,
        node: Any,
        name: str,
        qualname: str,
        owner_class: str | None = None,
        decorators: tuple[model.Expr, ...] = (),
    ) -> model.Function:
        params_node = node.child_by_field_name("parameters") or node.child_by_field_name("parameter")
        params: list[str] = []
        bound: set[str] = set()
        if params_node is not None:
            nodes = [params_node] if params_node.type == "identifier" else params_node.named_children
            for param in nodes:
                pattern = param.child_by_field_name("pattern") if param.type.endswith("_parameter") else param
                lowered = self.expressions.expr(pattern) if pattern is not None else None
                if isinstance(lowered, model.Name):
                    params.append(lowered.id)
                    bound.add(lowered.id)
                elif isinstance(lowered, model.Collection):
                    params.append(text(param))
                    bound.update(e.id for e in lowered.elements if isinstance(e, model.Name))
        self._bound.append(bound)
        self._qualnames.append(qualname)
        function = model.Function(
            name,
            qualname,
            tuple(params),
            (),
            is_async=is_async(node),
            owner_class=owner_class,
            decorators=decorators,
            span=span(node),
            origin=node,
        )
        self._scopes.append(function)
        body_node = node.child_by_field_name("body")
        if body_node is not None and body_node.type != "statement_block":  # `async x => expr`
            value = self._returned(self.expressions.expr(body_node))
            function.body = (model.Return(value, span=span(body_node), origin=body_node),)
        else:
            function.body = self._body(body_node)
        function.annotations = parameter_types(params_node)
        if name == "constructor" and owner_class is not None:
            function.body = (*property_assignments(params_node), *function.body)
        self._scopes.pop()
        self._qualnames.pop()
        declared = self._bound.pop()
        function.locals = frozenset(declared)
        function.globals = frozenset(self._assigned(function.body) - declared)
        return function

    def _assigned(self, body: model.Block) -> set[str]:
        """Module-level names the function assigns without declaring (`counter += 1`)."""
        found: set[str] = set()
        for statement in statements(body):
            if isinstance(statement, model.Assign):
                found.update(t.id for t in statement.targets if isinstance(t, model.Name))
        return found & set(self.module.assignments)

    def function_expression(self, node: Any, name: str | None = None) -> model.Expr:
        """An arrow function or `function` expression: a function of the module; an opaque value here."""
        label = name or f"<anonymous:{node.start_point[0] + 1}>"
        qualname = self._qualname(label)
        if qualname in self.module.functions and name is None:  # two on one line: the column tells
            label = f"<anonymous:{node.start_point[0] + 1}:{node.start_point[1]}>"
            qualname = self._qualname(label)
        self.module.functions[qualname] = self.function(node, label, qualname)
        return model.Opaque("function", (), span=span(node), origin=node)

    def _s_function_declaration(self, node: Any) -> list[model.Statement]:
        name_node = node.child_by_field_name("name")
        name = text(name_node) if name_node is not None else f"<anonymous:{node.start_point[0] + 1}>"
        if self._bound:
            self._bound[-1].add(name)
        qualname = self._qualname(name)
        self.module.functions[qualname] = self.function(node, name, qualname)
        return [model.OpaqueStatement("def", (), qualname, span=span(node), origin=node)]

    _s_generator_function_declaration = _s_function_declaration

    def _s_class_declaration(self, node: Any) -> list[model.Statement]:
        info = lower_class(self, node)
        self.module.classes[info.name] = info
        return [model.OpaqueStatement("class", (), info.name, span=span(node), origin=node)]

    _s_abstract_class_declaration = _s_class_declaration


def lower_module(source: str, path: str, tree: Any = None) -> model.ModuleModel:
    """The model of one JavaScript or TypeScript module (`tree`: its tree-sitter tree, if parsed)."""
    if tree is None:
        tree = parse(source.encode("utf-8", "surrogatepass"), path)
    return Lowering(source, path).lower(tree.root_node)
