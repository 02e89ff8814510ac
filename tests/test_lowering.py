"""Python lowering (`analyzer/python/lower.py`): source in, the model's dump (`core/dump.py`) out."""

from __future__ import annotations

import ast
import textwrap

import pytest

from race_mcp.analyzer.core.dump import dump, expression
from race_mcp.analyzer.core.model import (
    Assign,
    Call,
    Collection,
    Eval,
    Function,
    If,
    Literal,
    Name,
    Opaque,
    OpaqueStatement,
    Operation,
    Return,
    Span,
    Subscript,
    Template,
    With,
)
from race_mcp.analyzer.python.lower import lower_module


def lower(source: str):  # type: ignore[no-untyped-def]
    return lower_module(textwrap.dedent(source), "m.py")


def body(source: str) -> str:
    """The dump of function `f`'s body, dedented."""
    function = lower(source).functions["f"]
    return textwrap.dedent("\n".join(dump(function).splitlines()[1 + len(function.decorators) :]))


def same(source: str, expected: str) -> None:
    assert body(source) == textwrap.dedent(expected).strip("\n")


# -- assignments -------------------------------------------------------------------------------------
def test_assignments_plain_tuple_chained_augmented_annotated() -> None:
    same(
        """
        def f(c, d):
            x = 1
            a, (b, *rest) = c
            y = z = d
            x += 2
            n: int = 3
            m: str
            s[k] = t.u = v
        """,
        """
        x = 1
        (a, (b, <starred rest>)) = c
        y = z = d
        x += 2
        n = 3
        declare m
        s[k] = t.u = v
        """,
    )


def test_walrus_binds_in_the_function_even_inside_a_comprehension() -> None:
    module = lower(
        """
        def f(rows):
            if (n := len(rows)) > 1:
                pass
            found = [hit for r in rows if (hit := r.ok)]
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        if (> (n := len(rows)) 1):
            <pass>
        found = [hit for rows if (hit := r.ok)]
        """
    ).strip("\n")
    assert module.functions["f"].locals == {"rows", "n", "hit", "found"}


def body_text(module) -> str:  # type: ignore[no-untyped-def]
    return textwrap.dedent("\n".join(dump(module.functions["f"]).splitlines()[1:]))


# -- control flow ------------------------------------------------------------------------------------
def test_if_elif_else_nests_in_orelse() -> None:
    module = lower(
        """
        def f(row, x):
            if row is None:
                return 1
            elif not x:
                return 2
            elif x == None or None != row:
                return 3
            else:
                return 4
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        if (is row None):
            return 1
        else:
            if (not x):
                return 2
            else:
                if (or (is x None) (is-not row None)):
                    return 3
                else:
                    return 4
        """
    ).strip("\n")
    first = module.functions["f"].body[0]
    assert isinstance(first, If) and isinstance(first.orelse[0], If)
    test = first.test
    assert isinstance(test, Operation) and isinstance(test.operands[1], Literal)


def test_loops_while_for_async_for_with_else() -> None:
    same(
        """
        async def f(q, items):
            while q.size() > 0:
                break
            else:
                continue
            for i, item in enumerate(items):
                pass
            else:
                done()
            async for msg in q:
                await msg.ack()
        """,
        """
        while (> q.size() 0):
            break
        else:
            continue
        for (i, item) in enumerate(items):
            <pass>
        else:
            done()
        async for msg in q:
            await msg.ack()
        """,
    )
    loop = lower("async def f(q):\n    async for m in q:\n        pass\n").functions["f"].body[0]
    assert getattr(loop, "is_async", False)


def test_match_arms_patterns_guards_and_captures() -> None:
    module = lower(
        """
        def f(command):
            match command:
                case {"action": "buy", **rest} if rest:
                    buy(rest)
                case Point(x=0) | [1, *others]:
                    pass
                case str() as text:
                    say(text)
                case _:
                    pass
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        match command:
            case <pattern 'action' 'buy'>:
                if rest:
                    buy(rest)
            case <pattern Point 0 1>:
                <pass>
            case <pattern str>:
                say(text)
            case _:
                <pass>
        """
    ).strip("\n")
    assert {"rest", "others", "text"} <= module.functions["f"].locals


def test_with_and_async_with_several_items() -> None:
    same(
        """
        async def f(lock):
            with transaction.atomic(), open(path) as handle, lock:
                handle.write("x")
            async with session.begin() as tx, pool.acquire() as (conn, other):
                await conn.execute("UPDATE t SET n = 1")
        """,
        """
        with transaction.atomic(), open(path) as handle, lock:
            handle.write('x')
        async with session.begin() as tx, pool.acquire() as (conn, other):
            await conn.execute('UPDATE t SET n = 1')
        """,
    )
    statement = lower("def f():\n    with a() as b, c:\n        pass\n").functions["f"].body[0]
    assert isinstance(statement, With) and len(statement.items) == 2
    assert statement.items[1].target is None


