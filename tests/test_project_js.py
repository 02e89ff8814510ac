"""JavaScript/TypeScript across files (issue 12): the project index resolves `import`/`export`,
`require`/`module.exports`, routers mounted in other files, NestJS controllers and the services
injected into them, and `schema.prisma`'s unique fields. Over the fixture projects
`tests/fixtures/projects/{nest_wallet,express_wallet,node_mounts}`, copied to a temporary
directory (so a test may edit them), through the CLI and the library."""

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
from race_mcp.roots import AllowedRoots

PROJECTS = Path(__file__).parent / "fixtures" / "projects"
Seen = tuple[str, str, str, str | None, str]  # (rule, path in the project, function, route, confidence)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(PROJECTS / name, target)
    return target


def _seen(findings: list[Finding], project: Path, rules: set[str] | None = None) -> set[Seen]:
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
        if rules is None or f.rule_id in rules
    }


def _analyze(project: Path, **kwargs: object) -> list[Finding]:
    report = analyze_paths([project], settings=Settings(jobs=1), **kwargs)  # type: ignore[arg-type]
    assert not report.errors, report.errors
    return list(report.findings)


def _cli(project: Path, tmp_path: Path) -> list[dict[str, object]]:
    env = {**os.environ, "RACE_MCP_CACHE_DIR": str(tmp_path / "cli-cache")}
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "analyze", str(project), "--format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    findings: list[dict[str, object]] = json.loads(done.stdout)["findings"]
    return findings


def _cli_seen(findings: list[dict[str, object]], project: Path, rules: set[str]) -> set[Seen]:
    root = project.resolve()
    return {
        (
            str(f["rule_id"]),
            Path(str(f["path"])).resolve().relative_to(root).as_posix(),
            str(f["function"]),
            f["route"] if isinstance(f["route"], str) else None,
            str(f["confidence"]),
        )
        for f in findings
        if f["rule_id"] in rules
    }


# -- NestJS: controller, injected services, Prisma schema ------------------------------------------

NEST_EXPECTED = {
    ("RC301", "src/wallet/wallet.service.ts", "WalletService.withdraw", "POST /wallet/:id/withdraw", "high"),
    # Two hops from the controller: the wallet service's injected ledger.
    ("RC101", "src/wallet/ledger.service.ts", "LedgerService.record", "POST /wallet/:id/withdraw", "high"),
    # `Subscriber.email` is unique nowhere: the absence check and the create race.
    ("RC303", "src/users/users.service.ts", "UsersService.subscribe", "POST /users/subscribe", "high"),
}


def test_nest_services_carry_their_controllers_routes_via_the_cli(tmp_path: Path) -> None:
    project = _copy("nest_wallet", tmp_path)
    findings = _cli(project, tmp_path)
    seen = _cli_seen(findings, project, {"RC101", "RC301", "RC303"})
    assert seen == NEST_EXPECTED
    reached = {f["reached_by"] for f in findings if f["function"] == "WalletService.withdraw"}
    assert reached == {"NestJS route POST /wallet/:id/withdraw"}


def test_nest_project_through_the_library(tmp_path: Path) -> None:
    project = _copy("nest_wallet", tmp_path)
    assert _seen(_analyze(project), project, {"RC101", "RC301", "RC303"}) == NEST_EXPECTED


def test_a_service_alone_has_no_route_and_prisma_uniqueness_unknown(tmp_path: Path) -> None:
    """Without the project (inline text), the service's findings are medium and routeless, and
    `email`'s uniqueness, declared in schema.prisma, is not known: signup and vote are RC303."""
    service = PROJECTS / "nest_wallet" / "src" / "users" / "users.service.ts"
    findings = analyze_source(service.read_text(), "users.service.ts")
    assert {(f.rule_id, f.function, f.route, f.confidence) for f in findings if f.rule_id == "RC303"} == {
        ("RC303", "UsersService.signup", None, "medium"),
        ("RC303", "UsersService.vote", None, "medium"),
        ("RC303", "UsersService.subscribe", None, "medium"),
    }


def test_without_the_schema_the_unique_checks_are_races_again(tmp_path: Path) -> None:
    project = _copy("nest_wallet", tmp_path)
    (project / "prisma" / "schema.prisma").unlink()
    racy = {f[2] for f in _seen(_analyze(project), project, {"RC303"})}
    assert racy == {"UsersService.signup", "UsersService.vote", "UsersService.subscribe"}


