"""`race-mcp patch`: the installed command, run as a subprocess in a temporary git checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests._mcp_helpers import RACE_MCP, RACY_SOURCE, SAFE_SOURCE


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RACE_MCP), "patch", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text(RACY_SOURCE)
    (tmp_path / "safe.py").write_text(SAFE_SOURCE)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def test_diff_applies_with_git_and_patch(checkout: Path) -> None:
    result = run(checkout, "app/views.py", "--format", "diff")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("diff --git a/app/views.py b/app/views.py\n")
    (checkout / "fix.patch").write_text(result.stdout)
    subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=checkout, check=True)
    subprocess.run(
        ["patch", "-p1", "--dry-run", "-i", "fix.patch"], cwd=checkout, check=True, capture_output=True
    )
    subprocess.run(["git", "apply", "fix.patch"], cwd=checkout, check=True)
    assert "async with coupons_lock:" in (checkout / "app" / "views.py").read_text()
    again = run(checkout, "app/views.py", "--format", "diff")
    assert (again.returncode, again.stdout) == (0, "")


def test_json_contract(checkout: Path) -> None:
    result = run(checkout, "app/views.py", "--format", "json", "--rule", "RC101")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    [patch] = report["patches"]
    assert {"rule_id", "path", "line", "description", "diff"} <= set(patch)
    assert (patch["rule_id"], patch["path"], patch["line"]) == ("RC101", "app/views.py", 7)
    assert patch["safety"] == "unsafe" and "one process" in patch["note"]
    assert report["diff"] == patch["diff"]


def test_apply_writes_and_then_there_is_nothing_left(checkout: Path) -> None:
    result = run(checkout, "app/views.py", "--apply")
    assert result.returncode == 0, result.stderr
    assert "applied 1 patch to app/views.py" in result.stderr
    assert sorted(p.name for p in (checkout / "app").iterdir()) == ["views.py"]
    text = run(checkout, "app/views.py")
    assert (text.returncode, text.stdout) == (0, "app/views.py: nothing to patch\n")


def test_apply_only_inside_the_roots(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "other.py").write_text(RACY_SOURCE)
    (checkout / "escape.py").symlink_to(outside / "other.py")
    for target in (str(outside / "other.py"), "escape.py"):
        refused = run(checkout, target, "--apply")
        assert refused.returncode == 2
        assert refused.stderr.count("\n") == 1 and "outside the allowed roots" in refused.stderr
    assert (outside / "other.py").read_text() == RACY_SOURCE
    allowed = run(checkout, str(outside / "other.py"), "--apply", "--root", str(outside))
    assert allowed.returncode == 0, allowed.stderr
    assert "coupons_lock" in (outside / "other.py").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "missing.py: no such file"),
        (["app/views.py", "--rule", "RC999"], "unknown rule"),
        (["app/views.py", "--format", "sarif"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(checkout: Path, args: list[str], message: str) -> None:
    (checkout / "broken.py").write_text("def broken(:\n")
    result = run(checkout, *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_syntax_error_and_clean_file(checkout: Path) -> None:
    (checkout / "broken.py").write_text("def broken(:\n")
    broken = run(checkout, "broken.py")
    assert broken.returncode == 2 and "syntax error" in broken.stderr
    clean = run(checkout, "safe.py", "--format", "json")
    assert clean.returncode == 0
    assert json.loads(clean.stdout)["patches"] == []


def test_apply_leaves_a_read_only_file_alone(checkout: Path) -> None:
    views = checkout / "app" / "views.py"
    views.chmod(0o444)  # as root the OS would let the rename through: the mode bits must decide
    refused = run(checkout, "app/views.py", "--apply")
    assert refused.returncode == 2
    assert refused.stderr.startswith("race-mcp: error[read-only]: app/views.py: read-only")
    assert refused.stderr.count("\n") == 1
    assert views.read_text() == RACY_SOURCE and views.stat().st_mode & 0o777 == 0o444
    assert sorted(p.name for p in (checkout / "app").iterdir()) == ["views.py"]  # no temporary left