def test_try_except_else_finally_and_except_star() -> None:
    same(
        """
        def f():
            try:
                save()
            except (IntegrityError, db.DataError) as exc:
                log(exc)
            except ValueError:
                pass
            except:
                raise
            else:
                ok()
            finally:
                close()
            try:
                run()
            except* OSError as group:
                raise Failed() from group
        """,
        """
        try:
            save()
        except (IntegrityError, DataError) as exc:
            log(exc)
        except ValueError:
            <pass>
        except Exception:
            raise
        else:
            ok()
        finally:
            close()
        try:
            run()
        except OSError as group:
            raise Failed() from group
        """,
    )


def test_simple_statements_return_raise_break_del_assert_global_nonlocal_import() -> None:
    module = lower(
        """
        counter = 0

        def f(cache, key):
            global counter
            import json as j
            from .models import Account
            del cache[key], counter
            assert key, "needs a key"
            counter = j.dumps(Account)
            def inner():
                nonlocal key
                key = 1
            return

        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        <global>
        <import>
        <import>
        del cache[key], counter
        assert key, 'needs a key'
        counter = json.dumps(Account)
        <def f.<locals>.inner>
        return
        """
    ).strip("\n")
    f = module.functions["f"]
    assert f.globals == {"counter"}
    assert f.locals == {"cache", "key", "j", "Account", "inner"}
    assert module.functions["f.<locals>.inner"].locals == frozenset()


# -- expressions -------------------------------------------------------------------------------------
def test_calls_with_args_kwargs_and_stars_and_qualified_names() -> None:
    module = lower(
        """
        from django.db import transaction
        import redis.asyncio as aioredis
        import boto3

        def f(items, options):
            transaction.atomic(using="default")
            aioredis.Redis.from_url(url, *items, decode=True, **options)
            boto3.resource("dynamodb").Table("t").update_item(Key={"id": 1})
            self.repo.save(items)
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        django.db.transaction.atomic(using='default')
        redis.asyncio.Redis.from_url(url, *items, decode=True, **options)
        boto3.resource('dynamodb').Table('t').update_item(Key={'id': 1})
        self.repo.save(items)
        """
    ).strip("\n")
    calls = [s.value for s in module.functions["f"].body if isinstance(s, Eval)]
    assert [c.name for c in calls if isinstance(c, Call)] == [
        "django.db.transaction.atomic",
        "redis.asyncio.Redis.from_url",
        None,  # the callee is a call's attribute: no dotted name
        "self.repo.save",
    ]
    star = calls[1]
    assert isinstance(star, Call)
    assert [(a.keyword, a.star) for a in star.args] == [(None, ""), (None, "*"), ("decode", ""), (None, "**")]
    assert expression(star.positional(0) or Literal(None)) == "url"
    assert star.keyword("decode") is not None and star.method == "from_url"


def test_a_parameter_or_local_import_shadows_a_module_import() -> None:
    module = lower(
        """
        from django.db import transaction

        def f(transaction):
            transaction.atomic()

        def g():
            from sqlalchemy import text
            text("SELECT 1")
        """
    )
    assert dump(module.functions["f"].body) == "transaction.atomic()"
    assert dump(module.functions["g"].body).splitlines()[1] == "sqlalchemy.text('SELECT 1')"


def test_attribute_and_subscript_chains_keep_string_keys() -> None:
    module = lower(
        """
        def f(row, i):
            return row["balance"].amount[i][0:2]
        """
    )
    assert body_text(module) == "return row['balance'].amount[i][<slice 0 2>]"
    returned = module.functions["f"].body[0]
    assert isinstance(returned, Return)
    chain = returned.value
    keys = []
    while isinstance(chain, Subscript) or hasattr(chain, "value"):
        if isinstance(chain, Subscript):
            keys.append(chain.key)
        chain = chain.value  # type: ignore[union-attr]
    assert keys == [None, None, "balance"]


def test_f_strings_are_templates_and_string_operations_stay_operations() -> None:
    module = lower(
        """
        def f(user, width):
            key = f"rate:{user}:{user.id!r:>{width}}"
            q = "SELECT " + cols + " FROM t WHERE id = %s" % (user,)
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        key = f"rate:{user}:{<format user.id width>}"
        q = (+ (+ 'SELECT ' cols) (% ' FROM t WHERE id = %s' (user,)))
        """
    ).strip("\n")
    template = module.functions["f"].body[0]
    assert isinstance(template, Assign) and isinstance(template.value, Template)
    assert template.value.text == "rate:?:?"


