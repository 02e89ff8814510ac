"""Facts of one JavaScript/TypeScript file for the project index, and of a Prisma schema.

What another file may need of this one, as JSON data in `FileFacts.extra`:

- `imports`: local name -> [specifier, imported name] (`default`, `*` for a namespace or a whole
  `require`, else the name), from `import` statements and top-level `require` bindings;
- `exports`: exported name -> the local name (`=` is CommonJS `module.exports = x`, `default` the
  default export), or [`from`, specifier, name] for a re-export; `stars`: `export * from` specifiers;
- `routes`: [verb, path, router, handler reference, framework] for each route registration
  (`router` is the variable the route is registered on, or the plugin function it is written in);
- `mounts`: [parent router, prefix, child reference] for `app.use("/api", router)`, Hono's
  `app.route("/api", sub)`, Fastify's `register(plugin, { prefix })`; `own_prefix`: koa-router's
  `new Router({ prefix })`;
- `classes`: per class its injected properties (`constructor(private wallet: WalletService)`),
  a NestJS controller's prefix; `calls`: per function, its calls of imported functions and of
  `this.<property>.<method>` (what a handler reaches in other files).

A reference is [`fn`, qualname] (a function of this file), [`var`, name] (a local router),
[`imp`, local, member] (an imported binding, `member` for `ctrl.withdraw`) or [`req`, specifier]
(an inline `require("./x")`). Only files that mention a route, a mount or a decorator are lowered;
the others give their imports and exports from the top of the tree alone.
"""

from __future__ import annotations

import re
from typing import Any

from ._facts import FileFacts, merge_keys
from ._js_models import model_facts

__all__ = ["extract_javascript", "extract_prisma"]

# A file that may register routes (a verb with a path: `.post("/x"`), mount routers, declare NestJS
# classes, or hold handlers (`(req, res)`, `(ctx)`) whose calls reach other files: lowered for
# them. Libraries (`map.get("k")`) are not: lowering is most of an extraction's cost.
_ROUTING = re.compile(
    r"""\.(?:get|post|put|patch|delete|del|all|options|head|route)\s*\(\s*['"`][/*:]"""
    r"|\.(?:use|register|route)\s*\(|@(?:Controller|Injectable)\b"
    r"|\(\s*(?:req|request|ctx)\s*[,:)]"
)
_MAX_NODES = 300_000  # past this the file gives its imports and exports only (lowering is bounded)
_FUNCTIONS = frozenset({"arrow_function", "function_expression", "function"})


def extract_javascript(data: bytes, module: str, suffix: str) -> FileFacts:
    """The file's facts; a file too deeply nested to read gives none (it is `broken`): its own
    analysis reports why, and the index must never fail for one file."""
    try:
        return _extract(data, module, suffix)
    except (RecursionError, ValueError, MemoryError):
        return FileFacts(module, kind="js", broken=True)


def _extract(data: bytes, module: str, suffix: str) -> FileFacts:
    from ..javascript.parse import parse

    label = f"module{suffix}"  # the dialect goes by the suffix
    tree = parse(data, label)
    imports: dict[str, list[str]] = {}
    exports: dict[str, Any] = {}
    stars: list[str] = []
    for node in tree.root_node.named_children:
        _top_level(node, imports, exports, stars)
    extra: dict[str, Any] = {"imports": imports, "exports": exports, "stars": stars}
    source = data.decode("utf-8", errors="replace")
    if _ROUTING.search(source) and tree.root_node.descendant_count <= _MAX_NODES:
        from ._js_routes import routing_facts

        extra.update(routing_facts(source, label, tree, imports))
    # Sequelize models and TypeORM entities: their tables and unique keys, and migrations' unique
    # indexes (`_js_models.py`).
    tables, model_tables = model_facts(source)
    if model_tables:
        extra["model_tables"] = model_tables
    return FileFacts(module, kind="js", broken=tree.root_node.has_error, extra=extra, tables=tables)


# -- imports and exports, read off the top of the tree ----------------------------------------------


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", errors="replace"))


