"""The one directory walk (race_mcp/_walk.py), on real trees in tmp_path, and through every tool that uses it.

What is skipped is judged by evidence (a `build/` package is analysed, setuptools' `build/lib` is not),
counted per reason, and nothing whose resolved path leaves the boundary is ever opened: the links
out point at FIFOs as well as files, so a walk or an analysis that opened one would hang, not pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from race_mcp import AnalysisReport, analyze_paths
from race_mcp._walk import SourceWalk
from race_mcp.config import Settings
from race_mcp.render import render_text
from race_mcp.roots import AllowedRoots
from tests._mcp_helpers import RACE_MCP, RACY_ROUTE, RACY_SOURCE

SECRET = "TOP-SECRET-7f3a"  # in the outside file's racy line: it must never reach a report
SECRET_SOURCE = RACY_SOURCE.replace('if coupon["used"]:', f'if coupon["used"]:  # {SECRET}')
SPEC = """\
openapi: 3.1.0
info: {title: Coupons, version: "1"}
paths:
  /redeem/{code}:
    post:
      parameters:
        - {name: code, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: redeemed}
"""


def write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def walked(top: Path, **options: Any) -> tuple[list[str], dict[str, int], SourceWalk]:
    walk = SourceWalk(top, **options)
    files = [path.relative_to(top).as_posix() for path in walk]
    return files, dict(walk.skipped), walk


def outside_tree(base: Path) -> Path:
    """A directory beside the project: a secret racy file, a FIFO named like source, a package."""
    outside = base / "outside"
    write(outside / "secret.py", SECRET_SOURCE)
    os.mkfifo(outside / "fifo.py")
    write(outside / "pkg" / "mod.py", SECRET_SOURCE)
    return outside


def link_out(project: Path, outside: Path) -> None:
    """Every kind of link out: a file, a FIFO, a directory, /etc/passwd, a missing target."""
    (project / "secret.py").symlink_to(outside / "secret.py")
    (project / "fifo.py").symlink_to(outside / "fifo.py")
    (project / "vendor").symlink_to(outside / "pkg", target_is_directory=True)
    (project / "passwd.py").symlink_to("/etc/passwd")
    (project / "ghost.py").symlink_to(outside / "no-such-file.py")


# ------------------------------------------------------------------------------ build output by evidence


def test_packages_named_build_dist_testing_are_analysed(tmp_path: Path) -> None:
    for name in ("build", "dist", "testing", "venv"):
        write(tmp_path / name / "__init__.py")
        write(tmp_path / name / "core.py")
    files, skipped, _ = walked(tmp_path, default_exclude=Settings().default_exclude)
    assert files == [
        f"{name}/{module}"
        for name in ("build", "dist", "testing", "venv")
        for module in ("__init__.py", "core.py")
    ]
    assert skipped == {}


def test_build_output_is_skipped_by_what_it_holds(tmp_path: Path) -> None:
    write(tmp_path / "app.py")
    write(tmp_path / "build" / "lib" / "app.py")  # setuptools: build/lib, build/bdist.*
    write(tmp_path / "build" / "bdist.linux-x86_64" / "wheel" / "app.py")
    write(tmp_path / "pkg" / "build" / "lib.linux-x86_64-cpython-311" / "ext.py")
    (tmp_path / "dist").mkdir()  # only wheels and sdists
    (tmp_path / "dist" / "app-1.0-py3-none-any.whl").write_bytes(b"PK")
    (tmp_path / "dist" / "app-1.0.tar.gz").write_bytes(b"\x1f\x8b")
    write(tmp_path / "cmake-out" / "CMakeCache.txt", "")
    write(tmp_path / "cmake-out" / "gen.py")
    write(tmp_path / "tools" / "build" / "make_release.py")  # a plain folder of scripts named build
    files, skipped, _ = walked(tmp_path)
    assert files == ["app.py", "tools/build/make_release.py"]
    assert skipped == {"build-output": 4}


def test_virtualenvs_caches_and_installed_packages(tmp_path: Path) -> None:
    write(tmp_path / "app.py")
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr/bin\n")  # any name: evidence is pyvenv.cfg
    write(tmp_path / "env" / "lib" / "python3.11" / "site-packages" / "six.py")
    write(tmp_path / "env" / "lib" / "python3.11" / "site-packages" / "idna" / "core.py")
    write(tmp_path / "conda" / "conda-meta" / "history", "")
    write(tmp_path / "conda" / "lib" / "os.py")
    write(tmp_path / ".venv" / "lib" / "x.py")
    write(tmp_path / "web" / "node_modules" / "node-gyp" / "gyp" / "gyp_main.py")
    write(tmp_path / "vendored" / "site-packages" / "requests.py")
    write(tmp_path / "cache" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n")
    write(tmp_path / "cache" / "stored.py")
    write(tmp_path / "not-a-cache" / "CACHEDIR.TAG", "Signature: wrong\n")
    write(tmp_path / "not-a-cache" / "kept.py")
    write(tmp_path / "src" / "__pycache__" / "x.cpython-311.py")  # never counted: not source
    write(tmp_path / ".git" / "hooks" / "x.py")
    files, skipped, _ = walked(tmp_path)
    assert files == ["app.py", "not-a-cache/kept.py"]
    assert skipped == {
        "virtualenv": 4,
        "node-modules": 1,
        "installed-packages": 1,
        "cache": 1,
    }


def test_a_cachedir_tag_that_is_a_link_is_not_evidence(tmp_path: Path) -> None:
    real_tag = write(tmp_path / "elsewhere" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55")
    project = tmp_path / "project"
    write(project / "data" / "kept.py")
    (project / "data" / "CACHEDIR.TAG").symlink_to(real_tag)
    files, _, _ = walked(project)
    assert files == ["data/kept.py"]


def test_excludes_are_counted_apart_from_the_defaults(tmp_path: Path) -> None:
    write(tmp_path / "app.py")
    write(tmp_path / "tests" / "test_app.py")
    write(tmp_path / "tests" / "helpers.py")
    write(tmp_path / "test_top.py")
    write(tmp_path / "legacy" / "old.py")
    write(tmp_path / "legacy" / "older.py")
    settings = Settings(exclude=["legacy/*"])
    files, skipped, _ = walked(tmp_path, exclude=settings.exclude, default_exclude=settings.default_exclude)
    assert files == ["app.py"]
    assert skipped == {"exclude": 2, "default-exclude": 3}


def test_counting_stops_at_its_budget(tmp_path: Path) -> None:
    for number in range(30):
        write(tmp_path / "node_modules" / f"m{number}.py")
    write(tmp_path / "app.py")
    files, skipped, walk = walked(tmp_path, count_budget=10)
    assert files == ["app.py"]
    assert walk.partial and skipped == {"node-modules": 10}
    report = analyze_paths([tmp_path])
    assert report.summary.files_skipped == {"node-modules": 30}
    assert not report.summary.files_skipped_partial


# ------------------------------------------------------------------------------------ links and loops


def test_links_out_of_the_boundary_are_counted_and_never_opened(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    project = tmp_path / "project"
    write(project / "app.py")
    link_out(project, outside)
    # Without roots (the CLI), the boundary is the directory named.
    files, skipped, _ = walked(project)
    assert files == ["app.py"]
    assert skipped == {"outside-directory": 5}
    # With roots, the roots: the same links are outside them.
    files, skipped, _ = walked(project, roots=AllowedRoots([project]))
    assert (files, skipped) == (["app.py"], {"outside-roots": 5})


def test_links_inside_the_roots_are_followed_once(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "app" / "main.py")
    write(project / "shared" / "money.py")
    (project / "app" / "shared").symlink_to(project / "shared", target_is_directory=True)
    (project / "app" / "loop").symlink_to(project / "app", target_is_directory=True)
    (project / "app" / "again.py").symlink_to(project / "app" / "main.py")
    (project / "app" / "dangling.py").symlink_to(project / "app" / "gone.py")
    (project / "app" / "cycle_a.py").symlink_to(project / "app" / "cycle_b.py")
    (project / "app" / "cycle_b.py").symlink_to(project / "app" / "cycle_a.py")
    files, skipped, _ = walked(project / "app", roots=AllowedRoots([project]))
    assert files == ["again.py", "shared/money.py"]  # main.py is again.py's target: walked once
    assert skipped == {"already-walked": 2, "broken-symlink": 3}
    # Without roots the sibling `shared/` is outside the named directory.
    files, skipped, _ = walked(project / "app")
    assert files == ["again.py"]
    assert skipped == {"outside-directory": 1, "already-walked": 2, "broken-symlink": 3}


def test_a_named_directory_outside_the_roots_yields_nothing(tmp_path: Path) -> None:
    write(tmp_path / "outside" / "secret.py", SECRET_SOURCE)
    files, skipped, _ = walked(tmp_path / "outside", roots=AllowedRoots([tmp_path / "project"]))
    assert (files, skipped) == ([], {"outside-roots": 1})


def test_a_directory_that_vanishes_mid_walk_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.py")
    write(tmp_path / "sub" / "b.py")
    walk = SourceWalk(tmp_path)
    files = iter(walk)
    assert next(files) == tmp_path / "a.py"  # a directory's files come before its subdirectories
    shutil.rmtree(tmp_path / "sub")
    assert list(files) == []
    assert [(error.path, error.code) for error in walk.errors] == [(str(tmp_path / "sub"), "read-failed")]
    assert "cannot list directory" in walk.errors[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists every directory")
def test_a_directory_that_cannot_be_listed_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "app.py")
    locked = tmp_path / "locked"
    write(locked / "hidden.py")
    locked.chmod(0)
    try:
        report = analyze_paths([tmp_path])
    finally:
        locked.chmod(0o755)
    assert [(error.path, error.code) for error in report.errors] == [(str(locked), "permission-denied")]


# ---------------------------------------------------------------------------------------- the report


def test_report_counts_skipped_files_and_warns_about_empty_paths(tmp_path: Path) -> None:
    write(tmp_path / "app" / "main.py", RACY_SOURCE)
    write(tmp_path / "app" / ".venv" / "lib" / "x.py")
    write(tmp_path / "app" / "tests" / "test_main.py")
    write(tmp_path / "migrations" / "0001_initial.py")
    write(tmp_path / "migrations" / "0002_more.py")
    report = analyze_paths([tmp_path])
    assert report.summary.files_skipped == {"default-exclude": 3, "virtualenv": 1}
    assert report.summary.warnings == []
    only_migrations = analyze_paths([tmp_path / "migrations"], settings=Settings(default_exclude=["0*.py"]))
    assert only_migrations.summary.warnings == [
        f"{tmp_path / 'migrations'}: no Python, JavaScript/TypeScript or Rust files to analyse; "
        "2 skipped: 2 as tests or migrations (default_exclude)"
    ]
    text = render_text(report)
    assert text.splitlines()[-2:] == [
        "Skipped 4 files: 3 as tests or migrations (default_exclude), 1 in virtualenvs.",
        "Found 1 finding (1 high) in 1 file analyzed.",
    ]


def test_the_skip_line_says_when_counts_are_lower_bounds() -> None:
    report = AnalysisReport.build(
        [],
        [],
        files_analyzed=3,
        files_skipped={"node-modules": 1200, "exclude": 4},
        files_skipped_partial=True,
    )
    assert render_text(report) == (
        "Skipped at least 1,204 files: 1,200 in node_modules, 4 by exclude patterns.\n"
        "No findings in 3 files analyzed.\n"
    )


# ---------------------------------------------------------------------- the tools, as their users run them


@pytest.fixture
def escaping_project(tmp_path: Path) -> Path:
    """A workspace whose source directory links out to a secret, a FIFO, /etc/passwd and a package."""
    outside = outside_tree(tmp_path)
    project = tmp_path / "project"
    write(project / "api" / "openapi.yaml", SPEC)
    write(project / "app" / "main.py", RACY_SOURCE)
    write(project / "app" / "build" / "__init__.py")  # a real package named build
    write(project / "app" / "build" / "steps.py", RACY_SOURCE.replace("coupons", "steps"))
    link_out(project / "app", outside)
    return project


def assert_nothing_from_outside(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    report = result.structured_content
    assert report is not None
    everything = json.dumps(report) + "".join(b.text for b in result.content if isinstance(b, TextContent))
    assert SECRET not in everything
    assert "syntax error" not in everything and "passwd" not in everything
    assert report["errors"] == []
    assert report["summary"]["files_skipped"] == {"outside-roots": 5}
    return report


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(escaping_project: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(RACE_MCP), args=["serve"], cwd=str(escaping_project))
    async with Client(params, mode="legacy", read_timeout_seconds=30) as connected:
        yield connected


@pytest.mark.anyio
async def test_check_openapi_source_never_reads_links_out_of_the_roots(client: Client) -> None:
    result = await client.call_tool("check_openapi", {"spec": "api/openapi.yaml", "source": "app"})
    report = assert_nothing_from_outside(result)
    assert report["summary"]["files_analyzed"] == 4  # the spec, main.py, build/__init__.py, build/steps.py
    (endpoint,) = [e for e in report["endpoints"] if e["operation"] == RACY_ROUTE]
    assert sorted(Path(f["path"]).name for f in endpoint["code_findings"]) == ["main.py", "steps.py"]
    text = "".join(block.text for block in result.content if isinstance(block, TextContent))
    assert "5 linked outside the allowed roots" in text  # the walk's reasons reach the model too


@pytest.mark.anyio
async def test_analyze_file_never_reads_links_out_of_the_roots(client: Client) -> None:
    report = assert_nothing_from_outside(await client.call_tool("analyze_file", {"path": "app"}))
    assert sorted(Path(f["path"]).name for f in report["findings"]) == ["main.py", "steps.py"]
    assert report["summary"]["files_analyzed"] == 3


def test_cli_openapi_source_stays_in_the_source_directory(escaping_project: Path) -> None:
    done = subprocess.run(
        [str(RACE_MCP), "openapi", "api/openapi.yaml", "--source", "app", "--format", "json"],
        cwd=escaping_project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert SECRET not in done.stdout + done.stderr and "passwd" not in done.stdout + done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["files_skipped"] == {"outside-directory": 5}


def test_minified_and_bundled_javascript_is_skipped_by_evidence(tmp_path: Path) -> None:
    # A theme's compiled assets sit outside any dist/ or build/: a bundle is known by its name or by
    # a line no person writes; the project's own scripts, long strings included, are walked.
    assets = tmp_path / "themes" / "core" / "static" / "assets"
    assets.mkdir(parents=True)
    (assets / "vendor.min.js").write_text("var a=1;\n", encoding="utf-8")
    (assets / "main.chunk.js").write_text("var b=2;\n", encoding="utf-8")
    (assets / "index.js").write_text("/* license */\n" + "var c=3;" * 400 + "\n", encoding="utf-8")
    (assets / "one-line.mjs").write_text("x=1;" * 5000, encoding="utf-8")
    (tmp_path / "app.js").write_text("const routes = {};\n" * 50 + "const t = `" + "a" * 900 + "`;\n")
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    walk = SourceWalk(tmp_path, suffixes=(".py", ".js", ".mjs"))
    assert sorted(path.name for path in walk) == ["app.js", "app.py"]
    assert walk.skipped == {"minified": 4}