def test_comprehensions_lambdas_conditionals_and_literals() -> None:
    module = lower(
        """
        def f(rows, d):
            a = [r.id for r in rows if r.ok if r.id]
            b = {k: v for k, v in d.items()}
            c = {x for x in rows}, (y for y in rows), sorted(rows, key=lambda r, n=1: r.rank + n)
            e = (1 if a else None), {**d, "k": b"v"}, [*rows]
            e = {1, 2.5}, (True,), ...
        """
    )
    assert body_text(module) == textwrap.dedent(
        """
        a = [r.id for rows if r.ok if r.id]
        b = {k: v for d.items()}
        c = ([x for rows], [y for rows], sorted(rows, key=<lambda 1 (+ r.rank n)>))
        e = ((1 if a else None), {None: <unpack d>, 'k': b'v'}, [<starred rows>])
        e = ({1, 2.5}, (True,), <ellipsis>)
        """
    ).strip("\n")
    f = module.functions["f"]
    assert f.locals == {"rows", "d", "a", "b", "c", "e"}  # no r, k, v, x, y, n
    comprehension = f.body[0]
    assert isinstance(comprehension, Assign) and isinstance(comprehension.value, Collection)
    assert len(comprehension.value.sources) == 1 and len(comprehension.value.conditions) == 2


def test_await_yield_and_chained_comparison() -> None:
    same(
        """
        async def f(r, lo, hi):
            if lo < await r.get("n") <= hi:
                yield 1
            x = yield
            yield from g()
        """,
        """
        if (and (< lo await r.get('n')) (<= await r.get('n') hi)):
            <yield 1>
        x = <yield>
        <yield-from g()>
        """,
    )


# -- definitions -------------------------------------------------------------------------------------
def test_nested_functions_classes_decorators_and_qualnames() -> None:
    module = lower(
        """
        import functools

        class Service(base.Repo, Generic[T]):
            TABLE = "accounts"
            A, B = 1, 2

            @functools.cache
            async def load(self, id: int) -> Row:
                def helper(x):
                    return x
                return helper(id)

            class Meta:
                def m(self): ...

        @app.route("/pay", methods=["POST"])
        def pay(request: flask.Request, *args: str, limit: Annotated[int, Query()] = 10, **kw):
            class Local:
                def run(self):
                    pass
        """
    )
    assert list(module.functions) == [
        "Service.load",
        "Service.load.<locals>.helper",
        "Service.Meta.m",
        "pay",
        "pay.<locals>.Local.run",
    ]
    assert list(module.classes) == ["Service", "Service.Meta", "pay.<locals>.Local"]
    service = module.classes["Service"]
    assert service.bases == ("base.Repo", "Generic")  # a subscripted base by its class
    assert set(service.attributes) == {"TABLE", "A", "B"}
    assert list(service.methods) == ["load"]
    load = module.functions["Service.load"]
    assert load.is_async and load.owner_class == "Service"
    assert load.params == ("self", "id")
    assert load.annotations == {"id": "int", "return": "Row"}
    assert [expression(d) for d in load.decorators] == ["functools.cache"]
    assert module.functions["Service.Meta.m"].owner_class == "Service.Meta"
    pay = module.functions["pay"]
    assert pay.params == ("request", "args", "limit", "kw")
    assert pay.annotations == {"request": "flask.Request", "args": "str", "limit": "Annotated[int, Query()]"}
    assert dump(pay).splitlines()[:3] == [
        "@app.route('/pay', methods=['POST'])",
        "def pay(request, args, limit, kw):",
        "    <class pay.<locals>.Local>",
    ]
    assert dump(module.classes["Service"]).splitlines() == [
        "class Service(base.Repo, Generic):",
        "    TABLE = 'accounts'",
        "    (A, B) = (1, 2)",
        "    <def Service.load functools.cache>",
        "    <class Service.Meta>",
    ]


def test_module_facts_imports_assignments_and_body() -> None:
    module = lower(
        """
        import os.path
        import numpy as np
        from . import views
        from ..core.models import Account as A, Order
        from x import *
        try:
            import ujson as json
        except ImportError:
            import json
        if TYPE_CHECKING:
            from typing import Any
        LIMIT: int = 5
        RATE = LIMIT * 2
        cache = {}
        a, b = 1, "two"
        app.include_router(router, prefix="/v1")
        """
    )
    assert module.imports == {
        "os": "os",
        "np": "numpy",
        "views": ".views",
        "A": "..core.models.Account",
        "Order": "..core.models.Order",
        "json": "json",
        "Any": "typing.Any",
    }
    assert set(module.assignments) == {"LIMIT", "RATE", "cache", "a", "b"}
    assert expression(module.assignments["b"]) == "'two'"
    assert dump(module.body).splitlines()[-1] == "app.include_router(router, prefix='/v1')"


