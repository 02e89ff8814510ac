"""RC701: an existence check, then a create on the same path, becomes one exclusive create.

Two shapes are rewritten, the ones where the operating system offers the atomic test-and-create:

- `if exists(p): <reject>` then `open(p, "w")` (or `p.open("wb")`) becomes `open(p, "x")` in a
  `try`, and `except FileExistsError:` runs the rejecting branch the check ran;
- `if exists(p): <reject>` then a `mkdir`/`makedirs` becomes the same call with `exist_ok=False`
  in a `try`; `if not isdir(p): makedirs(p)` becomes `makedirs(p, exist_ok=True)`.

Renames, symlinks, copies and appends have no exclusive mode that keeps their meaning: declined.
"""

from __future__ import annotations

import libcst as cst

from ..findings import Finding
from ._fixers import Fixed, Guidance, register
from ._locate import Located, block_of, exit_statement
from ._statements import leading_lines_of

__all__ = ["fix_check_then_create"]

_CHECK_FUNCTIONS = {"exists", "isfile", "isdir", "lexists"}
_CHECK_METHODS = {"exists", "is_file", "is_dir"}
_DECLINE = (
    "No exclusive-create rewrite for this shape; create the file with `os.open(path, "
    "os.O_CREAT | os.O_EXCL | os.O_WRONLY)` (or `open(path, 'x')`) and treat FileExistsError as "
    "'already exists', or write to a temporary file and `os.link`/`os.replace` it into place."
)


@register("RC701")
def fix_check_then_create(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """Replace the check and the create with an exclusive create that fails if the path exists."""
    located = Located(module)
    function = located.function(finding)
    check_line = next((s.line for s in finding.evidence if s.role == "check"), None)
    write_line = next((s.line for s in finding.evidence if s.role == "write"), None)
    if function is None or check_line is None or write_line is None:
        return Guidance(_DECLINE)
    check = located.statement_at(function, check_line)
    write = located.statement_at(function, write_line)
    if not isinstance(check, cst.If) or check.orelse is not None or write is None:
        return Guidance(_DECLINE)
    test = _existence_test(check.test)
    if test is None:
        return Guidance(_DECLINE)
    negated, path = test
    if negated:
        rewritten = _create_if_absent(module, check, write, path)
    else:
        rewritten = _reject_if_present(module, function, check, write, path)
    if rewritten is None:
        return Guidance(_DECLINE)
    return Fixed(
        module=rewritten,
        description=f"Create `{path}` exclusively (the OS fails with FileExistsError if it exists) "
        "instead of checking first.",
        note="A FileExistsError raised inside the `try` block is now answered like the old check.",
    )


def _existence_test(test: cst.BaseExpression) -> tuple[bool, str] | None:
    """`(negated, path code)` for `os.path.exists(p)`, `p.exists()` and their `not` forms."""
    negated = False
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        negated, test = True, test.expression
    if not isinstance(test, cst.Call) or not isinstance(test.func, cst.Attribute):
        return None
    method = test.func.attr.value
    owner = cst.Module([]).code_for_node(test.func.value)
    if owner == "os.path" and method in _CHECK_FUNCTIONS and len(test.args) == 1:
        return negated, cst.Module([]).code_for_node(test.args[0].value)
    if method in _CHECK_METHODS and not test.args:
        return negated, owner
    return None


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _exclusive(write: cst.BaseStatement, path: str, *, present_ok: bool) -> cst.BaseStatement | None:
    """The create in `write`, made exclusive (or, for directories with `present_ok`, idempotent)."""
    if isinstance(write, cst.With) and len(write.items) == 1:
        call = write.items[0].item
        if isinstance(call, cst.Call):
            opened = _exclusive_open(call, path)
            if opened is not None:
                return write.with_changes(items=[write.items[0].with_changes(item=opened)])
        return None
    if isinstance(write, cst.SimpleStatementLine) and len(write.body) == 1:
        small = write.body[0]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            made = _mkdir(small.value, path, present_ok=present_ok)
            if made is not None:
                return write.with_changes(body=[small.with_changes(value=made)])
    return None


def _exclusive_open(call: cst.Call, path: str) -> cst.Call | None:
    """`open(p, "w")` / `p.open("wb")` with mode `x`; None for any other call or mode."""
    func = _code(call.func)
    if func == "open" and call.args and _code(call.args[0].value) == path:
        mode_index = 1
    elif func == f"{path}.open":
        mode_index = 0
    else:
        return None
    args = list(call.args)
    for index, arg in enumerate(args):
        is_mode = (arg.keyword is None and index == mode_index) or (
            arg.keyword is not None and arg.keyword.value == "mode"
        )
        if is_mode:
            mode = arg.value
            if not isinstance(mode, cst.SimpleString) or not isinstance(mode.evaluated_value, str):
                return None
            text = mode.evaluated_value
            if not text.startswith("w"):
                return None
            args[index] = arg.with_changes(
                value=cst.SimpleString(mode.prefix + mode.quote + "x" + text[1:] + mode.quote)
            )
            return call.with_changes(args=args)
    return None


def _mkdir(call: cst.Call, path: str, *, present_ok: bool) -> cst.Call | None:
    func = _code(call.func)
    is_os = func in {"os.mkdir", "os.makedirs"} and call.args and _code(call.args[0].value) == path
    is_path = func == f"{path}.mkdir"
    if not (is_os or is_path):
        return None
    if func == "os.mkdir" and present_ok:
        return None  # os.mkdir has no exist_ok; the caller wraps it in try/except instead
    if func == "os.mkdir":
        return call
    value = cst.Name("True" if present_ok else "False")
    args = [arg for arg in call.args if not (arg.keyword and arg.keyword.value == "exist_ok")]
    keyword = cst.Arg(
        value=value,
        keyword=cst.Name("exist_ok"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, keyword])


def _try_except_exists(statement: cst.BaseStatement, handler_body: cst.BaseSuite) -> cst.Try:
    return cst.Try(
        body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=[])]),
        handlers=[cst.ExceptHandler(body=handler_body, type=cst.Name("FileExistsError"))],
        leading_lines=leading_lines_of(statement),
    )