def _string(node: Any | None) -> str | None:
    if node is None or node.type not in ("string", "template_string"):
        return None
    raw = _text(node)
    return raw[1:-1] if len(raw) >= 2 else None


def _top_level(node: Any, imports: dict[str, list[str]], exports: dict[str, Any], stars: list[str]) -> None:
    kind = node.type
    if kind == "import_statement":
        _import(node, imports)
    elif kind in ("lexical_declaration", "variable_declaration"):
        for declarator in node.named_children:
            if declarator.type == "variable_declarator":
                _require(declarator, imports)
    elif kind == "export_statement":
        _export(node, exports, stars)
        declaration = node.child_by_field_name("declaration")
        if declaration is not None and declaration.type in ("lexical_declaration", "variable_declaration"):
            _top_level(declaration, imports, exports, stars)
    elif kind == "expression_statement" and node.named_children:
        _commonjs_export(node.named_children[0], exports)


def _import(node: Any, imports: dict[str, list[str]]) -> None:
    source = _string(node.child_by_field_name("source"))
    if source is None:
        return
    for clause in (c for c in node.named_children if c.type == "import_clause"):
        for part in clause.named_children:
            if part.type == "identifier":
                imports[_text(part)] = [source, "default"]
            elif part.type == "namespace_import":
                for name in part.named_children:
                    imports[_text(name)] = [source, "*"]
            elif part.type == "named_imports":
                for specifier in part.named_children:
                    name, alias = (
                        specifier.child_by_field_name("name"),
                        specifier.child_by_field_name("alias"),
                    )
                    if name is not None:
                        imports[_text(alias if alias is not None else name)] = [source, _text(name)]


def required(node: Any | None) -> tuple[str, str] | None:
    """`require("./x")` -> ("./x", "*"); `require("./x").y` -> ("./x", "y"); `await import("./x")`."""
    if node is None:
        return None
    if node.type == "await_expression" and node.named_children:
        return required(node.named_children[0])
    if node.type == "member_expression":
        base = required(node.child_by_field_name("object"))
        prop = node.child_by_field_name("property")
        return (base[0], _text(prop)) if base is not None and base[1] == "*" and prop is not None else None
    if node.type != "call_expression":
        return None
    func, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
    if func is None or _text(func) not in ("require", "import") or args is None:
        return None
    strings = [_string(child) for child in args.named_children]
    return (strings[0], "*") if strings and strings[0] is not None else None


def _require(declarator: Any, imports: dict[str, list[str]]) -> None:
    found = required(declarator.child_by_field_name("value"))
    pattern = declarator.child_by_field_name("name")
    if found is None or pattern is None:
        return
    source, name = found
    if pattern.type == "identifier":
        imports[_text(pattern)] = [source, name]
    elif pattern.type == "object_pattern" and name == "*":
        for child in pattern.named_children:
            if child.type == "shorthand_property_identifier_pattern":
                imports[_text(child)] = [source, _text(child)]
            elif child.type == "pair_pattern":
                key, value = child.child_by_field_name("key"), child.child_by_field_name("value")
                if key is not None and value is not None and value.type == "identifier":
                    imports[_text(value)] = [source, _text(key)]


def _export(node: Any, exports: dict[str, Any], stars: list[str]) -> None:
    source = _string(node.child_by_field_name("source"))
    declaration = node.child_by_field_name("declaration")
    value = node.child_by_field_name("value")
    default = any(c.type == "default" for c in node.children)
    if declaration is not None:
        for name in _declared(declaration):
            exports["default" if default else name] = name  # `export default function f() {}`
    elif value is not None:  # export default <expression>
        exports["default"] = _value_name(value)
    elif default:  # `export default function () {}`
        named = next((c for c in node.named_children if c.type.endswith("declaration")), None)
        if named is not None:
            exports["default"] = next(iter(_declared(named)), _anonymous(named))
    for clause in (c for c in node.named_children if c.type == "export_clause"):
        for specifier in clause.named_children:
            name, alias = specifier.child_by_field_name("name"), specifier.child_by_field_name("alias")
            if name is None:
                continue
            local, exported = _text(name), _text(alias if alias is not None else name)
            exports[exported] = ["from", source, local] if source is not None else local
    star = any(c.type == "*" for c in node.children)
    named = any(c.type in ("export_clause", "namespace_export") for c in node.named_children)
    if source is not None and star and not named:  # `export * from "./x"` (not `* as ns`)
        stars.append(source)