def test_p2002_handled_clears_a_create_on_a_field_the_schema_does_not_make_unique(tmp_path: Path) -> None:
    project = _copy("nest_wallet", tmp_path)
    service = project / "src" / "users" / "users.service.ts"
    text = service.read_text()
    handled = text.replace(
        "    return this.prisma.subscriber.create({ data: { email } });",
        "    try {\n      return await this.prisma.subscriber.create({ data: { email } });\n"
        '    } catch (err) {\n      if (err.code === "P2002") return null;\n      throw err;\n    }',
    )
    assert handled != text
    service.write_text(handled)
    assert not _seen(_analyze(project), project, {"RC303"})


# -- Express: routers in other files, handlers in controllers, services ----------------------------


def _handler(route: str) -> str:
    """How a finding names an inline route handler: by its route."""
    return f"{route} handler"


def _routed(route: str) -> tuple[str, str]:
    """An inline handler's (function, route) in a finding."""
    return _handler(route), route


EXPRESS_EXPECTED = {
    ("RC201", "controllers/wallet.js", "withdraw", "POST /api/wallet/:id/withdraw", "high"),
    # The read and the write in a repository module, the decision in the handler: one sequence.
    ("RC201", "controllers/transfers.js", "payOut", "POST /api/wallet/:id/payout", "high"),
    ("RC201", "routes/admin.cjs", *_routed("POST /admin/credits/:id/grant"), "high"),
    # A router factory's router, mounted as `app.use("/api/refunds", createRefundsRouter(pool))`:
    # the handler written inside the factory is named by its route, not by the factory.
    ("RC201", "routes/refunds.js", *_routed("POST /api/refunds/:orderId"), "high"),
    ("RC101", "services/coupons.ts", "redeem", "POST /api/coupons/:code/redeem", "high"),
}


def test_express_routes_mounted_in_app_js_via_the_cli(tmp_path: Path) -> None:
    project = _copy("express_wallet", tmp_path)
    findings = _cli(project, tmp_path)
    seen = _cli_seen(findings, project, {"RC101", "RC201"})
    assert seen == EXPRESS_EXPECTED
    # The guarded deposit is routed (RC601 may speak of it) but has no race.
    assert not [f for f in findings if f["function"] == "deposit" and f["rule_id"] == "RC201"]


def test_express_project_through_the_library(tmp_path: Path) -> None:
    project = _copy("express_wallet", tmp_path)
    assert _seen(_analyze(project), project, {"RC101", "RC201"}) == EXPRESS_EXPECTED


def test_a_controller_alone_is_reported_without_a_route(tmp_path: Path) -> None:
    controller = PROJECTS / "express_wallet" / "controllers" / "wallet.js"
    findings = analyze_source(controller.read_text(), "wallet.js")
    assert {(f.rule_id, f.function, f.route, f.confidence) for f in findings if f.rule_id == "RC201"} == {
        ("RC201", "withdraw", None, "medium")
    }


def test_a_handler_whose_store_calls_are_another_modules_races_only_in_the_project(tmp_path: Path) -> None:
    """`accounts.balanceOf` reads and `accounts.setBalance` writes (repositories/accounts.js);
    the check is the handler's. Each file alone shows nothing; the project shows the sequence,
    its evidence in the handler (at the calls that led into the repository)."""
    project = _copy("express_wallet", tmp_path)
    for name in ("controllers/transfers.js", "repositories/accounts.js"):
        alone = analyze_source((project / name).read_text(), Path(name).name)
        assert not [f for f in alone if f.rule_id == "RC201"], name
    found = [f for f in _analyze(project) if f.rule_id == "RC201" and f.function == "payOut"]
    assert len(found) == 1
    assert [(e.line, e.role) for e in found[0].evidence][-2:] == [(6, "check"), (7, "write")]
    assert {e.line for e in found[0].evidence} == {5, 6, 7}


# -- Fastify, Hono, Koa: prefixes given in another file --------------------------------------------


def test_fastify_hono_and_koa_prefixes_from_other_files(tmp_path: Path) -> None:
    project = _copy("node_mounts", tmp_path)
    assert _seen(_analyze(project), project, {"RC101"}) == {
        ("RC101", "src/fastify/wallet.ts", *_routed("POST /v1/wallet/:id/withdraw"), "high"),
        ("RC101", "src/hono/seats.ts", *_routed("POST /api/seats/:seat/hold"), "high"),
        ("RC101", "src/koa/stock/router.js", *_routed("POST /v2/api/stock/:item/take"), "high"),
    }


# -- the cache and the roots -----------------------------------------------------------------------


