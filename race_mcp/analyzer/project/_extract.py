"""Per-file facts from the standard library's `ast`: one parse, one walk, nothing kept of the tree.

`extract_python(data, module, is_package)` reads imports (absolute and relative, resolved against the
module), top-level functions and classes (methods, bases, model fields via `_declarations`), each
function's call sites with the `with` contexts held around them, its yields, returns and decorators,
and uniqueness declared by calls anywhere in the file (migrations, `Table(...)`, `create_index`).
"""

from __future__ import annotations

import ast
from importlib.util import decode_source

from .._limits import parse_python
from . import _declarations as decl
from ._columns import WRITE_CALLS, column_writes, edited_columns, returned_model
from ._draws import return_draws
from ._facts import ClassFacts, FileFacts, FunctionFacts
from ._sql import sql_unique_keys

__all__ = ["dotted", "extract_python", "extract_sql", "is_command"]

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_LOCK_TYPES = frozenset({"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition"})


def extract_sql(data: bytes, module: str) -> FileFacts:
    facts = FileFacts(module=module, kind="sql")
    text = data.decode("utf-8", errors="replace")
    for table, keys in sql_unique_keys(text).items():
        facts.tables[f"sql:{table}"] = keys
    return facts


def extract_python(data: bytes, module: str, is_package: bool) -> FileFacts:
    """Facts of one module; source that does not parse yields `broken` facts (nothing else)."""
    facts = FileFacts(module=module)
    try:
        tree = parse_python(decode_source(data), module)  # 3.12+ syntax read on 3.11 too
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        facts.broken = True
        return facts
    try:
        extractor = _Extractor(facts, module, is_package, wants_sql=b"unique" in data.lower())
        extractor.source_lines = data.split(b"\n")
        extractor.run(tree)
    except RecursionError:
        return FileFacts(module=module, broken=True)
    return facts


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names, `a.b()` for a call of one; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head is not None else None
    if isinstance(node, ast.Call):
        head = dotted(node.func)
        return f"{head}()" if head is not None and not head.endswith(")") else None
    return None


