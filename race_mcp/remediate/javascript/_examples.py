"""Short JavaScript examples of each fix, for the guidance of findings no rewrite is sound for.

Each is what a Node developer would write, in the shapes the analyzer accepts as safe. A rule's
example may have a version per database library (`"RC3:prisma"`): the guidance of a file that uses
that library shows it (`_libraries.library_of`), others the rule's default.
"""

from __future__ import annotations

__all__ = ["EXAMPLES", "READ_MODIFY_WRITE_FILE", "example_for", "with_example"]

_IN_PROCESS = """\
// Claim before the first await, undo on failure (one process only):
const left = coupons.get(code) ?? 0;
if (left <= 0) return res.status(409).send({ error: "used" });
coupons.set(code, left - 1);
try {
  await charge(req.body);
} catch (error) {
  coupons.set(code, (coupons.get(code) ?? 0) + 1);
  throw error;
}
// or serialize per key: await mutexFor(code).runExclusive(async () => { ... });"""

READ_MODIFY_WRITE_FILE = "RC7-read-modify-write"

EXAMPLES: dict[str, str] = {
    "RC1": _IN_PROCESS,
    "RC201": """\
const result = await pool.query(
  "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
  [amount, id],
);
if (result.rowCount === 0) return res.status(409).send({ error: "insufficient funds" });
// mysql2: const [result] = await conn.execute("... WHERE id = ? AND balance >= ?", [amount, id, amount]);
//         if (result.affectedRows === 0) ...""",
    "RC202": """\
const client = await pool.connect();
try {
  await client.query("BEGIN");
  // ...the writes that belong together, all on `client`...
  await client.query("COMMIT");
} catch (error) {
  await client.query("ROLLBACK");
  throw error;
} finally {
  client.release();
}""",
    "RC203": """\
// CREATE UNIQUE INDEX users_email ON users (email);
const result = await pool.query(
  "INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING",
  [email],
);
if (result.rowCount === 0) return res.status(409).send({ error: "email taken" });""",
    "RC3": """\
// Let the database decide: a conditional update whose count is checked.
const [count] = await Order.update(
  { status: "paid" },
  { where: { id, status: "pending" } },
);
if (count === 0) return res.status(409).send({ error: "already paid" });""",
    "RC3:prisma": """\
// Let the database decide: the check in the filter, the count checked.
const { count } = await prisma.order.updateMany({
  where: { id, status: "pending" },
  data: { status: "paid" },
});
if (count === 0) return res.status(409).send({ error: "already paid" });
// a counter: where: { id, stock: { gte: qty } }, data: { stock: { decrement: qty } }""",
    "RC3:typeorm": """\
// Let the database decide: the check in the criteria, the affected count checked.
const result = await orders.update({ id, status: "pending" }, { status: "paid" });
if (result.affected === 0) return res.status(409).send({ error: "already paid" });
// a counter: orders.createQueryBuilder().update().set({ stock: () => "stock - :qty" })
//   .where("id = :id AND stock >= :qty", { id, qty }).execute()""",
    "RC303": """\
// Declare the field unique (User.init({ email: { type: DataTypes.STRING, unique: true } })) and create:
try {
  await User.create({ email, name });
} catch (error) {
  if (error instanceof UniqueConstraintError) return res.status(409).send({ error: "email taken" });
  throw error;
}""",
    "RC303:prisma": """\
// schema.prisma: email String @unique
try {
  await prisma.user.create({ data: { email, name } });
} catch (error) {
  if (error.code === "P2002") return res.status(409).send({ error: "email taken" });
  throw error;
}""",
    "RC303:typeorm": """\
// @Column({ unique: true }) email: string;
try {
  await users.insert({ email, name });
} catch (error) {
  if (error instanceof QueryFailedError && error.driverError.code === "23505") {
    return res.status(409).send({ error: "email taken" });
  }
  throw error;
}""",
    "RC201:knex": """\
const updated = await knex("accounts")
  .where({ id })
  .andWhere("balance", ">=", amount)
  .decrement("balance", amount);
if (updated === 0) return res.status(409).send({ error: "insufficient funds" });""",
    "RC202:knex": """\
await knex.transaction(async (trx) => {
  // ...the writes that belong together, all on `trx`: await trx("orders").insert(...);
});  // a throw inside rolls every one of them back""",
    "RC203:knex": """\
// CREATE UNIQUE INDEX users_email ON users (email);
const inserted = await knex("users").insert({ email }).onConflict("email").ignore().returning("id");
if (inserted.length === 0) return res.status(409).send({ error: "email taken" });""",
    "RC401": """\
await client.send(new UpdateItemCommand({
  TableName: "Accounts",
  Key: { id: { S: id } },
  UpdateExpression: "SET balance = balance - :amt",
  ConditionExpression: "balance >= :amt",
  ExpressionAttributeValues: { ":amt": { N: String(amount) } },
}));
// catch (error): error.name === "ConditionalCheckFailedException" -> 409""",
    "RC402": """\
// In an UpdateItemCommand's params, or in a TransactWriteItems Update item's:
UpdateExpression: "SET balance = balance - :amt",
ConditionExpression: "balance >= :amt",
ExpressionAttributeValues: { ":amt": { N: String(amount) } },
// catch (error): error.name === "ConditionalCheckFailedException"
//   (in a transaction: "TransactionCanceledException") -> 409""",
    "RC403": """\
await client.send(new TransactWriteItemsCommand({
  TransactItems: [
    { Update: { TableName: "Cards", Key: { id: { S: cardId } },
      UpdateExpression: "SET balance = balance - :amt",
      ConditionExpression: "balance >= :amt",
      ExpressionAttributeValues: { ":amt": { N: amt } } } },
    { Update: { TableName: "Sales", Key: { id: { S: shopId } },
      UpdateExpression: "SET total = total + :amt",
      ExpressionAttributeValues: { ":amt": { N: amt } } } },
  ],
}));
// catch (error): error.name === "TransactionCanceledException" -> 409""",
    "RC404": """\
// Claim the record before the side effect; a duplicate delivery fails the claim and is skipped.
try {
  await client.send(new PutItemCommand({
    TableName: "Processed",
    Item: { id: { S: record.eventID } },  // SQS: record.messageId
    ConditionExpression: "attribute_not_exists(id)",
  }));
} catch (error) {
  if (error.name === "ConditionalCheckFailedException") continue;
  throw error;
}
// ...the side effect; to make claim and effect all-or-nothing, put both in one TransactWriteItemsCommand.""",
    "RC501": """\
const attempts = await redis.incr(key);  // atomic; the returned value decides
if (attempts === 1) await redis.expire(key, 900);
if (attempts > 5) return res.status(429).end();
// claim once: const claimed = await redis.set(key, "1", "NX", "EX", 60); if (!claimed) ...""",
    "RC6": """\
// Store the idempotency key with the result, claimed atomically before the side effect.
const key = req.get("Idempotency-Key");
if (!key) return res.status(400).send({ error: "Idempotency-Key required" });
const claimed = await redis.set(`idem:${key}`, "pending", "NX", "EX", 86400);
if (!claimed) return res.status(409).send({ error: "duplicate request" });""",
    "RC7": """\
// Create exclusively: fails with EEXIST instead of overwriting.
const handle = await fs.promises.open(path, "wx");""",
    # A file read, changed and written back (no existence check): lock it across both.
    READ_MODIFY_WRITE_FILE: """\
// Hold a lock on the file from the read to the write (proper-lockfile works across processes):
const release = await lockfile.lock(path, { retries: 10 });
try {
  const data = JSON.parse(await fs.promises.readFile(path, "utf8"));
  data.count += 1;
  await fs.promises.writeFile(path, JSON.stringify(data));
} finally {
  await release();
}""",
    "RC801": """\
const updated = await Coupon.findOneAndUpdate(
  { code, used: { $lt: max } },  // the check, in the filter
  { $inc: { used: 1 } },
  { new: true },
);
if (!updated) return res.status(409).send({ error: "coupon used up" });""",
    "RC801:mongodb": """\
const result = await db.collection("coupons").updateOne(
  { code, used: { $lt: max } },  // the check, in the filter
  { $inc: { used: 1 } },
);
if (result.matchedCount === 0) return res.status(409).send({ error: "coupon used up" });""",
    "RC802:mongodb": """\
// await db.collection("users").createIndex({ email: 1 }, { unique: true });
try {
  await db.collection("users").insertOne({ email, name });
} catch (error) {
  if (error.code === 11000) return res.status(409).send({ error: "email taken" });
  throw error;
}""",
    "RC802": """\
// userSchema.path("email").index({ unique: true });  or  createIndex({ email: 1 }, { unique: true })
try {
  await User.create({ email, name });
} catch (error) {
  if (error.code === 11000) return res.status(409).send({ error: "email taken" });
  throw error;
}""",
}


def example_for(rule_id: str, library: str | None = None) -> str | None:
    """The rule's example (else its family's), in `library`'s code where it has a version of it."""
    for key in (rule_id, rule_id[:3], rule_id[:2]):
        if library is not None and f"{key}:{library}" in EXAMPLES:
            return EXAMPLES[f"{key}:{library}"]
        if key in EXAMPLES:
            return EXAMPLES[key]
    return None


def with_example(message: str, rule_id: str, library: str | None = None) -> str:
    """The message, then the rule's JavaScript example (in `library`'s code) indented as a code block."""
    example = example_for(rule_id, library)
    if example is None:
        return message
    block = "\n".join(f"    {line}" if line else "" for line in example.splitlines())
    return f"{message}\n\n{block}"
