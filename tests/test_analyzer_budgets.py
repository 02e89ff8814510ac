"""Hostile source costs bounded work: linear patterns, a per-file time budget, nesting and size caps.

The code under review is untrusted. Each pattern the analyzer and the fixers apply to its text gets
the input that made the old pattern quadratic (a long run of the class it repeats, 100 KB); a
linear pattern needs milliseconds, the old ones took minutes. Ceilings are generous absolute times
(a loaded 2-core machine must not make them flaky), far below what a quadratic pattern needs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import libcst as cst
import pytest

from race_mcp import analyze_source
from race_mcp.analyzer._stores import _KEY_STRING, _PROVIDER_CALL, _STATUS_CHECK
from race_mcp.analyzer._stores import _dynamodb as dynamodb
from race_mcp.analyzer._stores import _orm as orm
from race_mcp.analyzer._stores import _sql as sql
from race_mcp.remediate import _fix_dynamodb as fix_dynamodb
from race_mcp.remediate import _fix_sql as fix_sql

_SIZE = 100_000
_CEILING = 2.0  # seconds for 100 KB; the quadratic patterns needed from 30 s to many minutes


def _run(pattern: re.Pattern[str], text: str, how: str = "findall") -> Callable[[], object]:
    if how == "sub":
        return lambda: pattern.sub(" ", text)
    return lambda: getattr(pattern, how)(text)


def _repeat(unit: str, prefix: str = "", suffix: str = "") -> str:
    return prefix + unit * (_SIZE // len(unit)) + suffix


def _python(text: str) -> cst.Module:
    """A module whose code holds `text` in a string literal (the fixers search `module.code`)."""
    return cst.parse_module("x = '''" + text + "'''\n")


_WORST_CASES: dict[str, Callable[[], object]] = {
    # SQL: the WHERE-column pattern on `WHERE aaaa...` took 68 s for 40 KB.
    "sql-comment-unclosed": _run(sql._COMMENT, _repeat("/*a"), "sub"),
    "sql-where-columns-name": _run(sql._WHERE_COLUMNS, _repeat("a")),
    "sql-where-columns-digits": _run(sql._WHERE_COLUMNS, _repeat("1a.")),
    "sql-unique-inline-spaces": _run(sql._UNIQUE_INLINE, _repeat(" ", "a", "b"), "match"),
    "sql-unique-clause-unclosed": _run(sql._UNIQUE_CLAUSE, _repeat("unique ("), "search"),
    "sql-unique-index-unclosed": _run(sql._UNIQUE_INDEX, _repeat("create unique index i on t (")),
    "sql-from-tables": _run(sql._FROM_TABLES, _repeat("from ")),
    "sql-update": _run(sql._UPDATE, _repeat(" where ", "update t set "), "match"),
    "sql-autocommit-blank-lines": _run(sql._AUTOCOMMIT_DRIVERS, _repeat("\n"), "search"),
    "sql-parse-select": lambda: sql.parse_sql(_repeat("a", "select a from t where ")),
    "sql-parse-update-columns": lambda: sql.parse_sql(
        "update t set " + ", ".join(f"c{i} = 1" for i in range(8000)) + " where " + "c1 = 1 and " * 8000
    ),
    "sql-parse-comments": lambda: sql.parse_sql(_repeat("/*a", "select a from t where ")),
    "sql-schema-unclosed": lambda: sql.unique_columns([_repeat("create table t (")]),
    # DynamoDB: ConditionExpression="aaaa..." took 83 s, UpdateExpression="aaaa..." 35 s.
    "dynamodb-condition-name": _run(dynamodb._COMPARISON, _repeat("a")),
    "dynamodb-condition-placeholder": _run(dynamodb._COMPARISON, _repeat(":a")),
    "dynamodb-condition-guard": lambda: dynamodb.condition_guard(_repeat("a"), {}),
    "dynamodb-exists-unclosed": _run(dynamodb._ATTRIBUTE_EXISTS, _repeat("attribute_exists("), "sub"),
    "dynamodb-decrement": _run(dynamodb._DECREMENT, _repeat("a")),
    "dynamodb-decrement-value": _run(dynamodb._DECREMENT, _repeat("a", "x = ")),
    "dynamodb-increment": _run(dynamodb._INCREMENT, _repeat("_")),
    "dynamodb-add-action": _run(dynamodb._ADD_ACTION, _repeat("a.")),
    "dynamodb-add-clause": _run(dynamodb._ADD_CLAUSE, _repeat("ADD ")),
    # Whole-function patterns for RC601.
    "key-string-mismatched-quote": _run(_KEY_STRING, _repeat("nonce", '"', "'"), "search"),
    "status-check-blank-lines": _run(_STATUS_CHECK, _repeat("\n"), "search"),
    "status-check-long-if": _run(_STATUS_CHECK, _repeat(".", "if "), "search"),
    "provider-call-chain": _run(_PROVIDER_CALL, _repeat("stripe."), "search"),
    "provider-charge-chain": _run(_PROVIDER_CALL, _repeat(".charge"), "search"),
    # ORM constraint declarations.
    "orm-index-openers": _run(orm._UNIQUE_INDEX, _repeat("Index(")),
    "orm-column-openers": _run(orm._UNIQUE_COLUMN, _repeat("Column('a', ")),
    "orm-constraint-unclosed": _run(orm._CONSTRAINT_ARGS, _repeat("UniqueConstraint(")),
    # The fixers' patterns.
    "fix-driver-import-blank-lines": lambda: [p.search(_repeat("\n")) for _, p in fix_sql._DRIVER_IMPORTS],
    "fix-wrapper-import-blank-lines": _run(fix_sql._WRAPPER_IMPORT, _repeat("\n"), "search"),
    "fix-update-spaces-in-value": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a = 1", "x"), "match"),
    "fix-update-spaces-after-equals": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a =", "x"), "match"),
    "fix-update-where-spaces": _run(fix_sql._UPDATE, _repeat(" ", "UPDATE t SET a=1 WHERE b", "x"), "match"),
    "fix-select-spaces": _run(fix_sql._SELECT, _repeat(" ", "SELECT a", "x"), "match"),
    "fix-select-spaces-after-select": _run(fix_sql._SELECT, _repeat(" ", "SELECT", "x"), "match"),
    "fix-equality-columns": _run(fix_sql._EQUALITY_COLUMNS, _repeat("a")),
    "fix-connection-maker-calls": lambda: fix_sql._connection_maker("conn", _repeat("a(")),
    "fix-connection-signature": lambda: fix_sql._is_connection(
        "conn",
        cst.parse_module("def f():\n    conn = make()\n").body[0],  # type: ignore[arg-type]
        _python(_repeat("def make(")),
    ),
    "fix-unique-definition-spaces": lambda: fix_sql._with_unique(
        cst.SimpleString('"' + _repeat(" ", "CREATE TABLE t (a ", "x(") + '"'), "t", "a"
    ),
    "fix-framework-blank-lines": lambda: fix_dynamodb._framework_conflict(_python(_repeat("\n"))),
}


@pytest.mark.parametrize("case", sorted(_WORST_CASES))
def test_each_pattern_is_linear_on_its_worst_case(case: str) -> None:
    started = time.perf_counter()
    _WORST_CASES[case]()
    elapsed = time.perf_counter() - started
    assert elapsed < _CEILING, f"{case}: {elapsed:.1f} s for 100 KB"


_HEAD = (
    "import boto3\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    "table = boto3.resource('dynamodb').Table('items')\n@app.post('/x')\ndef handler(db):\n"
)
_ISSUE_INPUTS = {
    # The three inputs of the report, 40 KB each: 68 s, 83 s and 35 s before.
    "select-where": _HEAD + "    db.execute('SELECT a FROM t WHERE " + "a" * 40_000 + "')\n",
    "condition-expression": _HEAD
    + "    table.update_item(Key={'pk': 1}, UpdateExpression='SET a = :a', ConditionExpression='"
    + "a" * 40_000
    + "')\n",
    "update-expression": _HEAD + "    table.update_item(UpdateExpression='" + "a" * 40_000 + "')\n",
    "serializable-chain": "import sqlalchemy\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    + "".join(f"e{i} = make(e{i + 1})\n" for i in range(3000))
    + "e3000 = create_engine('x', isolation_level='SERIALIZABLE')\n",
}


@pytest.mark.parametrize("case", sorted(_ISSUE_INPUTS))
def test_reported_inputs_analyse_in_seconds(case: str) -> None:
    started = time.perf_counter()
    analyze_source(_ISSUE_INPUTS[case], "hostile.py")
    assert time.perf_counter() - started < 5.0
