"""One parse and one lowering per module per process in project mode: a file's own analysis and the
calls into it from other files share the lowered module (`ProjectSession.module_for`, `known_shape`),
with the same findings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import race_mcp.analyzer as analyzer
from race_mcp import analyze_paths
from race_mcp.analyzer import _limits
from race_mcp.analyzer.python import lower
from race_mcp.config import Settings

PROJECTS = Path(__file__).parent / "fixtures" / "projects"


def _findings(project: Path) -> list[tuple[str, int, str]]:
    report = analyze_paths([project], settings=Settings(jobs=1))
    return sorted((f.path, f.line, f.rule_id) for f in report.findings)


@pytest.mark.parametrize("name", ["django_shop", "flask_blog", "fastapi_inventory", "raw_sql_ledger"])
def test_each_module_is_lowered_once(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    project = (PROJECTS / name).resolve()
    before = _findings(project)
    lowered: Counter[str] = Counter()
    real = lower.lower_tree

    def counting(tree: object, source: str, path: str) -> object:
        lowered[str(Path(path).resolve())] += 1
        return real(tree, source, path)  # type: ignore[arg-type]

    parsed: Counter[str] = Counter()
    real_parse = _limits.parse_python

    def counting_parse(source: str, path: str) -> object:
        parsed[str(Path(path).resolve())] += 1
        return real_parse(source, path)

    monkeypatch.setattr(lower, "lower_tree", counting)
    for holder in (_limits, analyzer, lower):  # the names the analysis and the session call it by
        monkeypatch.setattr(holder, "parse_python", counting_parse)
    assert _findings(project) == before
    assert lowered, "the fixture project has modules to lower"
    assert max(lowered.values()) == 1, [path for path, count in lowered.items() if count > 1]
    assert max(parsed.values()) == 1, [path for path, count in parsed.items() if count > 1]


def test_a_small_run_with_nothing_that_could_race_builds_no_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RACE_MCP_CACHE_DIR", str(tmp_path / "cache"))
    built: list[object] = []
    real = analyzer._index_projects

    def recording(*args: object, **kwargs: object) -> object:
        built.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(analyzer, "_index_projects", recording)
    project = tmp_path / "app"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (project / "pkg" / "__init__.py").write_text("")
    plain = project / "pkg" / "maths.py"
    plain.write_text("def double(x):\n    return 2 * x\n")
    racy = project / "pkg" / "views.py"
    racy.write_text("from .models import Item\n\ndef bump(pk):\n    item = Item.objects.get(pk=pk)\n")
    assert analyze_paths([plain], settings=Settings(jobs=1)).findings == []
    assert built == []  # no file of the run names a store or a framework: no project to index
    analyze_paths([racy], settings=Settings(jobs=1))
    assert built == [[racy]]
