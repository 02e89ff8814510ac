"""The installed `race-mcp` command, run as a subprocess the way people and CI run it."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

import race_mcp.demo as race_mcp_demo
from race_mcp import AnalysisReport, __version__
from race_mcp.cli import main
from race_mcp.demo import DemoReport, render_demo_text
from race_mcp.rules import RULES, render_rule_markdown
from tests._demo_run import DemoRun
from tests._mcp_helpers import RACE_MCP
from tests._mcp_helpers import RACY_SOURCE as RACY_HANDLER

SarifCheck = Callable[[str], dict[str, Any]]  # the `check_sarif` fixture in conftest.py

SAFE_MODULE = """\
def total(prices: list[int]) -> int:
    return sum(prices)
"""


def race_mcp(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RACE_MCP), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 with exactly one line on stderr, `race-mcp: error[CODE]: ...`, and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(r"race-mcp: error\[[a-z0-9]+(-[a-z0-9]+)*\]: ", lines[0]), lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with its own (empty) config, so no pyproject.toml above tmp_path is picked up."""
    (tmp_path / "pyproject.toml").write_text("[tool.race-mcp]\n")
    return tmp_path


@pytest.fixture
def racy_project(project: Path) -> Path:
    (project / "app.py").write_text(RACY_HANDLER)
    (project / "util.py").write_text(SAFE_MODULE)
    return project


# ----------------------------------------------------------------------------------- version, rules


def test_version(project: Path) -> None:
    result = race_mcp("--version", cwd=project)
    assert (result.returncode, result.stdout) == (0, f"race-mcp {__version__}\n")


def test_python_m_runs_the_same_cli(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "race_mcp", "--version"], cwd=project, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, f"race-mcp {__version__}\n")


def test_rules_lists_the_catalog(project: Path) -> None:
    result = race_mcp("rules", cwd=project)
    assert result.returncode == 0
    for rule in RULES.values():
        assert f"| {rule.id} | {rule.name} |" in result.stdout


def test_rules_documents_one_rule(project: Path) -> None:
    result = race_mcp("rules", "rc101", cwd=project)
    assert (result.returncode, result.stdout) == (0, render_rule_markdown(RULES["RC101"]))


def test_rules_as_json(project: Path) -> None:
    every = json.loads(race_mcp("rules", "--format", "json", cwd=project).stdout)
    assert [rule["id"] for rule in every["rules"]] == list(RULES)
    one = json.loads(race_mcp("rules", "RC102", "--format", "json", cwd=project).stdout)
    assert one == RULES["RC102"].model_dump(mode="json")


# ------------------------------------------------------------------------------------------ analyze
# These need the RC1xx analyzer; they fail while it reports nothing.


def test_analyze_text(racy_project: Path) -> None:
    result = race_mcp("analyze", ".", cwd=racy_project)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    first = result.stdout.splitlines()[0]
    assert first.startswith("app.py:") and " RC101 [high/" in first
    assert re.search(r'^ +8 check +if coupon\["used"\]:$', result.stdout, re.MULTILINE)
    assert "route POST /redeem/{code}" in result.stdout
    assert result.stdout.endswith("Found 1 finding (1 high) in 2 files analyzed.\n")
    assert "\x1b[" not in result.stdout  # not a terminal: no color


def test_analyze_json_contract(racy_project: Path) -> None:
    result = race_mcp("analyze", ".", "--format", "json", cwd=racy_project)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"findings", "errors", "summary"}
    report = AnalysisReport.model_validate(data)
    [finding] = report.findings
    assert (finding.rule_id, finding.path, finding.route) == ("RC101", "app.py", "POST /redeem/{code}")
    assert finding.function == "redeem"
    assert {step.role for step in finding.evidence} >= {"check", "await", "write"}
    assert report.errors == []
    assert report.summary.files_analyzed == 2


