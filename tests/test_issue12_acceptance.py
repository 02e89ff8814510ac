"""Issue 12 acceptance audit: what a user of the JavaScript/TypeScript and Rust front-ends reads.

A finding's fix, a refused file's error and a patch's guidance speak the file's own language (no
`transact_write_items` or `with conn:` in a Node file, no "not Python source" for a binary `.js`),
guidance code stays readable in the CLI, and the MCP tools say which languages they take.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from race_mcp.cli import main
from race_mcp.server._analyze import ANALYZE_FILE_DESCRIPTION
from race_mcp.server._openapi import CHECK_OPENAPI_DESCRIPTION
from race_mcp.server._patch import PROPOSE_PATCH_DESCRIPTION

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer"
# API names only Python code writes: a fix naming one is the shared (Python) text leaking through.
PYTHON_ONLY = re.compile(
    r"asyncio|threading\.|`with conn:`|IntegrityError|select_for_update|transaction\.atomic|"
    r"with_for_update|transact_write_items`|create_index\(|DuplicateKeyError|os\.makedirs|"
    r"FileExistsError|get_or_create|unique=True"
)
RACY_SIGNUP = """\
const mongoose = require("mongoose");
const express = require("express");
const User = mongoose.model("User", new mongoose.Schema({ email: String }));
const app = express();
app.post("/signup", async (req, res) => {
  const existing = await User.findOne({ email: req.body.email });
  if (existing) throw new Error("Email taken");
  await User.create({ email: req.body.email });
});
"""


@pytest.mark.parametrize("language", ["js", "rust"])
def test_every_fix_of_the_corpus_speaks_the_files_language(language: str) -> None:
    report = analyze_paths([FIXTURES / language])
    rules = {finding.rule_id for finding in report.findings}
    assert {"RC202", "RC403"} <= rules  # the two whose shared text named Python's APIs
    leaks = {(f.rule_id, f.fix) for f in report.findings if PYTHON_ONLY.search(f.fix)}
    assert not leaks, leaks


def test_javascript_rc403_names_the_transaction_command() -> None:
    report = analyze_paths([FIXTURES / "js"])
    fixes = {f.fix for f in report.findings if f.rule_id == "RC403"}
    assert fixes and all("TransactWriteItemsCommand" in fix for fix in fixes)


@pytest.mark.parametrize(
    ("name", "language"),
    [("handler.js", "JavaScript/TypeScript"), ("handler.tsx", "JavaScript/TypeScript"), ("main.rs", "Rust")],
)
def test_a_binary_file_is_refused_in_its_own_language(
    name: str, language: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x7fELF\x00\x01\x02" + bytes(range(256)))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"race-mcp: error[binary-file]: {path}: binary file (contains NUL bytes), not {language} source"
    ]


def test_patch_guidance_code_keeps_its_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "signup.js"
    path.write_text(RACY_SIGNUP)
    assert main(["patch", str(path)]) == 1
    out = capsys.readouterr().out
    assert "\\n" not in out  # no escaped newline inside the guidance
    assert "\n      try {\n" in out  # the JavaScript example, one statement a line, indented
    assert "RC802 no patch: Declare the looked-up field unique" in out


def test_mcp_tools_name_the_languages_they_take() -> None:
    for description in (ANALYZE_FILE_DESCRIPTION, PROPOSE_PATCH_DESCRIPTION, CHECK_OPENAPI_DESCRIPTION):
        assert "JavaScript/TypeScript" in description and "Rust" in description


@pytest.mark.parametrize("language", ["js", "rust"])
def test_titles_name_no_python_api(language: str) -> None:
    titles = {(f.rule_id, f.title) for f in analyze_paths([FIXTURES / language]).findings}
    python_names = re.compile(r"SQLAlchemy|Django|get_or_create|find_one|insert_one|update_one")
    assert not {pair for pair in titles if python_names.search(pair[1])}


def test_the_summary_table_shows_the_languages_title(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signup.js"
    path.write_text(RACY_SIGNUP)
    assert main(["analyze", str(path)]) == 1
    table_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("RC802 "))
    assert table_row.endswith("then create / insertOne, with no unique index to back it")


PURCHASE = """\
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
const client = new DynamoDBClient({});
export async function purchaseWithGiftCard(cardId, merchantId, amount) {
  const card = await client.send(new GetItemCommand({ TableName: "GiftCards", Key: { id: { S: cardId } } }));
  if (Number(card.Item.balance.N) < amount) throw new Error("insufficient");
  await client.send(new UpdateItemCommand({
    TableName: "GiftCards", Key: { id: { S: cardId } },
    UpdateExpression: "SET balance = balance - :amt",
    ExpressionAttributeValues: { ":amt": { N: amount.toString() } },
  }));
  await client.send(new UpdateItemCommand({
    TableName: "MerchantSales", Key: { id: { S: merchantId } },
    UpdateExpression: "SET total = total + :amt",
    ExpressionAttributeValues: { ":amt": { N: amount.toString() } },
  }));
}
"""


def test_seed_004_purchase_gets_its_transaction_and_keeps_the_read_race(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 004's two items written apart become one TransactWriteItemsCommand (git apply-clean);
    the balance read and checked in JavaScript still races inside it (RC401/RC402 stay, as guidance)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "purchase.mjs").write_text(PURCHASE)
    monkeypatch.chdir(tmp_path)
    assert main(["patch", "purchase.mjs", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [p["rule_id"] for p in report["patches"]] == ["RC403"]
    assert {u["rule_id"] for u in report["unpatched"]} == {"RC401", "RC402"}
    (tmp_path / "fix.diff").write_text(report["diff"])
    subprocess.run(["git", "apply", "--check", "fix.diff"], cwd=tmp_path, check=True)
    subprocess.run(["git", "apply", "fix.diff"], cwd=tmp_path, check=True)
    patched = (tmp_path / "purchase.mjs").read_text()
    assert "new TransactWriteItemsCommand({" in patched and "TransactWriteItemsCommand }" in patched
    rules = sorted(f.rule_id for f in analyze_paths([tmp_path / "purchase.mjs"]).findings)
    assert rules == ["RC401", "RC402"]