def test_class_attributes_inside_class_body_only() -> None:
    module = lower(
        """
        class Queries:
            SELECT = "SELECT * FROM t"
            count: int = 0
            def method(self):
                self.x = 1
        """
    )
    assert set(module.classes["Queries"].attributes) == {"SELECT", "count"}
    assert module.assignments == {}


# -- spans, origins, robustness ----------------------------------------------------------------------
def test_spans_are_exact_and_origins_are_the_ast_nodes() -> None:
    source = "def f(cur):\n    row = cur.fetchone()\n    if row is None:\n        return  1\n"
    module = lower_module(source, "m.py")
    f = module.functions["f"]
    assert f.span == Span(1, 0, 4, 17)
    assign = f.body[0]
    assert isinstance(assign, Assign)
    assert assign.span == Span(2, 4, 2, 24)
    assert assign.targets[0].span == Span(2, 4, 2, 7)
    call = assign.value
    assert isinstance(call, Call) and call.span == Span(2, 10, 2, 24)
    assert isinstance(call.origin, ast.Call)
    condition = f.body[1]
    assert isinstance(condition, If) and condition.test.span == Span(3, 7, 3, 18)
    assert condition.body[0].span == Span(4, 8, 4, 17)
    assert isinstance(condition.origin, ast.If)


def test_spans_count_characters_not_utf8_bytes() -> None:
    source = 'def f():\n    s = "héllo wörld"; n = g()\n'
    f = lower_module(source, "m.py").functions["f"]
    second = f.body[1]
    assert isinstance(second, Assign)
    assert second.span == Span(2, 23, 2, 30)  # CPython's byte columns: 25 and 32
    assert source.splitlines()[1][23:30] == "n = g()"


def test_unknown_syntax_becomes_opaque_with_its_children() -> None:
    module = lower("def f(xs):\n    return [x async for x in xs]\n")
    returned = module.functions["f"].body[0]
    assert isinstance(returned, Return) and isinstance(returned.value, Collection)
    lam = lower("g = lambda a: a.save()\n").assignments["g"]
    assert isinstance(lam, Opaque) and lam.kind == "lambda"
    assert expression(lam) == "<lambda a.save()>"


def test_bulky_constant_literals_are_opaque_data() -> None:
    numbers = ", ".join(str(n) for n in range(1500))
    module = lower(f"TABLE = [{numbers}]\nSMALL = [1, 2]\n")
    assert isinstance(module.assignments["TABLE"], Opaque)
    assert isinstance(module.assignments["SMALL"], Collection)


def test_deep_expression_chains_lower_without_recursion_errors() -> None:
    source = "x = " + " + ".join(["a"] * 900) + "\n"
    module = lower_module(source, "m.py")
    assert isinstance(module.assignments["x"], Operation)


@pytest.mark.parametrize("path", [lower_module.__code__.co_filename, ast.__file__])
def test_every_function_and_statement_of_a_real_module_lowers(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    module = lower_module(source, path)
    tree = ast.parse(source)
    defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert len(module.functions) == len(defined)
    assert all(isinstance(f, Function) and f.body for f in module.functions.values())
    # module body: one model statement per top-level statement, definitions kept as opaque ones
    assert len(module.body) == len(tree.body)
    assert sum(isinstance(s, OpaqueStatement) and s.kind == "def" for s in module.body) == sum(
        isinstance(n, ast.FunctionDef) for n in tree.body
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x is not None", "(is-not x None)"),
        ("None is x", "(is x None)"),
        ("not (a and b or c)", "(not (or (and a b) c))"),
        ("-x ** 2", "(- (** x 2))"),
        ("a in b and c not in d", "(and (in a b) (not-in c d))"),
        ("f'{a}' 'b'", 'f"{a}b"'),
    ],
)
def test_operations_are_normalised(source: str, expected: str) -> None:
    assert expression(lower(f"v = {source}\n").assignments["v"]) == expected


def test_names_are_names() -> None:
    value = lower("v = w\n").assignments["v"]
    assert isinstance(value, Name) and value.id == "w"


def test_module_calls_are_the_top_level_codes_calls_innermost_first() -> None:
    module = lower(
        """
        app = FastAPI(title=name.upper())

        @app.get("/x")
        def handler(limit=default_limit()):
            inside()

        class Settings:
            value = configured()

        routes = [Route(p, h) for p, h in table()]
        app.include_router(router)
        """
    )
    assert [expression(call.func) for call in module.calls] == [
        "name.upper",
        "FastAPI",
        "app.get",
        "default_limit",
        "table",
        "Route",
        "app.include_router",
    ]