def test_analyze_sarif_validates(racy_project: Path, check_sarif: SarifCheck) -> None:
    result = race_mcp("analyze", "app.py", "--format", "sarif", cwd=racy_project)
    assert result.returncode == 1, result.stderr
    run = check_sarif(result.stdout)["runs"][0]
    [alert] = run["results"]
    assert alert["ruleId"] == "RC101"
    location = alert["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "app.py", "uriBaseId": "%SRCROOT%"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == racy_project.resolve().as_uri() + "/"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["util.py"], 0),
        (["app.py"], 1),
        (["app.py", "--fail-on", "high"], 1),
        (["app.py", "--ignore", "RC101"], 0),
        (["app.py", "--select", "RC102"], 0),
        (["app.py", "--select", "rc1"], 1),
    ],
)
def test_exit_code_follows_findings(racy_project: Path, args: list[str], expected: int) -> None:
    result = race_mcp("analyze", *args, cwd=racy_project)
    assert (result.returncode, result.stderr) == (expected, "")


def test_config_file_settings_apply(racy_project: Path) -> None:
    (racy_project / "pyproject.toml").write_text('[tool.race-mcp]\nignore = ["RC1"]\n')
    assert race_mcp("analyze", "app.py", cwd=racy_project).returncode == 0
    # A flag replaces the configured list.
    assert race_mcp("analyze", "app.py", "--ignore", "RC102", cwd=racy_project).returncode == 1
    other = racy_project / "strict.toml"
    other.write_text("[tool.race-mcp]\n")
    assert race_mcp("analyze", "app.py", "--config", str(other), cwd=racy_project).returncode == 1


def test_max_findings_caps_the_list_but_not_the_exit_code(racy_project: Path) -> None:
    (racy_project / "app2.py").write_text(RACY_HANDLER)
    result = race_mcp("analyze", ".", "--format", "json", "--max-findings", "1", cwd=racy_project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert len(data["findings"]) == 1
    summary = data["summary"]
    assert (summary["findings"], summary["shown"], summary["truncated"]) == (2, 1, True)


def test_files_a_walk_cannot_analyse_fail_the_run_like_a_named_one(project: Path) -> None:
    (project / "ok.py").write_text(SAFE_MODULE)
    vendored = project / "vendored"
    vendored.mkdir()
    (vendored / "broken.py").write_text("def f(:\n")
    (vendored / "blob.py").write_bytes(b"\x00\x01\x02")
    result = race_mcp("analyze", ".", "--format", "json", cwd=project)
    # Never 0 on code that was not read: the same exit code as naming the file alone.
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "race-mcp: error[binary-file]: vendored/blob.py: binary file (contains NUL bytes), not Python source",
        "race-mcp: error[syntax-error]: vendored/broken.py:1:7: syntax error: invalid syntax",
    ]
    data = json.loads(result.stdout)
    assert sorted(error["path"] for error in data["errors"]) == ["vendored/blob.py", "vendored/broken.py"]
    assert data["summary"]["files_analyzed"] == 1
    assert race_mcp("analyze", "vendored/broken.py", cwd=project).returncode == 2


def test_walk_counts_what_it_skipped_and_warns_on_an_empty_path(project: Path) -> None:
    (project / "build").mkdir()  # a package named build: analysed, not taken for build output
    (project / "build" / "__init__.py").write_text("")
    (project / "build" / "routes.py").write_text(RACY_HANDLER)
    (project / "env" / "lib").mkdir(parents=True)
    (project / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "env" / "lib" / "six.py").write_text(SAFE_MODULE)
    (project / "tests").mkdir()
    (project / "tests" / "test_routes.py").write_text(SAFE_MODULE)
    warning = (
        "race-mcp: warning: tests: no Python, JavaScript/TypeScript or Rust files to analyse; "
        "1 skipped: 1 as tests or migrations (default_exclude)\n"
    )

    text = race_mcp("analyze", ".", "tests", cwd=project)
    assert (text.returncode, text.stderr) == (1, warning)
    assert text.stdout.splitlines()[0].startswith("build/routes.py:")
    assert text.stdout.splitlines()[-2:] == [
        "Skipped 3 files: 2 as tests or migrations (default_exclude), 1 in virtualenvs.",
        "Found 1 finding (1 high) in 2 files analyzed.",
    ]
    as_json = race_mcp("analyze", ".", "tests", "--format", "json", cwd=project)
    assert (as_json.returncode, as_json.stderr) == (1, warning)
    summary = json.loads(as_json.stdout)["summary"]
    assert summary["files_skipped"] == {"default-exclude": 2, "virtualenv": 1}
    assert summary["warnings"] == [warning.removeprefix("race-mcp: warning: ").rstrip()]