class _Extractor:
    def __init__(self, facts: FileFacts, module: str, is_package: bool, wants_sql: bool) -> None:
        self.facts = facts
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.wants_sql = wants_sql
        self.references: set[str] = set()
        self.source_lines: list[bytes] = []  # the file's lines: which functions may write by a call

    # -- the module -------------------------------------------------------------------------------

    def run(self, tree: ast.Module) -> None:
        top = list(_top_level(tree.body))
        for node in top:
            self._bind(node)
        for node in top:
            if isinstance(node, _FUNCTIONS):
                self._function(node, node.name, None)
            elif isinstance(node, ast.ClassDef):
                self._class(node)
            else:
                self._scan(node, _Scope(None))
        self.facts.references = sorted(self.references)
        self.facts.edits = edited_columns(top)

    def _bind(self, node: ast.stmt) -> None:
        """Top-level names: imports, definitions, assignments (a lock, a declarative base)."""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import(node, override=True)
        elif isinstance(node, _FUNCTIONS):
            self.facts.defs[node.name] = "function"
        elif isinstance(node, ast.ClassDef):
            self.facts.defs[node.name] = "class"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self.facts.defs.setdefault(target.id, "var")
                    if isinstance(node.value, ast.Call) and _last(dotted(node.value.func)) in _LOCK_TYPES:
                        self.facts.locks.append(target.id)
                    elif (
                        isinstance(node.value, ast.Call)
                        and _last(klass := dotted(node.value.func))[:1].isupper()
                    ):
                        self.facts.instances[target.id] = klass or ""

    def _import(self, node: ast.Import | ast.ImportFrom, *, override: bool) -> None:
        """Record an import; one inside a function (Django's way round import cycles) only binds a
        name the module does not bind itself."""
        imports = self.facts.imports
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.partition(".")[0]
                target = alias.name if alias.asname else local
                if override or local not in imports:
                    imports[local] = target
            return
        base = self._from_module(node)
        if base is None:
            return
        for alias in node.names:
            if alias.name == "*":
                if base not in self.facts.star_imports:
                    self.facts.star_imports.append(base)
                continue
            local = alias.asname or alias.name
            if override or (local not in imports and local not in self.facts.defs):
                imports[local] = f"{base}.{alias.name}" if base else alias.name

    def _from_module(self, node: ast.ImportFrom) -> str | None:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".") if self.package else []
        if node.level - 1 > len(parts):
            return None  # beyond the top-level package: not importable
        base = parts[: len(parts) - (node.level - 1)]
        if node.module:
            base.append(node.module)
        return ".".join(base)

    def qualify(self, name: str | None) -> str | None:
        """`name` with its head resolved through this module's imports and definitions."""
        if name is None:
            return None
        head, dot, rest = name.partition(".")
        head_bare = head.rstrip("()")
        suffix = head[len(head_bare) :]
        if head_bare in self.facts.imports:
            return f"{self.facts.imports[head_bare]}{suffix}{dot}{rest}"
        if head_bare in self.facts.defs:
            return f"{self.module}.{name}" if self.module else name
        return name

    # -- classes ----------------------------------------------------------------------------------

    def _class(self, node: ast.ClassDef) -> None:
        facts = ClassFacts(line=node.lineno)
        facts.bases = [q for base in node.bases if (q := self.qualify(dotted(base))) is not None]
        scope = _Scope(None)
        for statement in node.body:
            if isinstance(statement, _FUNCTIONS):
                facts.methods[statement.name] = statement.lineno
                self._function(statement, f"{node.name}.{statement.name}", node.name)
            elif isinstance(statement, ast.ClassDef) and statement.name == "Meta":
                decl.read_meta(statement, facts)
            else:
                decl.read_class_statement(statement, facts, self.qualify)
                self._scan(statement, scope)
        self.facts.classes[node.name] = facts

    # -- functions --------------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, local: str, owner: str | None) -> None:
        facts = FunctionFacts(line=node.lineno, owner=owner, end=node.end_lineno or node.lineno)
        for decorator in node.decorator_list:
            name = self.qualify(dotted(decorator))
            if name is not None:
                facts.decorators.append(name)
            self._scan_expr(decorator, _Scope(None))
        scope = _Scope(facts)
        for statement in node.body:
            self._scan(statement, scope)
        facts.draws = return_draws(node, self.qualify)
        source = b"\n".join(self.source_lines[node.lineno - 1 : facts.end])
        writing = WRITE_CALLS.search(source) is not None

        def qualified(name: str) -> str:
            return self.qualify(name) or name

        facts.column_values = column_writes(node, owner, qualified, calls=writing)
        facts.returns_model = returned_model(node)
        self.facts.functions[local] = facts

    def _scan(self, node: ast.stmt, scope: _Scope) -> None:
        """Walk a statement: `with` items open contexts, nested functions are scanned as part of
        the function that defines them (their contexts are also `inner_contexts`)."""
        if isinstance(node, (ast.With, ast.AsyncWith)):
            opened = []
            for item in node.items:
                self._scan_expr(item.context_expr, scope)
                name = self.qualify(dotted(item.context_expr))
                if name is not None and scope.function is not None:
                    opened.append(scope.open(name))
                if item.optional_vars is not None:
                    self._scan_expr(item.optional_vars, scope)
            scope.held.extend(opened)
            for statement in node.body:
                self._scan(statement, scope)
            del scope.held[len(scope.held) - len(opened) :]
            return
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            for decorator in node.decorator_list:
                self._scan_expr(decorator, scope)
            # Sync only: an async `@bot.command()` is a chat bot's handler, serving users concurrently.
            command = isinstance(node, ast.FunctionDef) and any(
                is_command(dotted(d)) for d in node.decorator_list
            )
            scope.depth += 1
            scope.commands += command
            for statement in node.body:
                self._scan(statement, scope)
            scope.commands -= command
            scope.depth -= 1
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import(node, override=False)
            return
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and scope.function is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            scope.self_attrs.update(
                target.attr
                for target in targets
                if isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            )
        if isinstance(node, ast.Return) and node.value is not None and scope.function is not None:
            returned = node.value.func if isinstance(node.value, ast.Call) else node.value
            name = self.qualify(dotted(returned))
            if name is not None and scope.depth == 0:
                scope.function.returns.append(name)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self._scan(child, scope)
            elif isinstance(child, ast.expr):
                self._scan_expr(child, scope)
            elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                for statement in child.body:
                    self._scan(statement, scope)

    def _scan_expr(self, root: ast.expr, scope: _Scope) -> None:
        """Calls (sites, declarations), yields, and names used as values (`references`)."""
        pending: list[ast.AST] = [root]
        function = scope.function
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Call):
                self._call(node, scope)
                func = node.func
                if isinstance(func, ast.Attribute):
                    pending.append(func.value)
                elif not isinstance(func, ast.Name):
                    pending.append(func)
                pending.extend(node.args)
                pending.extend(keyword.value for keyword in node.keywords)
                continue
            if isinstance(node, ast.Name):
                self.references.add(node.id)
                continue
            if isinstance(node, ast.Attribute):
                self.references.add(node.attr)
                pending.append(node.value)
                continue
            if isinstance(node, ast.Constant):
                if self.wants_sql and isinstance(node.value, str) and len(node.value) > 12:
                    self._sql_string(node.value)
                continue
            if isinstance(node, (ast.Yield, ast.YieldFrom)) and function is not None and scope.depth == 0:
                function.yields.append(tuple(scope.held))
            pending.extend(ast.iter_child_nodes(node))

    def _call(self, node: ast.Call, scope: _Scope) -> None:
        name = dotted(node.func)
        decl.read_call(node, self.module, self.facts.tables)
        function = scope.function
        if function is None or name is None:
            return
        if name.endswith(".acquire"):
            function.acquires.append(self.qualify(name[: -len(".acquire")]) or name)
        qualified = self.qualify(name)
        head = name.partition(".")[0]
        if qualified is not None and (qualified != name or head in ("self", "cls")):
            function.calls.append((qualified, node.lineno, tuple(scope.held)))
        if scope.commands:
            function.command_lines.append(node.lineno)
        written = _field_write(qualified or name, node, scope.self_attrs)
        if written is not None:
            function.field_writes.append(written)

    def _sql_string(self, text: str) -> None:
        lowered = text.lower()
        if "unique" in lowered or "primary key" in lowered:
            for table, keys in sql_unique_keys(text).items():
                for columns in keys:
                    decl.add_key(self.facts.tables, f"sql:{table}", columns)


