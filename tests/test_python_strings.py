"""String values of model expressions (`analyzer/python/strings.py`): SQL texts, keys, routes."""

from __future__ import annotations

import textwrap

from race_mcp.analyzer.core.model import Assign, Call, Eval, Expr, Return
from race_mcp.analyzer.python.lower import lower_module
from race_mcp.analyzer.python.strings import function_strings, string_value

SOURCE = textwrap.dedent(
    """
    from sqlalchemy import text
    from psycopg import sql
    import textwrap

    TABLE = "accounts"
    SELECT = "SELECT balance FROM " + TABLE
    LOOP_A = LOOP_B
    LOOP_B = LOOP_A

    class Base:
        UPDATE = "UPDATE accounts SET balance = %s"

    class Queries(Base):
        SELECT = f"SELECT * FROM {TABLE} WHERE id = %s"

        def run(self, cur, user):
            cur.execute(self.SELECT)
            cur.execute(self.UPDATE)
            cur.execute(Queries.SELECT)

    def f(cur, user, extra):
        query = "SELECT * FROM orders"
        if extra:
            query += " WHERE paid"
        cur.execute(query)
        cur.execute(text("DELETE FROM t WHERE id = :id"))
        cur.execute(sql.SQL("INSERT INTO t VALUES (%s)"))
        cur.execute(textwrap.dedent('''
            UPDATE t SET n = n + 1'''))
        cur.execute("SELECT %s" % user)
        cur.execute("SELECT {} FROM t".format(user))
        cur.execute(f"rate:{user}:count")
        cur.execute(SELECT + " WHERE " + extra)
        cur.execute(unknown())
        cur.execute(LOOP_A)
        return 42
    """
)


def _arguments(function_name: str) -> list[Expr]:
    module = lower_module(SOURCE, "m.py")
    found = []
    for statement in module.functions[function_name].body:
        if isinstance(statement, Eval) and isinstance(statement.value, Call):
            found.append(statement.value.args[0].value)
    return found


def test_string_values_of_literals_templates_operations_wrappers_and_names() -> None:
    module = lower_module(SOURCE, "m.py")
    f = module.functions["f"]
    texts = [string_value(expr, module, function=f) for expr in _arguments("f")]
    assert texts == [
        "SELECT * FROM orders WHERE paid",
        "DELETE FROM t WHERE id = :id",
        "INSERT INTO t VALUES (%s)",
        "\n        UPDATE t SET n = n + 1",  # the argument as written
        "SELECT %s",
        "SELECT {} FROM t",
        "rate:?:count",
        "SELECT balance FROM accounts WHERE ",
        None,
        None,  # constants defined through each other: no value, no endless loop
    ]
    returned = f.body[-1]
    assert isinstance(returned, Return)
    assert string_value(returned.value, module) is None  # an int is no string
    assert string_value(None, module) is None


def test_class_attributes_through_self_the_class_name_and_a_base_class() -> None:
    module = lower_module(SOURCE, "m.py")
    run = module.functions["Queries.run"]
    texts = [string_value(expr, module, function=run) for expr in _arguments("Queries.run")]
    assert texts == [
        "SELECT * FROM ? WHERE id = %s",
        "UPDATE accounts SET balance = %s",
        "SELECT * FROM ? WHERE id = %s",
    ]


def test_interpreter_strings_win_over_the_functions_assignments() -> None:
    module = lower_module(SOURCE, "m.py")
    f = module.functions["f"]
    query = _arguments("f")[0]
    assert string_value(query, module, function=f, strings={"query": "SELECT 1"}) == "SELECT 1"
    assert function_strings(f, module) == {"query": "SELECT * FROM orders WHERE paid"}
    first = f.body[0]
    assert isinstance(first, Assign)


def test_long_concatenations_are_read_whole() -> None:
    pieces = " + ".join(f'"p{n} "' for n in range(300))
    module = lower_module(f"Q = {pieces} + unknown + 'end'\n", "m.py")
    assert string_value(module.assignments["Q"], module) == "".join(f"p{n} " for n in range(300)) + "end"
