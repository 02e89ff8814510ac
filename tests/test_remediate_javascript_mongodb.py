"""RC8xx JavaScript/TypeScript fixers (mongoose, the mongodb driver): the decision moves into the
write's filter (`updateOne` with `matchedCount` checked, `save()` -> `findOneAndUpdate`), relative
changes become `$inc`; before/after text, re-analysis, git apply. RC802: guidance in JavaScript."""

from __future__ import annotations

from pathlib import Path

from race_mcp.analyzer import analyze_source
from race_mcp.remediate import propose_patches
from tests._remediate_helpers import dedent
from tests._remediate_js_helpers import fix_and_verify, guidance_for

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"

BUY_CJS = dedent(
    """
    const mongoose = require("mongoose");
    const express = require("express");

    const Product = mongoose.model("Product", new mongoose.Schema({ name: String, stock: Number }));
    const app = express();

    app.post("/products/:id/buy", async (req, res) => {
      const product = await Product.findById(req.params.id);
      if (product.stock < req.body.quantity) return res.status(409).send({ error: "sold out" });
      product.stock -= req.body.quantity;
      await product.save();
      res.send(product);
    });
    """
)

BUY_CJS_FIXED = BUY_CJS.replace(
    "  await product.save();\n",
    "  const updated = await Product.findOneAndUpdate("
    "{ _id: product._id, stock: { $gte: req.body.quantity } }, "
    "{ $inc: { stock: -req.body.quantity } }, { new: true });\n"
    '  if (!updated) return res.status(409).send({ error: "changed concurrently; retry" });\n',
)


def test_rc801_commonjs_save_becomes_a_guarded_find_one_and_update(tmp_path: Path) -> None:
    assert fix_and_verify(BUY_CJS, "shop.js", "RC801", None, tmp_path) == BUY_CJS_FIXED


PUBLISH_ESM = dedent(
    """
    import { MongoClient } from "mongodb";

    const db = new MongoClient(process.env.MONGO_URL).db("blog");

    export async function publish(id, editor) {
      const posts = db.collection("posts");
      const post = await posts.findOne({ _id: id });
      if (post.state !== "draft" || post.owner !== editor) throw new Error("cannot publish");
      await posts.updateOne({ _id: id }, { $set: { state: "published", publishedBy: editor } });
    }
    """
)


def test_rc801_esm_driver_state_transition_refusal_is_negated_into_the_filter(tmp_path: Path) -> None:
    patched = fix_and_verify(PUBLISH_ESM, "posts.mjs", "RC801", "publish", tmp_path)
    assert (
        "  const result = await posts.updateOne("
        '{ _id: id, state: { $eq: "draft" }, owner: { $eq: editor } }, '
        '{ $set: { state: "published", publishedBy: editor } });\n'
        '  if (result.matchedCount === 0) throw new Error("cannot publish");\n'
    ) in patched


def test_rc801_typescript_absolute_set_becomes_inc(tmp_path: Path) -> None:
    source = (FIXTURES / "RC8xx_driver.ts").read_text(encoding="utf-8")
    patched = fix_and_verify(source, "RC8xx_driver.ts", "RC801", "withdraw", tmp_path)
    assert (
        "  const result = await Wallet.updateOne({ _id: id, balance: { $gte: amount } }, "
        "{ $inc: { balance: -amount } });\n"
        '  if (result.matchedCount === 0) throw new Error("insufficient");\n'
    ) in patched


def test_rc801_two_fields_compared_pin_the_other_one(tmp_path: Path) -> None:
    source = (FIXTURES / "RC8xx_mongoose.js").read_text(encoding="utf-8")
    racy = sorted(f.line for f in analyze_source(source, "RC8xx_mongoose.js") if f.rule_id == "RC801")
    report = propose_patches(source, "RC8xx_mongoose.js", rule="RC801")
    assert [p.line for p in report.patches] == racy and len(racy) >= 2 and not report.unpatched
    assert report.patched_source is not None
    assert (
        "{ code: req.body.code, used: { $lt: coupon.max }, max: { $eq: coupon.max } }, { $inc: { used: 1 } }"
    ) in report.patched_source


def test_rc802_guidance_shows_a_unique_index_and_error_11000() -> None:
    source = (FIXTURES / "RC8xx_mongoose.js").read_text(encoding="utf-8")
    message = guidance_for(source, "RC8xx_mongoose.js", "RC802")
    assert "error.code === 11000" in message and "unique: true" in message


def test_rc801_replaced_document_is_guidance() -> None:
    source = PUBLISH_ESM.replace(
        '{ $set: { state: "published", publishedBy: editor } }', '{ ...post, state: "published" }'
    )
    message = guidance_for(source, "posts.mjs", "RC801", "publish")
    # The file uses the driver, not mongoose: the example is a collection's guarded updateOne.
    assert 'db.collection("coupons").updateOne(' in message and "$inc" in message
    assert "matchedCount === 0" in message and "Coupon.findOneAndUpdate(" not in message
