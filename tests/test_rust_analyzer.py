"""The Rust front-end end to end: the fixture corpus, seed 002, routes, suppression, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.core.languages import PartialAnalysis, language_for
from race_mcp.analyzer.rust.entrypoints import entry_points
from race_mcp.analyzer.rust.lower import lower_module
from race_mcp.cli import main
from race_mcp.errors import InputError

from .corpus import score_file

FIXTURES = Path(__file__).parent / "fixtures" / "analyzer" / "rust"
FILES = sorted(FIXTURES.glob("*.rs"))

SEED_RACY = """\
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

async fn bump(client: &Client, id: &str) -> Result<(), aws_sdk_dynamodb::Error> {
    let out = client.get_item().table_name("items").key("id", AttributeValue::S(id.into())).send().await?;
    let version = version_of(&out);
    client.put_item().table_name("items")
        .item("version", AttributeValue::N((version + 1).to_string())).send().await?;
    Ok(())
}
"""


def test_rs_files_go_to_the_rust_front_end() -> None:
    assert language_for("src/handlers.rs").name == "rust"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_corpus(path: Path) -> None:
    strict, _ = score_file(path)
    assert strict.problems == []
    assert strict.true_positives >= 2


def test_corpus_precision_and_recall() -> None:
    totals = [score_file(path)[0] for path in FILES]
    true_positives = sum(s.true_positives for s in totals)
    found = true_positives + sum(s.false_positives for s in totals)
    expected = true_positives + sum(s.false_negatives for s in totals)
    assert true_positives / found >= 0.95 and true_positives / expected >= 0.95


def test_seed_002_racy_and_its_fix() -> None:
    findings = analyze_source(SEED_RACY, "seed.rs")
    assert [(f.rule_id, f.line) for f in findings] == [("RC401", 5)]
    assert "items" in findings[0].message
    condition = '.condition_expression("#v = :seen").expression_attribute_names("#v", "version")'
    fixed = SEED_RACY.replace(".send().await?;\n    Ok", condition + ".send().await?;\n    Ok")
    assert analyze_source(fixed, "seed.rs") == []


def test_seed_002_fix_verbatim_is_clean() -> None:
    source = (FIXTURES / "RC4xx_dynamodb_axum.rs").read_text()
    start = source.index("async fn update_counter(")
    end = source.index("// The seed's racy counterpart")
    header = source[: source.index("struct AppState")]
    assert analyze_source(header + source[start:end], "fix.rs") == []


def test_axum_and_actix_routes() -> None:
    lowered = lower_module((FIXTURES / "RC4xx_dynamodb_axum.rs").read_text(), "a.rs")
    routes = {entry.qualname: (entry.route, entry.framework) for entry in entry_points(lowered)}
    assert routes["add_to_counter"] == ("POST /counters/:id", "axum")
    assert routes["withdraw_guarded"] == ("PUT /accounts/:id/withdraw", "axum")
    assert routes["register"] == ("POST /users/:id", "axum")  # nested under `.nest("/users", ...)`
    source = """
#[post("/orders")]
async fn create(data: web::Data<AppState>) -> impl Responder { HttpResponse::Ok() }
#[route("/orders/{id}", method = "PUT")]
async fn replace(data: web::Data<AppState>) -> impl Responder { HttpResponse::Ok() }
async fn remove(data: web::Data<AppState>) -> impl Responder { HttpResponse::Ok() }
async fn list(data: web::Data<AppState>) -> impl Responder { HttpResponse::Ok() }
fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/orders/{id}").route(web::delete().to(remove)));
    cfg.service(web::scope("/api").route("/orders", web::get().to(list)));
}
"""
    actix = {e.qualname: (e.route, e.framework) for e in entry_points(lower_module(source, "b.rs"))}
    assert actix == {
        "create": ("POST /orders", "actix-web"),
        "replace": ("PUT /orders/{id}", "actix-web"),
        "remove": ("DELETE /orders/{id}", "actix-web"),
        "list": ("GET /api/orders", "actix-web"),
    }


def test_in_process_findings_carry_the_route() -> None:
    findings = analyze_source((FIXTURES / "RC1xx_memory.rs").read_text(), "memory.rs")
    buy = next(f for f in findings if f.function == "buy")
    assert buy.rule_id == "RC102" and buy.confidence == "high"
    assert "Axum" in buy.message


def test_suppression_comment() -> None:
    read = ".send().await?;\n    let version"
    source = SEED_RACY.replace(read, ".send().await?; // race-mcp: ignore[RC401]\n    let version")
    assert analyze_source(source, "seed.rs") == []
    other = SEED_RACY.replace(read, ".send().await?; // race-mcp: ignore[RC501]\n    let version")
    assert [f.rule_id for f in analyze_source(other, "seed.rs")] == ["RC401"]


def test_syntax_error_keeps_the_usable_findings() -> None:
    broken = SEED_RACY + "\nfn broken( {\n"
    with pytest.raises(PartialAnalysis) as caught:
        analyze_source(broken, "broken.rs")
    assert caught.value.code == "syntax-error"
    assert [f.rule_id for f in caught.value.findings] == ["RC401"]
    assert isinstance(caught.value, InputError)


def test_directory_walk_skips_cargos_target(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text(SEED_RACY)
    # cargo's build output: generated sources under target/, marked by CACHEDIR.TAG (or, from
    # cargo versions that write none, by .rustc_info.json).
    for target, marker, text in (
        ("target", "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"),
        ("sub/target", ".rustc_info.json", "{}"),
    ):
        out = tmp_path / target / "debug" / "build" / "x" / "out"
        out.mkdir(parents=True)
        (out / "generated.rs").write_text(SEED_RACY)
        (tmp_path / target / marker).write_text(text)
    # A module that is only named `target` is the project's own source.
    (tmp_path / "src" / "target").mkdir()
    (tmp_path / "src" / "target" / "mod.rs").write_text(SEED_RACY)
    report = analyze_paths([tmp_path])
    analysed = sorted(Path(f.path).relative_to(tmp_path).as_posix() for f in report.findings)
    assert analysed == ["src/main.rs", "src/target/mod.rs"]
    assert report.summary.files_analyzed == 2


def test_cli_analyses_a_rust_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handler = tmp_path / "handler.rs"
    handler.write_text(SEED_RACY)
    status = main(["analyze", str(handler), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert status != 0
    assert [(f["rule_id"], f["line"]) for f in report["findings"]] == [("RC401", 5)]


def test_hostile_text_stays_cheap_and_deep_nesting_is_refused() -> None:
    """Receiver names and types are untrusted text: no pattern may re-scan them (a regular
    expression took 12 s on this receiver); nesting past the stack is a clean error."""
    receiver = "s" + "_con" * 20000
    state = "State<Arc<" + "A" * 100000 + ">>"
    source = f'use redis::Commands;\nasync fn f(State(s): {state}) {{ let v = {receiver}.get("k"); }}\n'
    started = time.perf_counter()
    assert analyze_source(source, "long.rs") == []
    assert time.perf_counter() - started < 5
    deep = "async fn f() { let x = " + "(" * 50000 + "1" + ")" * 50000 + "; }\n"
    with pytest.raises(InputError) as caught:
        analyze_source(deep, "deep.rs")
    assert caught.value.code == "too-deeply-nested"