def _pass_block() -> cst.IndentedBlock:
    return cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Pass()])])


def _create_if_absent(
    module: cst.Module, check: cst.If, write: cst.BaseStatement, path: str
) -> cst.Module | None:
    """`if not exists(p): create(p)` -> an idempotent or exclusive create without the check."""
    body = check.body
    if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1 or body.body[0] is not write:
        return None
    idempotent = _exclusive(write, path, present_ok=True)
    if idempotent is not None and isinstance(write, cst.SimpleStatementLine):
        replacement: cst.BaseStatement = idempotent.with_changes(leading_lines=check.leading_lines)
    else:
        exclusive = _exclusive(write, path, present_ok=False)
        if exclusive is None:
            return None
        replacement = _try_except_exists(
            exclusive.with_changes(leading_lines=check.leading_lines), _pass_block()
        )
    result = module.deep_replace(check, replacement)
    return result if isinstance(result, cst.Module) else None


def _reject_if_present(
    module: cst.Module, function: cst.FunctionDef, check: cst.If, write: cst.BaseStatement, path: str
) -> cst.Module | None:
    """`if exists(p): reject` ... `create(p)` -> `try: create(p) exclusively` / `except: reject`."""
    if exit_statement(check.body) is None:
        return None
    block = block_of(function, check)
    if block is None:
        return None
    statements = list(block.body)
    first = next(i for i, s in enumerate(statements) if s is check)
    last = next((i for i, s in enumerate(statements) if s is write), None)
    if last is None or last <= first or not all(_harmless(s) for s in statements[first + 1 : last]):
        return None
    exclusive = _exclusive(write, path, present_ok=False)
    if exclusive is None:
        return None
    statements[last] = _try_except_exists(exclusive, check.body)
    follower = statements[first + 1]
    statements[first + 1] = follower.with_changes(
        leading_lines=[*check.leading_lines, *leading_lines_of(follower)]
    )
    del statements[first]
    result = module.deep_replace(block, block.with_changes(body=statements))
    return result if isinstance(result, cst.Module) else None


def _harmless(statement: cst.BaseStatement) -> bool:
    """Statements that may move before the create: plain assignments (reading the request, say)."""
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Assign, cst.AnnAssign)) for small in statement.body
    )
