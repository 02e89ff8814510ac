"""Rust across files (issue 12): Axum routes registered in `main.rs` (and nested routers of other
modules) make entry points of handlers in other modules, through `mod x;`, `use crate::...`,
`self::`/`super::`, use lists, globs and `pub use`. Over `tests/fixtures/projects/axum_wallet`,
copied to a temporary directory, through the CLI and the library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from race_mcp import analyze_paths, analyze_source
from race_mcp.analyzer.project import FactsCache, ProjectIndex
from race_mcp.config import Settings
from race_mcp.findings import Finding

PROJECTS = Path(__file__).parent / "fixtures" / "projects"
EXPECTED = {
    ("RC102", "src/handlers.rs", "withdraw", "POST /wallet/withdraw", "high"),
    ("RC201", "src/api/orders.rs", "pay", "POST /api/orders/:id/pay", "high"),
    # A plain helper of another module the deposit handler calls: on the handler's worker thread.
    ("RC102", "src/ledger.rs", "record", "POST /wallet/deposit", "high"),
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "axum_wallet"
    shutil.copytree(PROJECTS / "axum_wallet", target)
    return target


def _seen(findings: list[Finding], project: Path) -> set[tuple[str, str, str, str | None, str]]:
    root = project.resolve()
    return {
        (
            f.rule_id,
            Path(f.path).resolve().relative_to(root).as_posix(),
            f.function or "",
            f.route,
            f.confidence,
        )
        for f in findings
        if f.rule_id in ("RC101", "RC102", "RC201")
    }


def _analyze(project: Path) -> list[Finding]:
    report = analyze_paths([project], settings=Settings(jobs=1))
    assert not report.errors, report.errors
    return list(report.findings)


def test_handlers_routed_in_main_rs_via_the_cli(project: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "analyze", str(project), "--format", "json"],
        cwd=project,
        env={**os.environ, "RACE_MCP_CACHE_DIR": str(tmp_path / "cli-cache")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    findings = [Finding.model_validate(f) for f in json.loads(done.stdout)["findings"]]
    assert _seen(findings, project) == EXPECTED
    reached = {f.reached_by for f in findings if f.function == "withdraw" and f.rule_id == "RC102"}
    assert reached == {"Axum route POST /wallet/withdraw"}


def test_the_library_sees_the_same_routes_and_no_race_in_the_safe_handlers(project: Path) -> None:
    findings = _analyze(project)
    assert _seen(findings, project) == EXPECTED
    # `deposit` (one fetch_add) and `refund_guarded` (a guarded UPDATE whose count is read) are routed
    # (RC601 may speak of them) and race nowhere.
    quiet = {f.rule_id for f in findings if f.function in ("deposit", "refund_guarded", "balance")}
    assert not quiet & {"RC101", "RC102", "RC201"}


def test_a_handler_file_alone_has_no_route(project: Path) -> None:
    source = (project / "src" / "handlers.rs").read_text()
    findings = analyze_source(source, "handlers.rs")
    assert {(f.rule_id, f.function, f.route, f.confidence) for f in findings} == {
        ("RC102", "withdraw", None, "medium")
    }


def test_a_helper_module_alone_is_not_a_root(project: Path) -> None:
    """Without the project, a synchronous helper touching only in-process state is run by nobody
    the file shows: no finding. Reached from a routed handler, it is (see EXPECTED)."""
    assert analyze_source((project / "src" / "ledger.rs").read_text(), "ledger.rs") == []


def test_glob_imports_pub_use_and_super_paths_resolve(project: Path) -> None:
    """`use crate::api::*` then `post(checkout)`, where `api` re-exports `orders::pay` as `checkout`
    with `pub use`, and a route module naming its sibling through `super::`."""
    (project / "src" / "api" / "mod.rs").write_text(
        (project / "src" / "api" / "mod.rs")
        .read_text()
        .replace("pub mod orders;", "pub mod orders;\npub mod extra;\npub use orders::pay as checkout;")
    )
    (project / "src" / "api" / "extra.rs").write_text(
        "use axum::routing::post;\nuse axum::Router;\n\n"
        'pub fn routes() -> Router {\n    Router::new().route("/again", post(super::orders::pay))\n}\n'
    )
    main = project / "src" / "main.rs"
    main.write_text(
        main.read_text()
        .replace(
            "use crate::handlers::{self, deposit};",
            "use crate::handlers::{self, deposit};\nuse crate::api::*;",
        )
        .replace(
            '.nest("/api", api::routes())',
            '.route("/checkout", post(checkout))\n        .nest("/x", api::extra::routes())',
        )
    )
    index = ProjectIndex.for_path(project, cache=False, memo=False, languages=["rust"])
    orders = str((project / "src" / "api" / "orders.rs").resolve())
    # `api::routes()` is no longer nested under /api: its own registrations stand unprefixed.
    assert {(e.qualname, e.route) for e in index.cross_file.entry_points(orders)} == {
        ("pay", "POST /checkout"),
        ("pay", "POST /x/again"),
        ("pay", "POST /orders/:id/pay"),
        ("refund_guarded", "POST /orders/:id/refund"),
    }
    racy = [f for f in _analyze(project) if f.function == "pay" and f.rule_id == "RC201"]
    assert len(racy) == 1 and racy[0].route in {"POST /checkout", "POST /x/again", "POST /orders/:id/pay"}


def test_the_cache_is_invalidated_when_a_rust_file_changes(project: Path, tmp_path: Path) -> None:
    def build() -> ProjectIndex:
        return ProjectIndex.for_path(
            project, cache=FactsCache(tmp_path / "idx"), memo=False, languages=["rust"]
        )

    first = build()
    assert first.stats.extracted == first.stats.files == 5
    assert build().stats.extracted == 0
    main = project / "src" / "main.rs"
    main.write_text(main.read_text().replace('"/wallet/withdraw"', '"/wallet/take"'))
    changed = build()
    assert changed.stats.extracted_paths == [str(main)]
    handlers = str((project / "src" / "handlers.rs").resolve())
    assert "POST /wallet/take" in {e.route for e in changed.cross_file.entry_points(handlers)}
    # The analysis after the edit reports the new route.
    routes = {f.route for f in _analyze(project) if f.function == "withdraw" and f.rule_id == "RC102"}
    assert routes == {"POST /wallet/take"}


def test_actix_scopes_services_and_configure_in_main_rs(tmp_path: Path) -> None:
    """actix-web: a route macro's handler registered with `web::scope("/api").service(h)`, a
    `.configure(admin::config)` under the same scope, and `.route(.., web::post().to(h))`."""
    project = tmp_path / "actix_wallet"
    shutil.copytree(PROJECTS / "actix_wallet", project)
    findings = _analyze(project)
    assert _seen(findings, project) == {
        ("RC102", "src/handlers.rs", "withdraw", "POST /api/withdraw", "high"),
        ("RC102", "src/handlers.rs", "deposit", "POST /deposit", "high"),
        ("RC102", "src/admin.rs", "grant", "POST /api/grant", "high"),
    }
    # Alone, the macro's own path is all the file knows.
    alone = analyze_source((project / "src" / "handlers.rs").read_text(), "handlers.rs")
    assert {(f.function, f.route) for f in alone if f.rule_id == "RC102"} == {
        ("withdraw", "POST /withdraw"),
        ("deposit", None),
    }
