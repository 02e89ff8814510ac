"""benchmarks/analyzer_throughput.py tags its cache directory, so analysing the repository skips it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from race_mcp._walk import SourceWalk
from race_mcp.analyzer.project import project_files

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "analyzer_throughput.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("analyzer_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cache_directory_is_skipped_by_the_walk_and_the_index(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    cache = tmp_path / "benchmarks" / ".cache"
    (cache / "corpus" / "django").mkdir(parents=True)
    (cache / "corpus" / "django" / "models.py").write_text("y = 2\n")
    _script().mark_cache(cache)
    assert (cache / ".gitignore").read_text() == "*\n"
    assert [p.name for p in SourceWalk(tmp_path)] == ["app.py"]
    assert [p.name for p in project_files(tmp_path)] == ["app.py"]
    # The benchmark analyses the corpus from inside: there the tag is not in the way.
    assert [p.name for p in SourceWalk(cache / "corpus")] == ["models.py"]
