"""start_run: files named one by one in folders without a project marker make one project, not
one per folder (the throughput benchmark names 1,357 files in 237 folders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from race_mcp.analyzer.project import context_for, end_run, start_run
from race_mcp.config import Settings


def test_files_named_in_nested_folders_share_the_outermost_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus"
    files = []
    for folder in ("lib", "lib/db", "lib/db/models", "other"):
        (corpus / folder).mkdir(parents=True, exist_ok=True)
        (corpus / folder / "__init__.py").write_text("")
        files.append(Path(folder) / "__init__.py")
    (corpus / "lib/db/models/base.py").write_text("class Model:\n    def save(self):\n        pass\n")
    files.append(Path("lib/db/models/base.py"))
    monkeypatch.chdir(corpus)
    specs = start_run(files, None, Settings())
    try:
        assert sorted(Path(spec.root).name for spec in specs) == ["lib", "other"]
        facts, resolver = context_for(Path("lib/db/models/base.py"))
        assert facts is not None and resolver is not None
        assert facts.module == "lib.db.models.base"  # named from the outer project's root
        assert facts.index.class_facts("lib.db.models.base.Model") is not None
    finally:
        end_run(specs)


def test_a_loose_file_outside_any_project_or_package_indexes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `race-mcp analyze /tmp/snippet.py`: its folder is nobody's project, and walking it (all of
    # /tmp) took minutes. A file inside a package still gets its package's facts.
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    loose = tmp_path / "scratch"
    (loose / "elsewhere").mkdir(parents=True)
    (loose / "snippet.py").write_text("x = 1\n")
    (loose / "elsewhere" / "big.py").write_text("y = 2\n")
    monkeypatch.chdir(loose)
    assert start_run([Path("snippet.py")], None, Settings()) == []
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "views.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    specs = start_run([Path("pkg/views.py")], None, Settings())
    try:
        assert [Path(spec.root).name for spec in specs] == ["pkg"]
    finally:
        end_run(specs)


def test_a_fifo_named_like_source_blocks_neither_the_index_nor_the_walk(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "app.py").write_text("x = 1\n")
    os.mkfifo(project / "pipe.py")
    os.mkfifo(project / "pipe.js")
    os.mkfifo(project / "schema.sql")
    env = {**os.environ, "RACE_MCP_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "race_mcp", "analyze", str(project), "--format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr
