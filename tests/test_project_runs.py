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
