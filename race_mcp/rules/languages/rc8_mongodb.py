"""RC8xx MongoDB in JavaScript/TypeScript and Rust. MongoDB: mongoose and the `mongodb` crate. Keyed by rule
id; `race_mcp.rules` attaches each entry to its rule (`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC801": {
        "javascript": LanguageExamples(
            filename="coupons-mongo.js",
            racy=snippet(
                """
                const express = require("express");
                const mongoose = require("mongoose");
                const { requireIdempotencyKey } = require("./idempotency");

                const couponSchema = new mongoose.Schema({ code: String, uses: Number, maxUses: Number });
                const Coupon = mongoose.model("Coupon", couponSchema);
                const app = express();

                app.post("/coupons/:code/redeem", requireIdempotencyKey, async (req, res) => {
                  const coupon = await Coupon.findOne({ code: req.params.code });
                  if (coupon.uses >= coupon.maxUses) {
                    return res.status(409).json({ ok: false });
                  }
                  await Coupon.updateOne({ code: req.params.code }, { $set: { uses: coupon.uses + 1 } });
                  res.json({ ok: true });
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const mongoose = require("mongoose");
                const { requireIdempotencyKey } = require("./idempotency");

                const couponSchema = new mongoose.Schema({ code: String, uses: Number, maxUses: Number });
                const Coupon = mongoose.model("Coupon", couponSchema);
                const app = express();

                app.post("/coupons/:code/redeem", requireIdempotencyKey, async (req, res) => {
                  // The filter re-checks the limit in the same operation that counts the use.
                  const coupon = await Coupon.findOneAndUpdate(
                    { code: req.params.code, $expr: { $lt: ["$uses", "$maxUses"] } },
                    { $inc: { uses: 1 } },
                    { new: true },
                  );
                  if (!coupon) {
                    return res.status(409).json({ ok: false });
                  }
                  res.json({ ok: true });
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="coupons_mongo.rs",
            fix=(
                'Put what the decision read into `update_one`\'s filter (`doc! { "code": code, "uses": { '
                '"$lt": max } }`) and check `modified_count`, or use `find_one_and_update` with the guard '
                "in its filter."
            ),
            gap=(
                "the `mongodb` crate is not recognised yet (MongoDB is recognised in Python and JavaScript)."
            ),
            racy=snippet(
                """
                use mongodb::bson::{doc, Document};
                use mongodb::Collection;

                pub async fn redeem(
                    coupons: &Collection<Document>,
                    code: &str,
                ) -> mongodb::error::Result<bool> {
                    let Some(coupon) = coupons.find_one(doc! { "code": code }).await? else {
                        return Ok(false);
                    };
                    let uses = coupon.get_i64("uses").unwrap_or(0);
                    if uses >= coupon.get_i64("max_uses").unwrap_or(0) {
                        return Ok(false);
                    }
                    coupons
                        .update_one(doc! { "code": code }, doc! { "$set": { "uses": uses + 1 } })
                        .await?;
                    Ok(true)
                }
                """
            ),
            fixed=snippet(
                """
                use mongodb::bson::{doc, Document};
                use mongodb::Collection;

                pub async fn redeem(
                    coupons: &Collection<Document>,
                    code: &str,
                ) -> mongodb::error::Result<bool> {
                    // The filter re-checks the limit in the same operation that counts the use.
                    let result = coupons
                        .update_one(
                            doc! { "code": code, "$expr": { "$lt": ["$uses", "$max_uses"] } },
                            doc! { "$inc": { "uses": 1 } },
                        )
                        .await?;
                    Ok(result.modified_count == 1)
                }
                """
            ),
        ),
    },
    "RC802": {
        "javascript": LanguageExamples(
            filename="users-mongo.js",
            racy=snippet(
                """
                const express = require("express");
                const mongoose = require("mongoose");

                const User = mongoose.model("User", new mongoose.Schema({ email: String, name: String }));
                const app = express();

                app.post("/users", async (req, res) => {
                  const { email, name } = req.body;
                  const existing = await User.findOne({ email });
                  if (existing) {
                    return res.status(409).json({ error: "email taken" });
                  }
                  await User.create({ email, name });
                  res.status(201).end();
                });
                """
            ),
            fixed=snippet(
                """
                const express = require("express");
                const mongoose = require("mongoose");

                const userSchema = new mongoose.Schema({
                  email: { type: String, unique: true },
                  name: String,
                });
                const User = mongoose.model("User", userSchema);
                const app = express();

                app.post("/users", async (req, res) => {
                  const { email, name } = req.body;
                  try {
                    await User.create({ email, name });
                  } catch (err) {
                    if (err.code === 11000) {
                      return res.status(409).json({ error: "email taken" });
                    }
                    throw err;
                  }
                  res.status(201).end();
                });
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="users_mongo.rs",
            fix=(
                "Create a unique index on the looked-up field (`IndexOptions::builder().unique(true)`) and "
                "insert directly, answering duplicate-key error 11000 with 409, instead of checking with "
                "`find_one` first."
            ),
            gap=(
                "the `mongodb` crate is not recognised yet (MongoDB is recognised in Python and JavaScript)."
            ),
            racy=snippet(
                """
                use mongodb::bson::{doc, Document};
                use mongodb::Collection;

                pub async fn sign_up(
                    users: &Collection<Document>,
                    email: &str,
                ) -> mongodb::error::Result<bool> {
                    if users.find_one(doc! { "email": email }).await?.is_some() {
                        return Ok(false);
                    }
                    users.insert_one(doc! { "email": email }).await?;
                    Ok(true)
                }
                """
            ),
            fixed=snippet(
                """
                use mongodb::bson::{doc, Document};
                use mongodb::error::{ErrorKind, WriteFailure};
                use mongodb::options::IndexOptions;
                use mongodb::{Collection, IndexModel};

                pub async fn sign_up(
                    users: &Collection<Document>,
                    email: &str,
                ) -> mongodb::error::Result<bool> {
                    let unique = IndexOptions::builder().unique(true).build();
                    users
                        .create_index(IndexModel::builder().keys(doc! { "email": 1 }).options(unique).build())
                        .await?;
                    match users.insert_one(doc! { "email": email }).await {
                        Ok(_) => Ok(true),
                        Err(err) => match *err.kind {
                            ErrorKind::Write(WriteFailure::WriteError(ref e)) if e.code == 11000 => Ok(false),
                            _ => Err(err),
                        },
                    }
                }
                """
            ),
        ),
    },
}