def test_unanalysable_files_outrank_findings_and_fail_on(racy_project: Path) -> None:
    (racy_project / "broken.py").write_text("def f(:\n")
    result = race_mcp("analyze", ".", "--fail-on", "high", "--format", "json", cwd=racy_project)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert [finding["rule_id"] for finding in data["findings"]] == ["RC101"]  # still reported
    assert [error["code"] for error in data["errors"]] == ["syntax-error"]


def test_each_error_is_printed_once(racy_project: Path) -> None:
    result = race_mcp("analyze", "app.py", "missing.py", cwd=racy_project)
    assert result.returncode == 2
    combined = result.stdout + result.stderr
    assert combined.count("missing.py: no such file") == 1
    assert result.stderr == "race-mcp: error[not-found]: missing.py: no such file\n"
    assert "1 error" in result.stdout.splitlines()[-1]  # the text report still counts it


def test_a_bad_named_path_still_prints_the_rest(racy_project: Path) -> None:
    result = race_mcp("analyze", "app.py", "missing.py", "--format", "json", cwd=racy_project)
    assert assert_one_line_error(result) == "race-mcp: error[not-found]: missing.py: no such file"
    data = json.loads(result.stdout)
    assert [finding["rule_id"] for finding in data["findings"]] == ["RC101"]
    assert data["errors"] == [
        {"path": "missing.py", "message": "missing.py: no such file", "code": "not-found"}
    ]


# ---------------------------------------------------------------------------------------- bad input


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


