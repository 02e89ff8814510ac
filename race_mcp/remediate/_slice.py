"""The part of a module one fix needs, and the fix's edit carried back into the whole module.

Patching a file with n racy handlers re-parsed, re-transformed and re-analysed the whole file for
each of them: n fixes of O(n) work each, quadratic (80 handlers took 103 s). A fixer only reads the
function it patches, what that function calls, and module-level declarations (imports, state,
locks, schema strings), so it runs on a *slice*: every top-level statement that is not a function
or class, plus the function (or its class) and the functions and classes it names, transitively.
The fixer's edit to the slice is then applied to the same lines of the whole module.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass

from ..analyzer._limits import parse_python

__all__ = ["Slice", "def_lines", "module_names", "slice_for", "splice", "split_lines"]

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def split_lines(text: str) -> list[str]:
    """Lines with their ends, broken where Python breaks them (not at form feeds or U+2028)."""
    return _LINE.findall(text)


@dataclass(frozen=True)
class Slice:
    """The slice's text, and for each of its lines the index of that line in the whole module."""

    text: str
    lines: tuple[int, ...]


def _first_line(statement: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(d.lineno for d in decorators)])


def def_lines(source: str) -> dict[str, int]:
    """`name` and `Class.method` → the line of its `def` (the anchor for comparing finding lines)."""
    try:
        tree = parse_python(source, "<patch>")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return {}
    lines: dict[str, int] = {}
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            lines[statement.name] = statement.lineno
        elif isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines[f"{statement.name}.{item.name}"] = item.lineno
    return lines


def module_names(source: str) -> set[str]:
    """The names `source` binds at module level (assignments, definitions, imports)."""
    try:
        body = parse_python(source, "<patch>").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    names: set[str] = set()
    for statement in body:
        if isinstance(statement, _DEFINITIONS):
            names.add(statement.name)
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
        else:
            names.update(_bound_names(statement) or ())
    return names


def _bound_names(statement: ast.stmt) -> set[str] | None:
    """The names a module-level `x = ...` binds; None for any other kind of statement."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    else:
        return None
    names = {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names if all(isinstance(t, ast.Name | ast.Tuple | ast.List) for t in targets) else None


def _is_text(statement: ast.stmt) -> bool:
    """`SCHEMA = "CREATE TABLE ..."`: the SQL checks and fixers read every string of the module."""
    value = getattr(statement, "value", None)
    return isinstance(value, ast.Constant) and isinstance(value.value, str)


def slice_for(source: str, function: str) -> Slice | None:
    """The slice for a fix in `function` (`name` or `Class.method`); None if it is not top-level.

    Kept: the function (or its class) and the functions and classes it names, transitively;
    imports, string constants and every other kind of module-level statement (route
    registrations, `if` blocks); the module-level assignments anything kept names. Left out: other
    functions and classes, and assignments nothing kept names (another handler's state).
    """
    try:
        body = parse_python(source, "<patch>").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    binders: dict[str, list[int]] = {}
    keep: set[int] = set()
    for i, statement in enumerate(body):
        if isinstance(statement, _DEFINITIONS):
            binders.setdefault(statement.name, []).append(i)
        elif (names := _bound_names(statement)) is not None and not _is_text(statement):
            for name in names:
                binders.setdefault(name, []).append(i)
        else:
            keep.add(i)
    start = [i for i in binders.get(function.split(".")[0], []) if isinstance(body[i], _DEFINITIONS)]
    if not start:
        return None
    keep.update(start)
    pending = sorted(keep)
    while pending:  # what the kept statements name, transitively
        statement = body[pending.pop()]
        # Only functions and classes pull in other functions and classes: a route table or an
        # `add_routes` call names every handler, and would make each slice the whole module.
        calls = isinstance(statement, _DEFINITIONS)
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                for i in binders.get(node.id, ()):
                    if i not in keep and (calls or not isinstance(body[i], _DEFINITIONS)):
                        keep.add(i)
                        pending.append(i)
    lines = split_lines(source)
    indices: list[int] = []
    for i in sorted(keep):
        statement = body[i]
        assert statement.end_lineno is not None
        # From the end of the statement before: blank lines and comments stay with the statement
        # they precede, so a fixer lays out its insertions as it would in the whole module.
        previous = body[i - 1].end_lineno if i > 0 else 0
        first = min(previous or 0, _first_line(statement) - 1)
        if indices and first <= indices[-1]:  # two statements on one line
            first = indices[-1] + 1
        indices.extend(range(first, statement.end_lineno))
    return Slice("".join(lines[i] for i in indices), tuple(indices))


def splice(source: str, part: Slice, patched: str) -> str | None:
    """`source` with the change from `part.text` to `patched` made to the same lines; None when a
    change spans lines that are not neighbours in `source` (then the caller patches the whole)."""
    before, after = split_lines(part.text), split_lines(patched)
    result = split_lines(source)
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(opcodes):  # from the end, so earlier indices stay valid
        if tag == "equal":
            continue
        if i1 < i2:
            first, last = part.lines[i1], part.lines[i2 - 1]
            if last - first != i2 - 1 - i1:
                return None
            result[first : last + 1] = after[j1:j2]
        else:  # an insertion goes after the line it follows in the slice
            # Slid up over equal lines (blank ones, mostly), so it follows the statement it was
            # made for rather than a gap that the slice joined to another statement.
            while i1 > 0 and j1 > 0 and before[i1 - 1] == after[j2 - 1]:
                i1, j1, j2 = i1 - 1, j1 - 1, j2 - 1
            at = part.lines[i1 - 1] + 1 if i1 > 0 else part.lines[0]
            result[at:at] = after[j1:j2]
    return "".join(result)
