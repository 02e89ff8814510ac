"""RC501/RC503: Redis check-then-set and counter-then-expire made atomic on the server.

- RC501 where the check is existence (`if r.get(k) [is not None]: <reject>` then `r.set(k, v)`):
  one `SET k v NX` whose failure runs the rejecting branch.
- RC503 (`n = r.incr(k)` then `r.expire(k, ttl)`, bare or under `if n == 1:`): the key is created
  with its TTL first by `SET k 0 EX ttl NX`, then incremented; the separate EXPIRE goes.

Everything else (a value computed from the GET, RC502 rate limiters whose limit must move onto the
INCR's result) is declined with guidance: a rewrite there changes what the handler decides.
"""

from __future__ import annotations

import libcst as cst

from ..findings import Finding
from ._fixers import Fixed, Guidance, register
from ._locate import Located, block_of, exit_statement
from ._statements import leading_lines_of

__all__ = ["fix_redis_check_then_set", "fix_redis_incr_then_expire"]


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _redis_call(expression: cst.BaseExpression, method: str) -> tuple[cst.Call, bool] | None:
    """`(call, awaited)` when `expression` is `[await] <client>.<method>(...)`."""
    awaited = isinstance(expression, cst.Await)
    if isinstance(expression, cst.Await):
        expression = expression.expression
    if (
        isinstance(expression, cst.Call)
        and isinstance(expression.func, cst.Attribute)
        and expression.func.attr.value == method
    ):
        return expression, awaited
    return None


def _only_small(statement: cst.BaseStatement | None) -> cst.BaseSmallStatement | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        return statement.body[0]
    return None


def _keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    no_space = cst.SimpleWhitespace("")
    return cst.Arg(
        keyword=cst.Name(name),
        value=value,
        equal=cst.AssignEqual(whitespace_before=no_space, whitespace_after=no_space),
    )


