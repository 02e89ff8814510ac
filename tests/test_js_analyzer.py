"""The JavaScript/TypeScript front-end end to end: the fixture corpus per family (seeds 003 and 004
included), the language registry, syntax errors, suppressions, directory walks and the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.core.languages import PartialAnalysis, language_for
from race_mcp.errors import InputError
from tests.corpus import Score, read_expectations, score_file

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "js"
FILES = sorted(
    p
    for p in FIXTURES.iterdir()
    if p.suffix in (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts")
)
scored = cache(score_file)

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


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fixture_file_matches_its_markers(path: Path) -> None:
    strict, _ = scored(path)
    assert not strict.problems, "\n".join(strict.problems)


def test_corpus_precision_and_recall_per_family(capsys: pytest.CaptureFixture[str]) -> None:
    families: dict[str, Score] = defaultdict(Score)
    cases: dict[str, int] = defaultdict(int)
    for path in FILES:
        strict, _ = scored(path)
        families[path.name[:3] + "xx"].add(strict)
        expected = read_expectations(path.read_text(encoding="utf-8"))
        cases[path.name[:3] + "xx"] += len(expected.racy) + len(expected.safe_spans)
    with capsys.disabled():
        print("\njavascript family  cases  TP  FP  FN  precision  recall")
        for family, score in sorted(families.items()):
            print(
                f"javascript {family:6} {cases[family]:5} {score.true_positives:3} {score.false_positives:3}"
                f" {score.false_negatives:3}  {score.precision:9.2f}  {score.recall:6.2f}"
            )
    assert set(families) >= {"RC1xx", "RC2xx", "RC4xx", "RC5xx", "RC8xx"}
    for family, score in families.items():
        assert score.precision >= 0.95, f"{family} precision {score.precision:.2f}"
        assert score.recall >= 0.95, f"{family} recall {score.recall:.2f}"


def test_seed_003_findone_then_create_is_racy_and_its_fix_is_not() -> None:
    findings = analyze_source(RACY_SIGNUP, "signup.js")
    assert [(f.rule_id, f.line, f.route) for f in findings] == [("RC802", 6, "POST /signup")]
    fixed = RACY_SIGNUP.replace(
        "  const existing = await User.findOne({ email: req.body.email });\n"
        '  if (existing) throw new Error("Email taken");\n',
        "",
    )
    assert analyze_source(fixed, "signup.js") == []


def test_suppression_comment_silences_the_rule_it_names() -> None:
    line = '  if (existing) throw new Error("Email taken");'
    marked = RACY_SIGNUP.replace(line, line + " // race-mcp: ignore[RC802]")
    assert analyze_source(marked, "signup.js") == []
    other = RACY_SIGNUP.replace(line, line + " // race-mcp: ignore[RC101]")
    assert [f.rule_id for f in analyze_source(other, "signup.js")] == ["RC802"]


@pytest.mark.parametrize("suffix", [".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts"])
def test_every_javascript_suffix_goes_to_the_javascript_front_end(suffix: str) -> None:
    assert language_for(f"handler{suffix}").name == "javascript"
    assert [f.rule_id for f in analyze_source(RACY_SIGNUP, f"signup{suffix}")] == ["RC802"]


def test_unsupported_suffix_is_refused_with_a_stable_code() -> None:
    with pytest.raises(InputError) as raised:
        analyze_source("package main", "main.go")
    assert raised.value.code == "unsupported-language"
    assert language_for("<stdin>").name == "python"


def test_syntax_error_keeps_the_findings_of_the_usable_tree(tmp_path: Path) -> None:
    broken = RACY_SIGNUP + "\nfunction broken( {\n"
    with pytest.raises(PartialAnalysis) as raised:
        analyze_source(broken, "signup.js")
    assert raised.value.code == "syntax-error"
    assert "signup.js:11:" in str(raised.value)
    assert [f.rule_id for f in raised.value.findings] == ["RC802"]
    path = tmp_path / "signup.js"
    path.write_text(broken)
    report = analyze_paths([path])
    assert [f.rule_id for f in report.findings] == ["RC802"]
    assert [e.code for e in report.errors] == ["syntax-error"]


TYPED_RAW = """\
import { PrismaClient } from "@prisma/client";
import postgres from "postgres";
const prisma = new PrismaClient();
const sql = postgres();
export async function spend(id: number, amount: number) {
  const [row] = await prisma.$queryRaw<{ balance: number }[]>`SELECT balance FROM "Account" WHERE id = ${id}`;
  if (row.balance < amount) throw new Error("insufficient");
  await prisma.$executeRaw`UPDATE "Account" SET balance = ${row.balance - amount} WHERE id = ${id}`;
}
export async function take(id: number, user: string) {
  const [seat] = await sql<Seat>`SELECT holder FROM seats WHERE id = ${id}`;
  if (seat.holder) throw new Error("taken");
  await sql`UPDATE seats SET holder = ${user} WHERE id = ${id}`;
  return `<b>${user}</b>`;
}
"""


@pytest.mark.parametrize("suffix", [".ts", ".tsx", ".mts", ".cts"])
def test_tagged_templates_with_type_arguments_parse_as_calls(suffix: str) -> None:
    # The grammar reads `$queryRaw<Row[]>`...`` as an error and `sql<Seat>`...`` as two comparisons;
    # TypeScript reads both as tagged template calls, and so must the analysis (no syntax error).
    findings = analyze_source(TYPED_RAW, f"typed{suffix}")
    assert [(f.rule_id, f.line) for f in findings] == [("RC301", 6), ("RC201", 11)]


def test_directory_walk_takes_javascript_and_skips_dependencies_and_build_output(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "signup.ts").write_text(RACY_SIGNUP)
    for skipped in ("node_modules/lib", "dist", ".next/server"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "signup.js").write_text(RACY_SIGNUP)
    (tmp_path / "dist" / "signup.js.map").write_text("{}")
    report = analyze_paths([tmp_path])
    assert [(Path(f.path).name, f.rule_id) for f in report.findings] == [("signup.ts", "RC802")]
    assert report.summary.files_analyzed == 1


def test_cli_analyzes_an_mjs_handler(tmp_path: Path) -> None:
    path = tmp_path / "handler.mjs"
    path.write_text(RACY_SIGNUP.replace('require("mongoose")', 'require("mongoose")'))
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "analyze", str(path)], capture_output=True, text=True, check=False
    )
    assert "syntax error" not in done.stdout + done.stderr
    assert "RC802" in done.stdout


def test_python_analysis_does_not_import_tree_sitter() -> None:
    code = (
        "import sys\n"
        "from race_mcp import analyze_source\n"
        "analyze_source('import asyncio\\nasync def f():\\n    await asyncio.sleep(1)\\n', 'a.py')\n"
        "print(any(name.startswith('tree_sitter') for name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_fix_text_speaks_javascript() -> None:
    source = (
        'const express = require("express");\nconst app = express();\nconst seen = new Map();\n'
        'app.post("/r", async (req, res) => {\n  if (!seen.has(req.body.id)) {\n'
        "    await fetch(req.body.url);\n    seen.set(req.body.id, true);\n  }\n});\n"
    )
    (finding,) = analyze_source(source, "r.js")
    assert finding.rule_id == "RC101" and finding.route == "POST /r"
    assert "asyncio" not in finding.fix and "await" in finding.fix
    (mongo,) = analyze_source(RACY_SIGNUP, "signup.js")
    assert "11000" in mongo.fix and "create_index" not in mongo.fix


def test_node_budget_applies_to_javascript() -> None:
    from race_mcp.config import Settings

    with pytest.raises(InputError) as raised:
        analyze_source(RACY_SIGNUP, "signup.js", settings=Settings(max_file_nodes=50))
    assert raised.value.code == "too-many-nodes"
