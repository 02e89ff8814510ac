"""Each `race-mcp` command imports only what it runs.

The suite starts `race-mcp` some three hundred times, and people and CI start it for every check:
pydantic, the analyzer, the OpenAPI loader, the burst engine, the MCP SDK and the codemods cost up
to half a second of CPU to import, which `--version`, `rules` or a usage error should not pay. Each
case runs `main()` in a fresh interpreter and lists the heavy modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Top-level packages (or race_mcp subpackages) that are expensive to import.
HEAVY = ("pydantic", "libcst", "mcp", "httpx", "h2", "yaml", "ruamel", "uvicorn", "starlette")
RACE_MCP_HEAVY = ("analyzer", "burst", "openapi", "remediate", "server", "demo", "config", "rules")

_PROBE = """\
import contextlib, io, json, sys
from race_mcp.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(*args: str, cwd: Path) -> set[str]:
    """The heavy modules `race-mcp ARGS` imported (top-level names, race_mcp.<subpackage> names)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    heavy = set()
    for name in json.loads(done.stdout.splitlines()[-1]):
        parts = name.split(".")
        if parts[0] in HEAVY:
            heavy.add(parts[0])
        elif parts[0] == "race_mcp" and len(parts) > 1 and parts[1] in RACE_MCP_HEAVY:
            heavy.add(".".join(parts[:2]))
    return heavy


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.race-mcp]\n")
    (tmp_path / "app.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["analyze", "--help"], ["burst", "--help"], ["patch", "--help"], ["bogus"]],
    ids=["version", "help", "analyze-help", "burst-help", "patch-help", "usage-error"],
)
def test_parsing_alone_imports_nothing_heavy(args: list[str], project: Path) -> None:
    assert loaded_by(*args, cwd=project) == set()


def test_rules_needs_the_catalog_not_the_analyzer_nor_the_sdk(project: Path) -> None:
    loaded = loaded_by("rules", "RC101", cwd=project)
    assert "race_mcp.rules" in loaded
    assert not loaded & {"libcst", "mcp", "race_mcp.analyzer", "race_mcp.server", "race_mcp.remediate"}


def test_analyze_loads_no_sdk_codemods_burst_engine_or_spec_loader(project: Path) -> None:
    loaded = loaded_by("analyze", "app.py", cwd=project)
    assert "race_mcp.analyzer" in loaded
    assert not loaded & {"mcp", "race_mcp.server", "race_mcp.remediate", "race_mcp.burst", "h2", "yaml"}


def test_the_public_api_loads_on_first_use() -> None:
    probe = (
        "import sys, race_mcp; before = 'pydantic' in sys.modules; "
        "race_mcp.Finding; print(before, 'race_mcp.findings' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
