"""Uniqueness that JavaScript/TypeScript ORM models declare in one file, for the files that use them.

Read from the text (no lowering: migrations and model files hold no routes):

- Sequelize migrations: `queryInterface.addIndex("share_subscriptions", ["shareId", "email"], {
  unique: true })` (or `{ fields: [...], unique: true }`), `addConstraint("t", { fields: [...],
  type: "unique" })`, and `createTable("t", { email: { unique: true }, id: { primaryKey: true } })`,
  in the migration's `up` only (its `down` puts back what `up` removed): `sql:<table>` keys;
- Sequelize models: a sequelize-typescript class under `@Table({ tableName })`, `Model.init({...},
  { tableName })` and `sequelize.define("Model", {...}, { tableName })`: the model's table name,
  and the columns its attributes declare unique (`sequelize:<Model>` keys);
- TypeORM entities (`@Entity("table")` classes): primary columns, `@Column({ unique: true })` and
  `@Index({ unique: true })` properties, and the class's `@Unique([...])` / `@Index([...], { unique:
  true })` column sets (`typeorm:<Entity>` keys), and the entity's table name.
"""

from __future__ import annotations

import re

from ._facts import merge_keys

__all__ = ["model_facts"]

_QUOTED = r"""['"`]([\w.]+)['"`]"""
_ADD_INDEX = re.compile(r"\baddIndex\(\s*" + _QUOTED + r"\s*,\s*")
_ADD_CONSTRAINT = re.compile(r"\baddConstraint\(\s*" + _QUOTED + r"\s*,\s*")
_CREATE_TABLE = re.compile(r"\bcreateTable\(\s*" + _QUOTED + r"\s*,\s*\{")
_TABLE_DECORATOR = re.compile(r"@Table\(\s*(\{[^{}]*\})?\s*\)[\s\S]{0,400}?\bclass\s+(\w+)")
_INIT = re.compile(r"\b([A-Z]\w*)\.init\(\s*\{")
_DEFINE = re.compile(r"\.define\(\s*" + _QUOTED + r"\s*,\s*\{")
_TABLE_NAME = re.compile(r"\btableName\s*:\s*" + _QUOTED)
_UNIQUE_TRUE = re.compile(r"\bunique\s*:\s*(?:true|['\"`])")
_UNIQUE_TYPE = re.compile(r"""\btype\s*:\s*['"`](?:unique|primary key)['"`]""", re.IGNORECASE)
_FIELDS = re.compile(r"\bfields\s*:\s*\[([^\]]*)\]")
_LIST = re.compile(r"\[([^\]]*)\]")
_STRING = re.compile(r"""['"`](\w+)['"`]""")
# `email: { type: DataTypes.STRING, unique: true }`, `id: { primaryKey: true }`.
_ATTRIBUTE = re.compile(r"([A-Za-z_$][\w$]*)\s*:\s*\{([^{}]*)\}")
_KEY_ATTRIBUTE = re.compile(r"\b(?:unique|primaryKey)\s*:\s*(?:true|['\"`])")
# Where a migration's `down` starts: `async down(`, `down: async (`, `down(queryInterface)`.
_DOWN = re.compile(r"\bdown\s*(?::\s*(?:async\s*)?(?:function\s*)?\(|\()")
_UP = re.compile(r"\bup\s*(?::\s*(?:async\s*)?(?:function\s*)?\(|\()")
_MARKERS = ("addIndex", "addConstraint", "createTable", "@Table", ".init(", ".define(", "@Entity")
# TypeORM: `@Entity()`, `@Entity("accounts")`, `@Entity({ name: "accounts" })`, then the class.
_ENTITY = re.compile(r"@Entity\(\s*(?:" + _QUOTED + r"|(\{[^{}]*\}))?[^)]*\)[\s\S]{0,400}?\bclass\s+(\w+)")
_ENTITY_NAME = re.compile(r"\bname\s*:\s*" + _QUOTED)
# Property decorators that make the property's column unique, then the property's name.
_UNIQUE_PROPERTY = re.compile(
    r"@(?:PrimaryGeneratedColumn|PrimaryColumn|ObjectIdColumn)\([^()]*(?:\([^()]*\)[^()]*)*\)"
    r"|@(?:Column|Index)\(\s*(?:['\"`]\w+['\"`]\s*,\s*)?\{[^{}]*\bunique\s*:\s*true[^{}]*\}\s*\)"
)
_PROPERTY_NAME = re.compile(
    r"(?:\s*@\w+(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?)*"  # the property's other decorators
    r"\s*(?:(?:public|private|readonly|declare)\s+)*(\w+)\s*[!?]?\s*:"
)
# Class decorators naming a unique column set: `@Unique(["a", "b"])`, `@Unique("name", ["a"])`,
# `@Index(["a", "b"], { unique: true })`.
_CLASS_UNIQUE = re.compile(r"@Unique\(\s*(?:['\"`][^'\"`]*['\"`]\s*,\s*)?\[([^\]]*)\]")
_CLASS_INDEX = re.compile(
    r"@Index\(\s*(?:['\"`][^'\"`]*['\"`]\s*,\s*)?\[([^\]]*)\]\s*,\s*\{[^{}]*\bunique\s*:\s*true"
)
_MAX_SPAN = 20_000  # an attributes object longer than this is not read