def _declared(node: Any) -> list[str]:
    if node.type in ("lexical_declaration", "variable_declaration"):
        return [
            _text(name)
            for d in node.named_children
            if d.type == "variable_declarator" and (name := d.child_by_field_name("name")) is not None
            and name.type == "identifier"
        ]  # fmt: skip
    name = node.child_by_field_name("name")
    return [_text(name)] if name is not None else []


def _anonymous(node: Any) -> str:
    """The name the lowering gives an unnamed function expression (`<anonymous:LINE>`)."""
    return f"<anonymous:{node.start_point[0] + 1}>"


def _value_name(value: Any) -> Any:
    if value.type == "identifier":
        return _text(value)
    if value.type in _FUNCTIONS or value.type == "class":
        name = value.child_by_field_name("name")
        return _text(name) if name is not None else _anonymous(value)
    found = required(value)
    return ["from", found[0], "=" if found[1] == "*" else found[1]] if found is not None else None


def _commonjs_export(node: Any, exports: dict[str, Any]) -> None:
    """`module.exports = x`, `module.exports = { a, b: c }`, `exports.a = ...`, `module.exports.a = ...`."""
    if node.type != "assignment_expression":
        return
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        return
    target = _text(left)
    if target == "module.exports":
        if right.type == "object":
            _exported_object(right, exports)
        elif right.type in _FUNCTIONS:
            name = right.child_by_field_name("name")
            exports["="] = _text(name) if name is not None and right.type != "arrow_function" else "exports"
        else:
            exports["="] = _value_name(right)
    elif (
        target.startswith(("exports.", "module.exports."))
        and target.count(".") == target.startswith("module.") + 1
    ):
        name = target.rsplit(".", 1)[1]
        exports[name] = name if right.type in _FUNCTIONS else _value_name(right)


def _exported_object(node: Any, exports: dict[str, Any]) -> None:
    for child in node.named_children:
        if child.type == "shorthand_property_identifier":
            exports[_text(child)] = _text(child)
        elif child.type == "pair":
            key, value = child.child_by_field_name("key"), child.child_by_field_name("value")
            if key is not None and value is not None and value.type == "identifier":
                exports[_text(key).strip("'\"")] = _text(value)


# -- Prisma -----------------------------------------------------------------------------------------

_MODEL = re.compile(r"^[ \t]*model[ \t]+(\w+)[ \t]*\{", re.MULTILINE)
_FIELD = re.compile(r"^[ \t]*(\w+)[ \t]+\w[^\n]*?@(?:id|unique)\b", re.MULTILINE)
_BLOCK_KEY = re.compile(r"@@(?:id|unique)\(\s*(?:fields\s*:\s*)?\[([^\]\n]*)\]")
_MAX_SCHEMA_MODELS = 2_000


def extract_prisma(data: bytes, module: str) -> FileFacts:
    """`model Account { email String @unique ... @@unique([a, b]) }` -> `prisma:Account` keys."""
    text = data.decode("utf-8", errors="replace")
    tables: dict[str, list[list[str]]] = {}
    starts = list(_MODEL.finditer(text))[:_MAX_SCHEMA_MODELS]
    for match in starts:
        end = text.find("\n}", match.end())
        body = text[match.end() : end if end != -1 else len(text)]
        key = f"prisma:{match.group(1)}"
        for field in _FIELD.finditer(body):
            merge_keys(tables, key, [field.group(1)])
        for block in _BLOCK_KEY.finditer(body):
            columns = [part.split("(")[0].strip() for part in block.group(1).split(",")]
            merge_keys(tables, key, [column for column in columns if column.isidentifier()])
    return FileFacts(module, kind="prisma", tables=tables)
