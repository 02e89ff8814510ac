"""`propose_patches` / `race-mcp patch FILE` analyse with the file's project facts, as `analyze`
does: a finding the whole-project analysis clears (uniqueness declared in another module, a lock
wrapper of another module) gets neither a patch nor guidance; the ones it reports still do."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from race_mcp import analyze_paths, propose_patches
from race_mcp.config import Settings
from race_mcp.roots import AllowedRoots
from race_mcp.server._patch import PatchCall, patch_job
from tests._mcp_helpers import RACE_MCP

BLOG = Path(__file__).parent / "fixtures" / "projects" / "flask_blog"
ROUTES = "src/blog/api/routes.py"
# routes.py: RC102 of hit (73) is cleared by blog.locks.counting(), a lock wrapper. RC303 of
# create_author (16), create_post (39) and create_tag (51): `unique=True` in models.py refuses the
# duplicate, but nothing handles the loser's IntegrityError, so they stay reported, at low
# severity (issue 11); alone, the file reports them as duplicate-creating races.
REFUSED = {("RC303", 16), ("RC303", 39), ("RC303", 51)}
CLEARED = {("RC102", 73)}
REPORTED = {("RC303", 27), ("RC303", 62), ("RC102", 80)} | REFUSED


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture()
def blog(tmp_path: Path) -> Path:
    copy = tmp_path / "flask_blog"
    shutil.copytree(BLOG, copy)
    return copy


def _handled(patches: list[tuple[str, int]], unpatched: list[tuple[str, int]]) -> set[tuple[str, int]]:
    return set(patches) | set(unpatched)


def test_the_whole_project_analysis_clears_them() -> None:
    report = analyze_paths([BLOG])
    found = {(f.rule_id, f.line) for f in report.findings if f.path.endswith(ROUTES)}
    assert found == REPORTED
    low = {(f.rule_id, f.line) for f in report.findings if f.path.endswith(ROUTES) and f.severity == "low"}
    assert low == REFUSED


def test_library_patches_with_the_project_facts(blog: Path) -> None:
    file = blog / ROUTES
    source = file.read_text()
    alone = propose_patches(source, ROUTES)
    assert (
        _handled([(p.rule_id, p.line) for p in alone.patches], [(u.rule_id, u.line) for u in alone.unpatched])
        >= CLEARED
    )  # the file on its own: a lock patch for hit, guidance for the three creations
    report = propose_patches(source, ROUTES, project_file=file, roots=AllowedRoots([blog]))
    patches = [(p.rule_id, p.line) for p in report.patches]
    handled = _handled(patches, [(u.rule_id, u.line) for u in report.unpatched])
    assert not handled & CLEARED
    assert handled == REPORTED
    assert ("RC102", 80) in patches  # the unlocked counter is still patched
    # hit_unlocked gets the lock; hit, already under counting(), does not (alone, both did)
    assert alone.diff.count("with view_counts_lock") == 2
    assert report.diff.count("with view_counts_lock") == 1


def test_cli_patch_uses_the_project(blog: Path) -> None:
    result = subprocess.run(
        [str(RACE_MCP), "patch", ROUTES, "--format", "json"],
        cwd=blog,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    patches = [(p["rule_id"], p["line"]) for p in report["patches"]]
    handled = _handled(patches, [(u["rule_id"], u["line"]) for u in report["unpatched"]])
    assert handled == REPORTED


def test_mcp_patch_of_a_workspace_file_uses_the_project(blog: Path) -> None:
    # The tool's worker function, as the server runs it: the label is relative to the root.
    call = PatchCall(
        path=str(blog / ROUTES), source=None, filename="snippet.py", rule=None,
        roots=AllowedRoots([blog]), settings=Settings(),
    )  # fmt: skip
    answer = patch_job(call)
    structured = answer.structured
    assert structured["path"] == ROUTES
    patches = [(p["rule_id"], p["line"]) for p in structured["patches"]]
    handled = _handled(patches, [(u["rule_id"], u["line"]) for u in structured["unpatched"]])
    assert handled == REPORTED
