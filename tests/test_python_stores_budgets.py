"""The Python stores' patterns stay linear on hostile text (the worst cases that made their libcst-era
ancestors quadratic), and hostile store code analyses in seconds."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from race_mcp import analyze_source
from race_mcp.analyzer.python.stores import _orm_facts as orm
from race_mcp.analyzer.python.stores import _sql_text as sql
from race_mcp.analyzer.python.stores import dynamodb, redis
from race_mcp.analyzer.python.stores import sql as sql_store

_SIZE = 100_000
_CEILING = 2.0  # seconds for 100 KB; a quadratic pattern needs from 30 s to many minutes


def _run(pattern: re.Pattern[str], text: str, how: str = "findall") -> Callable[[], object]:
    if how == "sub":
        return lambda: pattern.sub(" ", text)
    return lambda: getattr(pattern, how)(text)


def _repeat(unit: str, prefix: str = "", suffix: str = "") -> str:
    return prefix + unit * (_SIZE // len(unit)) + suffix


_WORST_CASES: dict[str, Callable[[], object]] = {
    "sql-comment-unclosed": _run(sql._COMMENT, _repeat("/*a"), "sub"),
    "sql-where-columns-name": _run(sql._WHERE_COLUMNS, _repeat("a")),
    "sql-where-columns-digits": _run(sql._WHERE_COLUMNS, _repeat("1a.")),
    "sql-unique-inline-spaces": _run(sql._UNIQUE_INLINE, _repeat(" ", "a", "b"), "match"),
    "sql-unique-clause-unclosed": _run(sql._UNIQUE_CLAUSE, _repeat("unique ("), "search"),
    "sql-unique-index-unclosed": _run(sql._UNIQUE_INDEX, _repeat("create unique index i on t (")),
    "sql-from-tables": _run(sql._FROM_TABLES, _repeat("from ")),
    "sql-select-item-spaces": _run(sql._PLAIN_COLUMN, _repeat(" ", "a", "!"), "fullmatch"),
    "sql-select-item-as": _run(sql._PLAIN_COLUMN, _repeat(" ", "a as", "!"), "fullmatch"),
    "sql-select-list": lambda: sql.parse_sql(_repeat("a, ", "select ", "a from t")),
    "sql-select-list-open": lambda: sql.parse_sql(_repeat("(a, ", "select ", " from t")),
    "sql-update": _run(sql._UPDATE, _repeat(" where ", "update t set "), "match"),
    "sql-ddl-prefilter": _run(sql_store._DDL, _repeat("create ")),
    "sql-ddl-prefilter-temp": _run(sql_store._DDL, _repeat("create temp ")),
    "sql-parse-select": lambda: sql.parse_sql(_repeat("a", "select a from t where ")),
    "sql-parse-update-columns": lambda: sql.parse_sql(
        "update t set " + ", ".join(f"c{i} = 1" for i in range(8000)) + " where " + "c1 = 1 and " * 8000
    ),
    "sql-parse-comments": lambda: sql.parse_sql(_repeat("/*a", "select a from t where ")),
    "sql-schema-unclosed": lambda: sql.unique_columns([_repeat("create table t (")]),
    "dynamodb-condition-name": _run(dynamodb._COMPARISON, _repeat("a")),
    "dynamodb-condition-placeholder": _run(dynamodb._COMPARISON, _repeat(":a")),
    "dynamodb-condition-guard": lambda: dynamodb.condition_guard(_repeat("a"), {}),
    "dynamodb-exists-unclosed": _run(dynamodb._ATTRIBUTE_EXISTS, _repeat("attribute_exists("), "sub"),
    "dynamodb-decrement": _run(dynamodb._DECREMENT, _repeat("a")),
    "dynamodb-decrement-value": _run(dynamodb._DECREMENT, _repeat("a", "x = ")),
    "dynamodb-increment": _run(dynamodb._INCREMENT, _repeat("_")),
    "dynamodb-add-action": _run(dynamodb._ADD_ACTION, _repeat("a.")),
    "dynamodb-add-clause": _run(dynamodb._ADD_CLAUSE, _repeat("ADD ")),
    "orm-index-openers": _run(orm._UNIQUE_INDEX, _repeat("Index(")),
    "orm-column-openers": _run(orm._UNIQUE_COLUMN, _repeat("Column('a', ")),
    "orm-constraint-unclosed": _run(orm._CONSTRAINT_ARGS, _repeat("UniqueConstraint(")),
    "redis-named-like": _run(redis._NAMED_LIKE_REDIS, _repeat("r_"), "search"),
}


@pytest.mark.parametrize("case", sorted(_WORST_CASES))
def test_each_store_pattern_is_linear_on_its_worst_case(case: str) -> None:
    started = time.perf_counter()
    _WORST_CASES[case]()
    elapsed = time.perf_counter() - started
    assert elapsed < _CEILING, f"{case}: {elapsed:.1f} s for 100 KB"


_HEAD = (
    "import boto3\nfrom pymongo import MongoClient\nfrom fastapi import FastAPI\napp = FastAPI()\n"
    "table = boto3.resource('dynamodb').Table('items')\ndb = MongoClient().shop\n"
    "@app.post('/x')\ndef handler(conn):\n"
)
_HOSTILE = {
    "select-where": _HEAD + "    conn.execute('SELECT a FROM t WHERE " + "a" * 40_000 + "')\n",
    "condition-expression": _HEAD
    + "    table.update_item(Key={'pk': 1}, ConditionExpression='"
    + "a" * 40_000
    + "')\n",
    "schema-string": "SCHEMA = '''"
    + "CREATE TABLE t (" * 5_000
    + "'''\n"
    + _HEAD
    + "    conn.execute('x')\n",
    "mongo-wide-filter": _HEAD
    + "    doc = db.items.find_one({"
    + ", ".join(f"'f{i}': {{'$gte': {i}}}" for i in range(5_000))
    + "})\n    db.items.update_one({'_id': doc['_id']}, {'$set': {'a': 1}})\n",
    "mongo-collection-chain": "from pymongo import MongoClient\n"
    + "".join(f"c{i} = c{i + 1}\n" for i in range(3_000))
    + "c3000 = MongoClient().shop.items\n"
    + "def f():\n    c0.find_one({})\n    c0.insert_one({})\n",
}


@pytest.mark.parametrize("case", sorted(_HOSTILE))
def test_hostile_store_code_analyses_in_seconds(case: str) -> None:
    started = time.perf_counter()
    analyze_source(_HOSTILE[case], f"{case}.py")
    assert time.perf_counter() - started < 10