def _append_args(call: cst.Call, *extra: cst.Arg) -> cst.Call:
    args = list(call.args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    joined = [
        arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for arg in extra[:-1]
    ]
    return call.with_changes(args=[*args, *joined, extra[-1]])


_RC501_GUIDANCE = (
    "The value written is computed from the value read, so one command cannot replace them: use "
    "WATCH/MULTI (`pipeline()` with `watch(key)`, retried on WatchError), a Lua script, or an "
    "atomic command (INCRBY/DECRBY/HINCRBY) and check its result."
)


@register("RC501")
def fix_redis_check_then_set(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """`if get(k): reject` + `set(k, v)` -> `if not set(k, v, nx=True): reject`."""
    located = Located(module)
    function = located.function(finding)
    check_line = next((s.line for s in finding.evidence if s.role == "check"), None)
    write_line = next((s.line for s in finding.evidence if s.role == "write"), None)
    if function is None or check_line is None or write_line is None:
        return Guidance(_RC501_GUIDANCE)
    check = located.statement_at(function, check_line)
    write = located.statement_at(function, write_line)
    setter = _only_small(write)
    if not isinstance(check, cst.If) or check.orelse is not None or exit_statement(check.body) is None:
        return Guidance(_RC501_GUIDANCE)
    key = _existence_key(check.test)
    if key is None or not isinstance(setter, cst.Expr):
        return Guidance(_RC501_GUIDANCE)
    found = _redis_call(setter.value, "set")
    if found is None or not found[0].args or _code(found[0].args[0].value) != key:
        return Guidance(_RC501_GUIDANCE)
    call, awaited = found
    if any(arg.keyword is not None and arg.keyword.value in {"nx", "xx", "get"} for arg in call.args):
        return Guidance(_RC501_GUIDANCE)
    block = block_of(function, check)
    if block is None or write is None:
        return Guidance(_RC501_GUIDANCE)
    statements = list(block.body)
    index = next(i for i, s in enumerate(statements) if s is check)
    if index + 1 >= len(statements) or statements[index + 1] is not write:
        return Guidance(_RC501_GUIDANCE)
    setnx: cst.BaseExpression = _append_args(call, _keyword("nx", cst.Name("True")))
    if awaited:
        setnx = cst.Await(expression=setnx)
    guarded = check.with_changes(test=cst.UnaryOperation(operator=cst.Not(), expression=setnx))
    statements[index : index + 2] = [guarded]
    result = module.deep_replace(block, block.with_changes(body=statements))
    assert isinstance(result, cst.Module)
    return Fixed(
        module=result,
        description=f"Set `{key}` with NX: the existence check and the write become one atomic command.",
        note="An existing key with an empty value used to pass the check; with NX it is rejected.",
    )


def _existence_key(test: cst.BaseExpression) -> str | None:
    """The key of `[await] r.get(k)` or `[await] r.get(k) is not None` as an if-test."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        if not (isinstance(target.operator, cst.IsNot) and _code(target.comparator) == "None"):
            return None
        test = test.left
    found = _redis_call(test, "get")
    if found is None or len(found[0].args) != 1:
        return None
    return _code(found[0].args[0].value)


_RC503_GUIDANCE = (
    "Create the key with its TTL before incrementing it (`set(key, 0, ex=ttl, nx=True)` then "
    "`incr(key)`), or send INCR and EXPIRE in one `pipeline(transaction=True)` (MULTI/EXEC)."
)


@register("RC503")
def fix_redis_incr_then_expire(module: cst.Module, finding: Finding) -> Fixed | Guidance:
    """`n = r.incr(k)` + `r.expire(k, ttl)` -> `r.set(k, 0, ex=ttl, nx=True)` + `n = r.incr(k)`."""
    located = Located(module)
    function = located.function(finding)
    if function is None:
        return Guidance(_RC503_GUIDANCE)
    counter = located.statement_at(function, finding.line)
    small = _only_small(counter)
    if counter is None or not isinstance(small, (cst.Assign, cst.Expr)):
        return Guidance(_RC503_GUIDANCE)
    incr = _redis_call(small.value, "incr") or _redis_call(small.value, "incrby")
    block = block_of(function, counter)
    if incr is None or not incr[0].args or block is None:
        return Guidance(_RC503_GUIDANCE)
    call, awaited = incr
    key = _code(call.args[0].value)
    statements = list(block.body)
    index = next(i for i, s in enumerate(statements) if s is counter)
    follower = statements[index + 1] if index + 1 < len(statements) else None
    expire = _expire_after(follower, key, small)
    if expire is None or follower is None:
        return Guidance(_RC503_GUIDANCE)
    ttl, sliding = expire
    assert isinstance(call.func, cst.Attribute)
    client = call.func.value
    if f"{_code(client)}.execute(" in _code(function):
        return Guidance(_RC503_GUIDANCE)  # a pipeline: one more queued command shifts execute()'s results
    init = f"{'await ' if awaited else ''}{_code(client)}.set({key}, 0, ex={_code(ttl)}, nx=True)\n"
    create = cst.parse_statement(init, config=module.config_for_parsing)
    statements[index : index + 2] = [
        create.with_changes(leading_lines=leading_lines_of(counter)),
        counter.with_changes(leading_lines=[]),
    ]
    result = module.deep_replace(block, block.with_changes(body=statements))
    assert isinstance(result, cst.Module)
    note = (
        "The old code pushed the expiry back on every increment (a sliding window); the key now "
        "expires a fixed time after it was created."
        if sliding
        else ""
    )
    return Fixed(
        module=result,
        description=f"Create `{key}` with its TTL (SET NX EX) before incrementing it, not EXPIRE after.",
        safety="unsafe" if sliding else "safe",
        note=note,
    )


def _expire_after(
    follower: cst.BaseStatement | None, key: str, counter: cst.Assign | cst.Expr
) -> tuple[cst.BaseExpression, bool] | None:
    """`(ttl, sliding)` for the EXPIRE right after the INCR: bare (sliding) or under `if n == 1:`."""
    if isinstance(follower, cst.If) and follower.orelse is None and isinstance(counter, cst.Assign):
        target = _code(counter.targets[0].target)
        if _code(follower.test).replace(" ", "") != f"{target}==1":
            return None
        body = follower.body
        if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
            return None
        found = _expire_call(body.body[0], key)
        return (found[0], False) if found is not None else None
    found = _expire_call(follower, key)
    if found is None:
        return None
    ttl, first_only = found
    return ttl, not first_only


def _expire_call(statement: cst.BaseStatement | None, key: str) -> tuple[cst.BaseExpression, bool] | None:
    """`(ttl, nx)` for `[await] r.expire(key, ttl[, nx=True])` as a statement."""
    small = _only_small(statement)
    if not isinstance(small, cst.Expr):
        return None
    found = _redis_call(small.value, "expire")
    if found is None:
        return None
    args = found[0].args
    positional = [arg for arg in args if arg.keyword is None]
    keywords = {arg.keyword.value: _code(arg.value) for arg in args if arg.keyword is not None}
    if len(positional) != 2 or _code(positional[0].value) != key or set(keywords) - {"nx"}:
        return None
    return positional[1].value, keywords.get("nx") == "True"
