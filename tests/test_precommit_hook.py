"""The pre-commit hook (`.pre-commit-hooks.yaml`), driven by `pre-commit try-repo` as a user tries it.

pre-commit clones this repository at HEAD (`--ref HEAD`: the committed hook and package, never a
half-edited working tree), builds the hook's environment with `pip install` of the clone (its
dependencies come from PyPI or pip's cache), and runs `race-mcp analyze` on the files staged in a
temporary git repository. try-repo builds that environment afresh on every run (a store of its
own in a temporary directory), which is what makes these tests slow; the two runs overlap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._mcp_helpers import RACY_SOURCE, SAFE_SOURCE

Runs = dict[str, subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _environment(pre_commit_home: Path) -> dict[str, str]:
    """git identity for the temporary repositories; pre-commit's own files in a temporary directory."""
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(pre_commit_home),
        # The hook's environment is thrown away after the run: compiling its bytecode is wasted time.
        "PIP_NO_COMPILE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GIT_AUTHOR_NAME": "race-mcp tests",
        "GIT_AUTHOR_EMAIL": "tests@race-mcp.invalid",
        "GIT_COMMITTER_NAME": "race-mcp tests",
        "GIT_COMMITTER_EMAIL": "tests@race-mcp.invalid",
        "PRE_COMMIT_COLOR": "never",
    }


def _git(project: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True, timeout=60)


def _project(base: Path, staged: list[str], env: dict[str, str]) -> Path:
    """A git repository holding a racy handler, a second racy one, a safe module and a non-Python file;
    only `staged` are added to the index."""
    project = base / "project"
    project.mkdir(parents=True)
    _git(project, "init", "--quiet", env=env)
    (project / "coupons.py").write_text(RACY_SOURCE)
    (project / "vouchers.py").write_text(RACY_SOURCE.replace("coupons", "vouchers"))
    (project / "util.py").write_text(SAFE_SOURCE)
    (project / "notes.md").write_text("# notes\n")
    _git(project, "add", *staged, env=env)
    return project


def _start_try_repo(project: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # No --all-files: pre-commit passes the staged files, as on `git commit`.
    return subprocess.Popen(
        [str(PRE_COMMIT), "try-repo", str(REPO), "race-mcp", "--ref", "HEAD", "--verbose"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def try_repo_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """`pre-commit try-repo` in two repositories at once (each run builds the hook's environment
    afresh, so they overlap): one with racy and safe files staged, one with only the safe file."""
    if shutil.which("git") is None:
        pytest.fail("git is required for the pre-commit tests")
    staged = {"racy": ["coupons.py", "util.py", "notes.md"], "safe": ["util.py"]}
    started = {}
    for name, files in staged.items():
        base = tmp_path_factory.mktemp(f"pre-commit-{name}")
        env = _environment(base / "home")
        started[name] = _start_try_repo(_project(base, files, env), env)
    runs = {}
    try:
        for name, process in started.items():
            stdout, stderr = process.communicate(timeout=900)  # building the environment takes a while
            runs[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return runs


def test_the_manifest_declares_the_hook() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [hook["id"] for hook in hooks] == ["race-mcp"]
    hook = hooks[0]
    assert (hook["entry"], hook["language"], hook["types"], hook["pass_filenames"]) == (
        "race-mcp analyze",
        "python",
        ["python"],
        True,
    )
    done = subprocess.run(
        [str(PRE_COMMIT), "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_staged_racy_file_fails_the_hook(try_repo_runs: Runs) -> None:
    done = try_repo_runs["racy"]

    assert done.returncode == 1, done.stdout + done.stderr
    assert "race-mcp" in done.stdout and "Failed" in done.stdout
    assert "- exit code: 1" in done.stdout
    assert "coupons.py:" in done.stdout and "RC101" in done.stdout
    assert "vouchers" not in done.stdout  # racy too, but not staged
    assert "2 files analyzed" in done.stdout  # notes.md is not Python
    assert "Traceback" not in done.stdout + done.stderr


def test_only_staged_files_are_analysed(try_repo_runs: Runs) -> None:
    done = try_repo_runs["safe"]  # coupons.py and vouchers.py are racy, but not staged

    assert done.returncode == 0, done.stdout + done.stderr
    assert "race-mcp" in done.stdout and "Passed" in done.stdout
    assert "RC101" not in done.stdout