def test_the_cache_is_invalidated_when_a_javascript_file_changes(tmp_path: Path) -> None:
    project = _copy("express_wallet", tmp_path)
    cache = FactsCache(tmp_path / "index-cache")
    first = ProjectIndex.for_path(project, cache=cache, memo=False, languages=["javascript"])
    assert first.stats.extracted == first.stats.files > 0
    again = ProjectIndex.for_path(project, cache=FactsCache(tmp_path / "index-cache"), memo=False,
                                  languages=["javascript"])  # fmt: skip
    assert (again.stats.extracted, again.stats.cached) == (0, first.stats.files)

    routes = project / "routes" / "wallet.js"
    routes.write_text(routes.read_text().replace('"/:id/withdraw"', '"/:id/take"'))
    changed = ProjectIndex.for_path(project, cache=FactsCache(tmp_path / "index-cache"), memo=False,
                                    languages=["javascript"])  # fmt: skip
    assert [Path(p).name for p in changed.stats.extracted_paths] == ["wallet.js"]
    assert changed.stats.extracted_paths == [str(routes)]
    # And an analysis after the edit (warm cache, in-process memo) sees the new route.
    _analyze(project)
    routes.write_text(routes.read_text().replace('"/:id/take"', '"/:id/debit"'))
    routes_seen = {f[3] for f in _seen(_analyze(project), project, {"RC201"}) if f[2] == "withdraw"}
    assert routes_seen == {"POST /api/wallet/:id/debit"}


def test_a_symlink_leaving_the_roots_is_never_followed(tmp_path: Path) -> None:
    """A router reached through a link to a file outside the allowed roots: that file is not read
    (its route stays unknown), while a link inside the roots is followed."""
    project = _copy("express_wallet", tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "coupons.ts").write_text((project / "services" / "coupons.ts").read_text())
    (project / "services" / "coupons.ts").unlink()
    (project / "services" / "coupons.ts").symlink_to(outside / "coupons.ts")
    findings = _analyze(project, roots=AllowedRoots([project]))
    assert not [f for f in findings if "coupons" in f.path]
    index = ProjectIndex.for_path(project, boundary=AllowedRoots([project]), cache=False, memo=False,
                                  languages=["javascript"])  # fmt: skip
    assert not [p for p in index.language_files if "outside" in p or p.endswith("coupons.ts")]

    # Inside the roots, the same link is followed: the route reaches the service again.
    inside = project / "vendor"
    inside.mkdir()
    (project / "services" / "coupons.ts").unlink()
    (inside / "coupons.ts").write_text((outside / "coupons.ts").read_text())
    (project / "services" / "coupons.ts").symlink_to(inside / "coupons.ts")
    seen = _seen(_analyze(project, roots=AllowedRoots([project])), project, {"RC101"})
    assert ("RC101", "vendor/coupons.ts", "redeem", "POST /api/coupons/:code/redeem", "high") in seen


def test_hostile_projects_cost_bounded_time_and_never_fail_the_index(tmp_path: Path) -> None:
    """Files that star-export each other (fan-out at every hop, cycles), a router mounted in a
    cycle, and a file nested too deeply to lower: the index answers, the run ends, and the deep
    file's own analysis is what reports it."""
    import time

    project = tmp_path / "hostile"
    project.mkdir()
    (project / "package.json").write_text("{}")
    names = [f"m{i}" for i in range(30)]
    for name in names:
        stars = "".join(f'export * from "./{other}.js";\n' for other in names if other != name)
        (project / f"{name}.js").write_text(stars)
    (project / "app.js").write_text(
        'import express from "express";\nimport { missing } from "./m0.js";\nimport loop from "./loop.js";\n'
        'const app = express();\napp.use("/a", loop);\napp.post("/x", missing);\n'
    )
    (project / "loop.js").write_text(
        'import express from "express";\nimport app from "./loop.js";\nconst router = express.Router();\n'
        'router.use("/again", router);\nconst m = new Map();\n'
        'router.post("/y", async (req, res) => { const v = m.get(1); await req.x; m.set(1, v + 1); });\n'
        "export default router;\n"
    )
    (project / "deep.js").write_text("app.use((req, res) => " + "[" * 3000 + "]" * 3000 + ");\n")
    started = time.perf_counter()
    report = analyze_paths([project], settings=Settings(jobs=1))
    assert time.perf_counter() - started < 60
    assert {error.path for error in report.errors} <= {str(project / "deep.js")}
    routes = {f.route for f in report.findings if f.path.endswith("loop.js")}
    assert routes == {"POST /a/y"}


def test_worker_processes_see_the_same_cross_file_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import race_mcp.analyzer as analyzer

    monkeypatch.setattr(analyzer, "_PARALLEL_THRESHOLD", 1)  # the fixture is smaller than a pool's worth
    project = _copy("express_wallet", tmp_path)
    report = analyze_paths([project], settings=Settings(jobs=2))
    assert not report.errors
    assert _seen(list(report.findings), project, {"RC101", "RC201"}) == EXPRESS_EXPECTED
