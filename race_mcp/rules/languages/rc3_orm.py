"""RC3xx ORMs in JavaScript/TypeScript and Rust: Prisma (RC301, RC303) and Diesel (RC303, RC304); the
Django and SQLAlchemy names of the other two do not apply there. Keyed by rule id; `race_mcp.rules`
attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC301": {
        # The Node ORMs' read-modify-save (Prisma, Sequelize, TypeORM) is reported under RC301.
        "javascript": LanguageExamples(
            filename="withdraw_prisma.ts",
            racy=snippet(
                """
                import express from "express";
                import { PrismaClient } from "@prisma/client";
                import { requireIdempotencyKey } from "./idempotency";

                const prisma = new PrismaClient();
                const app = express();

                app.post("/accounts/:id/withdraw", requireIdempotencyKey, async (req, res) => {
                  const id = Number(req.params.id);
                  const account = await prisma.account.findUnique({ where: { id } });
                  if (!account || account.balance < req.body.amount) {
                    return res.status(409).json({ error: "insufficient funds" });
                  }
                  await prisma.account.update({
                    where: { id },
                    data: { balance: account.balance - req.body.amount },
                  });
                  res.json({ ok: true });
                });
                """
            ),
            fixed=snippet(
                """
                import express from "express";
                import { PrismaClient } from "@prisma/client";
                import { requireIdempotencyKey } from "./idempotency";

                const prisma = new PrismaClient();
                const app = express();

                app.post("/accounts/:id/withdraw", requireIdempotencyKey, async (req, res) => {
                  const id = Number(req.params.id);
                  // One statement decrements and re-checks the balance; count 0: this request lost.
                  const { count } = await prisma.account.updateMany({
                    where: { id, balance: { gte: req.body.amount } },
                    data: { balance: { decrement: req.body.amount } },
                  });
                  if (count === 0) {
                    return res.status(409).json({ error: "insufficient funds" });
                  }
                  res.json({ ok: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            not_applicable=(
                "Django's ORM exists only in Python. A Diesel read-modify-write in Rust is reported as RC304 "
                "(the ORM family's lost update); through sqlx or tokio-postgres it is RC201."
            ),
        ),
    },
    "RC302": {
        "javascript": LanguageExamples(
            not_applicable=(
                "`select_for_update()` is Django's. In Node, `SELECT ... FOR UPDATE` outside "
                "`BEGIN`/`COMMIT` locks nothing past its own statement, and the SELECT-then-UPDATE it was "
                "meant to protect is RC201."
            ),
        ),
        "rust": LanguageExamples(
            not_applicable=(
                "`select_for_update()` is Django's. In Rust, `SELECT ... FOR UPDATE` outside `pool.begin()` "
                "/ `commit()` locks nothing past its own statement, and the SELECT-then-UPDATE it was meant "
                "to protect is RC201."
            ),
        ),
    },
    "RC303": {
        "javascript": LanguageExamples(
            filename="newsletter.ts",
            racy=snippet(
                """
                import express from "express";
                import { PrismaClient } from "@prisma/client";

                // schema.prisma: model Subscriber { id Int @id @default(autoincrement())
                //                                    email String }
                const prisma = new PrismaClient();
                const app = express();

                app.post("/newsletter", async (req, res) => {
                  const existing = await prisma.subscriber.findFirst({ where: { email: req.body.email } });
                  if (!existing) {
                    await prisma.subscriber.create({ data: { email: req.body.email } });
                  }
                  res.json({ created: !existing });
                });
                """
            ),
            fixed=snippet(
                """
                import express from "express";
                import { Prisma, PrismaClient } from "@prisma/client";

                // schema.prisma: model Subscriber { id Int @id @default(autoincrement())
                //                                    email String @unique }
                const prisma = new PrismaClient();
                const app = express();

                app.post("/newsletter", async (req, res) => {
                  try {
                    await prisma.subscriber.create({ data: { email: req.body.email } });
                  } catch (err) {
                    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
                      return res.json({ created: false });
                    }
                    throw err;
                  }
                  res.json({ created: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="newsletter.rs",
            fix=(
                "Declare the column unique (a UNIQUE index in the migration) and insert with "
                "`.on_conflict(column).do_nothing()`, or answer `DatabaseErrorKind::UniqueViolation` with "
                "409, instead of checking first."
            ),
            racy=snippet(
                """
                use diesel::prelude::*;
                use diesel::r2d2::{ConnectionManager, Pool};

                // migration: CREATE TABLE subscribers (id SERIAL PRIMARY KEY, email TEXT NOT NULL);
                diesel::table! { subscribers (id) { id -> Int4, email -> Text, } }

                pub fn join_newsletter(
                    pool: &Pool<ConnectionManager<PgConnection>>,
                    address: &str,
                ) -> QueryResult<bool> {
                    use self::subscribers::dsl::*;
                    let mut conn = pool.get().expect("connection");
                    let existing: Option<i32> = subscribers
                        .filter(email.eq(address))
                        .select(id)
                        .first(&mut conn)
                        .optional()?;
                    if existing.is_none() {
                        diesel::insert_into(subscribers).values(email.eq(address)).execute(&mut conn)?;
                    }
                    Ok(existing.is_none())
                }
                """
            ),
            fixed=snippet(
                """
                use diesel::prelude::*;
                use diesel::r2d2::{ConnectionManager, Pool};

                // migration: CREATE TABLE subscribers (id SERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE);
                diesel::table! { subscribers (id) { id -> Int4, email -> Text, } }

                pub fn join_newsletter(
                    pool: &Pool<ConnectionManager<PgConnection>>,
                    address: &str,
                ) -> QueryResult<bool> {
                    use self::subscribers::dsl::*;
                    let mut conn = pool.get().expect("connection");
                    let inserted = diesel::insert_into(subscribers)
                        .values(email.eq(address))
                        .on_conflict(email)
                        .do_nothing()
                        .execute(&mut conn)?;
                    Ok(inserted == 1)
                }
                """
            ),
        ),
    },
    "RC304": {
        "javascript": LanguageExamples(
            not_applicable=(
                "SQLAlchemy exists only in Python. A read-modify-save through Prisma, Sequelize or TypeORM "
                "in Node is reported as RC301; through pg or mysql2 it is RC201."
            ),
        ),
        # Diesel's read-modify-write is reported under RC304, the ORM family's lost update.
        "rust": LanguageExamples(
            filename="withdraw_diesel.rs",
            fix=(
                "Write with one guarded update that the database checks "
                "(`diesel::update(t.filter(id.eq(x)).filter(balance.ge(n))).set(balance.eq(balance - n))`, "
                "then check the row count), or lock the row with `.for_update()` inside "
                "`conn.transaction(..)`."
            ),
            racy=snippet(
                """
                use diesel::prelude::*;

                diesel::table! { accounts (id) { id -> Int8, balance -> Int8, } }

                pub fn withdraw(conn: &mut PgConnection, account: i64, amount: i64) -> QueryResult<bool> {
                    use self::accounts::dsl::*;
                    let current: i64 = accounts.find(account).select(balance).first(conn)?;
                    if current < amount {
                        return Ok(false);
                    }
                    diesel::update(accounts.find(account))
                        .set(balance.eq(current - amount))
                        .execute(conn)?;
                    Ok(true)
                }
                """
            ),
            fixed=snippet(
                """
                use diesel::prelude::*;

                diesel::table! { accounts (id) { id -> Int8, balance -> Int8, } }

                pub fn withdraw(conn: &mut PgConnection, account: i64, amount: i64) -> QueryResult<bool> {
                    use self::accounts::dsl::*;
                    // One statement decrements and re-checks the balance; 0 rows: this request lost.
                    let changed = diesel::update(accounts.filter(id.eq(account)).filter(balance.ge(amount)))
                        .set(balance.eq(balance - amount))
                        .execute(conn)?;
                    Ok(changed == 1)
                }
                """
            ),
        ),
    },
}