BAD_INPUTS: dict[str, tuple[dict[str, str | bytes], list[str], str]] = {
    # name: (files to create, arguments, text the error line must contain)
    "missing path": ({}, ["analyze", "nowhere.py"], "nowhere.py: no such file"),
    "missing directory": ({}, ["analyze", "nowhere/"], "nowhere/: no such file"),
    "syntax error": ({"bad.py": "def f(:\n    pass\n"}, ["analyze", "bad.py"], "syntax error"),
    "binary file": ({"blob.py": b"\x7fELF\x00\x00\x01"}, ["analyze", "blob.py"], "binary file"),
    "not UTF-8": ({"latin.py": b'name = "caf\xe9"\n'}, ["analyze", "latin.py"], "not UTF-8"),
    "over the size limit": (
        {"small.toml": "[tool.race-mcp]\nmax_file_bytes = 64\n", "big.py": "x = 1\n" * 20},
        ["analyze", "big.py", "--config", "small.toml"],
        "over the 64-byte limit",
    ),
    "unknown rule in --select": ({"ok.py": SAFE_MODULE}, ["analyze", "ok.py", "--select", "RC999"], "RC999"),
    "unknown rule in --ignore": ({"ok.py": SAFE_MODULE}, ["analyze", "ok.py", "--ignore", "XX1"], "XX1"),
    "unknown rule for rules": ({}, ["rules", "RC999"], "unknown rule 'RC999'"),
    "config is not TOML": (
        {"pyproject.toml": "[tool.race-mcp\nselect = \n", "ok.py": SAFE_MODULE},
        ["analyze", "ok.py"],
        "cannot read configuration",
    ),
    "config has an unknown key": (
        {"pyproject.toml": "[tool.race-mcp]\nselct = ['RC1']\n", "ok.py": SAFE_MODULE},
        ["analyze", "ok.py"],
        "selct",
    ),
    "config names an unknown rule": (
        {"pyproject.toml": "[tool.race-mcp]\nignore = ['RC9']\n", "ok.py": SAFE_MODULE},
        ["analyze", "ok.py"],
        "'RC9'",
    ),
    "--config file missing": ({"ok.py": SAFE_MODULE}, ["analyze", "ok.py", "--config", "no.toml"], "no.toml"),
    "no paths": ({}, ["analyze"], "required: PATH"),
    "unknown format": ({"ok.py": SAFE_MODULE}, ["analyze", "ok.py", "--format", "xml"], "invalid choice"),
    "negative --max-findings": (
        {"ok.py": SAFE_MODULE},
        ["analyze", "ok.py", "--max-findings", "-1"],
        "expected 0 or more",
    ),
    "unknown command": ({}, ["analyse", "."], "invalid choice: 'analyse'"),
    "unknown option": ({}, ["rules", "--verbose"], "unrecognized arguments: --verbose"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(project: Path, case: str) -> None:
    files, args, expected = BAD_INPUTS[case]
    for name, content in files.items():
        _write(project / name, content)
    line = assert_one_line_error(race_mcp(*args, cwd=project))
    assert expected in line


# -------------------------------------------------------------------------------- terminal behaviour


def _run_on_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal, as in an interactive shell."""
    inherited = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(RACE_MCP), *args],
        cwd=cwd,
        env={**inherited, "TERM": "xterm", **env},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=60), b"".join(chunks).decode()


def test_color_on_a_terminal_unless_no_color(racy_project: Path) -> None:
    code, colored = _run_on_terminal(["analyze", "app.py"], racy_project, {})
    assert code == 1
    assert "\x1b[31m[high/" in colored
    code, plain = _run_on_terminal(["analyze", "app.py"], racy_project, {"NO_COLOR": "1"})
    assert code == 1
    assert "\x1b[" not in plain and "[high/" in plain


def test_closed_stdout_exits_quietly(racy_project: Path) -> None:
    # Far more output than a pipe buffers, read by nobody: the write fails with EPIPE.
    for number in range(120):
        (racy_project / f"copy_{number}.py").write_text(RACY_HANDLER)
    process = subprocess.Popen(
        [str(RACE_MCP), "analyze", "."],
        cwd=racy_project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr == ""


def test_analyze_flushes_all_its_output_before_its_hard_exit(racy_project: Path) -> None:
    # `race-mcp analyze` leaves without the interpreter's teardown (cli.run): more JSON than a
    # pipe buffers must still arrive whole, with the exit code of the findings.
    for number in range(120):
        (racy_project / f"copy_{number}.py").write_text(RACY_HANDLER)
    done = subprocess.run(
        [str(RACE_MCP), "analyze", ".", "--format", "json"],
        cwd=racy_project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 1
    assert len(done.stdout) > 65536
    report = json.loads(done.stdout)
    assert report["summary"]["files_analyzed"] == 122  # app.py, util.py and the copies


# -------------------------------------------------------------------------------------------- demo


@pytest.mark.slow
def test_demo_tells_the_story_and_exits_by_its_verdict(
    demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The JSON run is the session's shared `race-mcp demo --format json` (conftest.py), through the
    # installed command. `race-mcp demo` (text) differs from it only in how the command renders the
    # same DemoReport, so the text form is checked on that run's report, in process, instead of
    # running the whole story (bursts, patches, servers) a second time.
    report = demo_run.report
    assert demo_run.returncode == (0 if report.passed else 1), demo_run.stderr
    assert [step.key for step in report.steps][:2] == ["analyze-shop", "analyze-safe-twin"]
    asked: list[str | None] = []

    def same_run(database: str | None = None) -> DemoReport:
        asked.append(database)
        return report

    monkeypatch.setattr(race_mcp_demo, "run_demo", same_run)
    assert main(["demo"]) == demo_run.returncode
    assert asked == [None]  # SQLite, as the shared run
    text = capsys.readouterr().out
    assert text == render_demo_text(report)
    lines = text.splitlines()
    for number, step in enumerate(report.steps, start=1):
        assert any(line.startswith(f"{number}. {step.title}: ") for line in lines)
    assert lines[-1].startswith("Demo complete" if report.passed else "Demo incomplete")


# ------------------------------------------------------------------------------------------- serve


def test_no_arguments_serves_mcp_over_stdio(project: Path) -> None:
    async def list_tools() -> list[str]:
        params = StdioServerParameters(command=str(RACE_MCP), args=[], cwd=project)
        async with Client(params, mode="legacy") as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    assert "analyze_file" in anyio.run(list_tools)


def test_serve_rejects_a_missing_root(project: Path) -> None:
    line = assert_one_line_error(race_mcp("serve", "--root", "no-such-dir", cwd=project))
    assert "no-such-dir" in line


def test_ctrl_c_exits_130_without_a_traceback(project: Path) -> None:
    process = subprocess.Popen(
        [str(RACE_MCP), "serve"],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    # Wait until the server answers, so the interrupt lands while it serves.
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    process.stdin.write((json.dumps(hello) + "\n").encode())
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["id"] == 1
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"Traceback" not in stderr