class _Scope:
    """Where a scan is: the function whose facts it fills, contexts held, nested-function depth."""

    __slots__ = ("commands", "depth", "function", "held", "self_attrs")

    def __init__(self, function: FunctionFacts | None) -> None:
        self.function = function
        self.held: list[int] = []
        self.depth = 0
        self.self_attrs: set[str] = set()  # `self.a = ..` seen so far (a later `self.save()` writes them)
        self.commands = 0  # nested command-line commands the scan is inside

    def open(self, context: str) -> int:
        assert self.function is not None
        self.function.contexts.append(context)
        if self.depth:
            self.function.inner_contexts.append(context)
        return len(self.function.contexts) - 1


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module statements, looking into top-level `if` / `try` (TYPE_CHECKING, optional imports)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            out.extend(_top_level(node.body))
            out.extend(_top_level(node.orelse))
        elif isinstance(node, ast.Try):
            out.extend(_top_level(node.body))
            for handler in node.handlers:
                out.extend(_top_level(handler.body))
            out.extend(_top_level(node.orelse))
            out.extend(_top_level(node.finalbody))
        else:
            out.append(node)
    return out


def _last(name: str | None) -> str:
    return (name or "").rstrip("()").rpartition(".")[2]


def is_command(decorator: str | None) -> bool:
    """A command-line command's decorator: click's and typer's `@x.command()`, Flask's
    `@app.cli.command("name")`, Flask-Script's `@manager.command`."""
    return decorator is not None and decorator.removesuffix("()").rpartition(".")[2] == "command"


_MANAGER_PARTS = (".objects.", "._default_manager.", "._base_manager.")


def _field_write(name: str, node: ast.Call, self_attrs: set[str]) -> tuple[str, list[str]] | None:
    """The columns a call writes by name: `Model.objects.filter(..).update(a=.., b=..)` gives
    (`Model`, [a, b]); `self.save(update_fields=[..])` the listed ones, a full `self.save()` the
    attributes the function set on self before it. None for any other call."""
    if name.endswith(".update") and (found := next((p for p in _MANAGER_PARTS if p in name), None)):
        columns = sorted({keyword.arg for keyword in node.keywords if keyword.arg})
        return (name.partition(found)[0], columns) if columns else None
    if name != "self.save":
        return None
    listed = next((k.value for k in node.keywords if k.arg == "update_fields"), None)
    if isinstance(listed, (ast.List, ast.Tuple, ast.Set)):
        columns = sorted(
            {e.value for e in listed.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        )
    elif listed is None:
        columns = sorted(self_attrs)
    else:
        return None
    return ("self", columns) if columns else None