def model_facts(source: str) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """(`sql:<table>`, `sequelize:<Model>` and `typeorm:<Entity>` unique keys, model name -> table)."""
    tables: dict[str, list[list[str]]] = {}
    model_tables: dict[str, str] = {}
    if not any(marker in source for marker in _MARKERS):
        return tables, model_tables
    _migrations(_up_part(source), tables)
    _models(source, tables, model_tables)
    _entities(source, tables, model_tables)
    return tables, model_tables


def _up_part(source: str) -> str:
    """A migration's text without its `down` (which re-adds the indexes `up` dropped)."""
    up, down = _UP.search(source), _DOWN.search(source)
    if up is not None and down is not None and down.start() > up.start():
        return source[: down.start()]
    return source


def _migrations(text: str, tables: dict[str, list[list[str]]]) -> None:
    for match in _ADD_INDEX.finditer(text):
        rest = text[match.end() : match.end() + 2_000]
        columns, options = _columns_and_options(rest)
        if columns and _UNIQUE_TRUE.search(options):
            merge_keys(tables, f"sql:{_table(match.group(1))}", columns)
    for match in _ADD_CONSTRAINT.finditer(text):
        rest = text[match.end() : match.end() + 2_000]
        columns, options = _columns_and_options(rest)
        if columns and _UNIQUE_TYPE.search(options):
            merge_keys(tables, f"sql:{_table(match.group(1))}", columns)
    for match in _CREATE_TABLE.finditer(text):
        body = _balanced(text, match.end() - 1)
        for column in _key_attributes(body):
            merge_keys(tables, f"sql:{_table(match.group(1))}", [column])


def _columns_and_options(rest: str) -> tuple[list[str], str]:
    """After `addIndex("t", `: `["a", "b"], { unique: true }` or `{ fields: ["a"], unique: true }`."""
    if rest.startswith("["):
        listed = _LIST.match(rest)
        if listed is None:
            return [], ""
        after = rest[listed.end() :].lstrip().removeprefix(",").lstrip()
        options = _balanced(after, 0) if after.startswith("{") else ""
        return _STRING.findall(listed.group(1)), options
    if rest.startswith("{"):
        options = _balanced(rest, 0)
        fields = _FIELDS.search(options)
        return (_STRING.findall(fields.group(1)) if fields else []), options
    return [], ""


def _models(source: str, tables: dict[str, list[list[str]]], model_tables: dict[str, str]) -> None:
    from ..javascript.stores._orm import unique_fields

    for match in _TABLE_DECORATOR.finditer(source):
        name = match.group(2)
        named = _TABLE_NAME.search(match.group(1) or "")
        if named is not None:
            model_tables[name] = _table(named.group(1))
        body = _balanced(source, source.find("{", match.end()))
        for column in unique_fields(body) - {"id"}:
            merge_keys(tables, f"sequelize:{name}", [column])
    for pattern in (_INIT, _DEFINE):
        for match in pattern.finditer(source):
            name = match.group(1)
            attributes = _balanced(source, match.end() - 1)
            for column in _key_attributes(attributes):
                merge_keys(tables, f"sequelize:{name}", [column])
            after = source[match.end() - 1 + len(attributes) :][:1_000]
            options = _balanced(after, after.find("{")) if "{" in after else ""
            named = _TABLE_NAME.search(options)
            if named is not None:
                model_tables[name] = _table(named.group(1))


def _entities(source: str, tables: dict[str, list[list[str]]], model_tables: dict[str, str]) -> None:
    for match in _ENTITY.finditer(source):
        table, options, name = match.group(1), match.group(2), match.group(3)
        named = _ENTITY_NAME.search(options or "")
        given = table or (named.group(1) if named is not None else "")
        if given:
            model_tables[name] = _table(given)
        key = f"typeorm:{name}"
        # Class decorators stand between `@Entity(...)` and `class`; properties in the body.
        for found in (_CLASS_UNIQUE, _CLASS_INDEX):
            for columns in found.findall(match.group(0)):
                merge_keys(tables, key, _STRING.findall(columns))
        body = _balanced(source, source.find("{", match.end()))
        for decorator in _UNIQUE_PROPERTY.finditer(body):
            prop = _PROPERTY_NAME.match(body, decorator.end())
            if prop is not None:
                merge_keys(tables, key, [prop.group(1)])


def _key_attributes(attributes: str) -> list[str]:
    """The attributes of an object literal declared `unique: true` or `primaryKey: true`."""
    return [name for name, body in _ATTRIBUTE.findall(attributes) if _KEY_ATTRIBUTE.search(body)]


def _balanced(text: str, start: int) -> str:
    """The `{...}` starting at `start` (braces in strings are rare enough in these files)."""
    if start < 0 or start >= len(text) or text[start] != "{":
        return ""
    depth = 0
    for index in range(start, min(len(text), start + _MAX_SPAN)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return ""


def _table(name: str) -> str:
    return name.rpartition(".")[2].lower()
