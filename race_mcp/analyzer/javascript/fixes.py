"""Fix text in JavaScript's terms for the rules whose shared text names Python APIs (`asyncio.Lock`,
`create_index`, `IntegrityError`): the same remedy, in the calls a Node developer writes."""

from __future__ import annotations

from ...findings import Finding

__all__ = ["in_javascript"]

_FIXES = {
    "RC101": (
        "Claim before the first `await` (set the Map entry or counter, then do the slow work, and undo "
        "it on failure), or run the check and the write under one per-key mutex (`async-mutex` "
        "`runExclusive`); this protects one process only, so state shared by several instances belongs "
        "in a database or Redis with an atomic update."
    ),
    "RC102": (
        "Claim before the first `await`, or serialize the check and the write with one per-key mutex "
        "(`async-mutex` `runExclusive`); state shared across instances belongs in a store with an "
        "atomic update."
    ),
    "RC201": (
        "Make the write atomic and guarded: `UPDATE t SET x = x - $1 WHERE id = $2 AND x >= $1` and check "
        "`result.rowCount` (mysql2: `affectedRows`); or `SELECT ... FOR UPDATE` after `BEGIN` on the same "
        "client as the UPDATE, then `COMMIT`."
    ),
    "RC202": (
        'Run the writes in one transaction on one client: pg `await client.query("BEGIN")` ... '
        "`COMMIT` (`ROLLBACK` in `catch`), mysql2 `beginTransaction()` / `commit()`, knex "
        "`db.transaction(async (trx) => ...)`, Prisma `$transaction([...])`, Sequelize "
        "`sequelize.transaction(async (t) => ...)`."
    ),
    "RC203": (
        "Add a UNIQUE constraint on the looked-up column and insert with `ON CONFLICT DO NOTHING` (or catch "
        "error code `23505` / `ER_DUP_ENTRY` and answer 409) instead of checking first."
    ),
    "RC301": (
        "Write atomically with the check in the filter and look at the outcome: Prisma "
        "`updateMany({ where: { id, stock: { gte: 1 } }, data: { stock: { decrement: 1 } } })` and check "
        "`count`; Sequelize `Model.decrement(..., { where: { id, stock: { [Op.gte]: 1 } } })`; TypeORM "
        "`update({ id, version }, {...})` and check `affected`. Or lock the row inside a transaction: "
        "`SELECT ... FOR UPDATE` through `tx.$queryRaw`, `lock: t.LOCK.UPDATE`, "
        '`setLock("pessimistic_write")`, and decide on the locked row.'
    ),
    "RC303": (
        "Declare the looked-up field unique (Prisma `@unique`, Sequelize `unique: true`, TypeORM "
        "`@Column({ unique: true })`) and create directly, answering the duplicate-key error (Prisma "
        "P2002, `UniqueConstraintError`, `QueryFailedError` code 23505) with 409, or use `upsert`."
    ),
    "RC401": (
        "Add a `ConditionExpression` that guards what was read (a version attribute bumped on every "
        "write, or `balance >= :amt`) and turn `ConditionalCheckFailedException` into a 409."
    ),
    "RC402": 'Add `ConditionExpression: "balance >= :amt"` to the decrement\'s params.',
    "RC403": (
        "Write the items that must change together with one `TransactWriteItemsCommand` "
        "(lib-dynamodb `TransactWriteCommand`, v2 `transactWrite`), each item conditional on what it "
        "depends on, and answer `TransactionCanceledException` with 409."
    ),
    "RC501": (
        'Use `INCR`/`INCRBY`/`DECRBY` and check the returned value, `SET key value "NX"` (node-redis: '
        "`{ NX: true }`), `WATCH` + `MULTI`, or a Lua script instead of GET then SET."
    ),
    "RC801": (
        "Put what the decision read into the write's filter and check the result: "
        "`updateOne({ _id: id, stock: { $gte: 1 } }, { $inc: { stock: -1 } })` with `modifiedCount` checked, "
        "or `findOneAndUpdate` with the guard in its filter."
    ),
    "RC802": (
        "Declare the looked-up field unique (`email: { type: String, unique: true }` or "
        "`createIndex({ email: 1 }, { unique: true })`) and insert directly, answering error code 11000 "
        "with 409, instead of checking with `findOne` first."
    ),
    "RC701": (
        'Create exclusively with the `wx` flag (`open(path, "wx")`, `writeFile(path, data, { flag: "wx" })`) '
        "and answer `EEXIST`; `mkdir(path, { recursive: true })` for directories; for a JSON file that "
        "requests update, serialize the read-modify-write (one mutex per file, or `proper-lockfile`) or "
        "move the data into a database."
    ),
}
# Titles whose shared text names Python's ORMs and driver methods.
_TITLES = {
    "RC301": "ORM row read, changed in JavaScript and written without a row lock",
    "RC303": "Lookup then create on fields with no unique constraint",
    "RC801": "MongoDB findOne, decide in JavaScript, then updateOne with no filter on what was read",
    "RC802": "findOne to check absence, then create / insertOne, with no unique index to back it",
}


def in_javascript(finding: Finding) -> Finding:
    update = {"fix": _FIXES[finding.rule_id]} if finding.rule_id in _FIXES else {}
    if finding.rule_id in _TITLES:
        update["title"] = _TITLES[finding.rule_id]
    return finding.model_copy(update=update) if update else finding
