"""The GitHub Action (`action.yml`), run locally the way the runner runs a composite action.

Each `run:` step goes to `bash --noprofile --norc -eo pipefail` (the runner's `shell: bash`) after its
`${{ ... }}` expressions are substituted as the runner substitutes them (inputs with their defaults,
earlier steps' outputs read back from the step's own `GITHUB_OUTPUT` file, `github.*`, `runner.*`), in
a temporary workspace, with GITHUB_ACTION_PATH pointing at this checkout. `uses:` steps (setup-python,
the SARIF upload) cannot run here: their evaluated `with:` is recorded and checked instead. The install
step finds this checkout's race-mcp already importable from the test's Python, so nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._mcp_helpers import RACY_SOURCE, SAFE_SOURCE

SarifCheck = Callable[[str], dict[str, Any]]  # the `check_sarif` fixture in conftest.py

REPO = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
# The runner's command line for `shell: bash`.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]

# RC203 (medium) only: check-then-insert on a table with no UNIQUE constraint.
MEDIUM_ONLY_SOURCE = """\
import sqlite3
import time

from flask import Flask, jsonify, request

app = Flask(__name__)


def get_db() -> sqlite3.Connection:
    return sqlite3.connect("app.db")


@app.post("/waitlist")
def join_waitlist():
    email = request.json["email"].lower()
    db = get_db()
    if db.execute("SELECT 1 FROM waitlist WHERE email = ?", (email,)).fetchone():
        return jsonify(error="already on the list"), 409
    db.execute("INSERT INTO waitlist (email, joined_at) VALUES (?, ?)", (email, time.time()))
    db.commit()
    return jsonify(ok=True), 201
"""


@dataclass
class StepRun:
    """One step as the runner saw it: skipped, or run (a `run:` script) or recorded (a `uses:` action)."""

    name: str
    skipped: bool = False
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    runner_temp: Path

    def step(self, name: str) -> StepRun:
        return next(step for step in self.steps if step.name == name)

    @property
    def failed(self) -> bool:
        return any(step.returncode not in (None, 0) for step in self.steps)


class _Expressions:
    """The `${{ ... }}` forms action.yml uses; anything else fails the test instead of passing silently."""

    def __init__(self, inputs: dict[str, str], github: dict[str, str], runner: dict[str, str]) -> None:
        self.inputs = inputs
        self.github = github
        self.runner = runner
        self.steps: dict[str, dict[str, str]] = {}

    def value(self, reference: str) -> str:
        parts = reference.strip().split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            if parts[1] not in self.inputs:
                pytest.fail(f"action.yml refers to an undeclared input: {reference}")
            return self.inputs[parts[1]]
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")  # the runner gives '' for a missing one
        if parts[0] in ("github", "runner") and len(parts) == 2:
            return getattr(self, parts[0])[parts[1]]
        pytest.fail(f"an expression this harness does not know: {reference}")

    def evaluate(self, expression: str) -> str | bool:
        comparison = re.fullmatch(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*", expression)
        if comparison:
            left, operator, right = comparison.groups()
            equal = self.value(left).lower() == right.lower()  # string comparison is case-insensitive
            return equal if operator == "==" else not equal
        return self.value(expression)

    def substitute(self, text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda match: str(self.evaluate(match.group(1))), text)

    def condition(self, text: str | None) -> bool:
        if text is None:
            return True  # success(): earlier failures stop the run before this step
        inner = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", text)
        result = self.evaluate(inner.group(1) if inner else text)
        assert isinstance(result, bool), f"`if: {text}` is not a condition"
        return result


def _read_outputs(path: Path) -> dict[str, str]:
    outputs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        outputs[name] = value
    return outputs


def run_action(workspace: Path, runner_temp: Path, **given: str) -> ActionRun:
    """Run action.yml's steps in order, as the runner would, until one fails."""
    declared = ACTION["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()} | given
    expressions = _Expressions(
        inputs,
        github={"action_path": str(REPO), "workspace": str(workspace)},
        runner={"temp": str(runner_temp)},
    )
    base_env = {
        **os.environ,
        # The test's own venv first on PATH: its python3 has this checkout's race-mcp installed.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_ACTIONS": "true",
    }
    steps: list[StepRun] = []
    for number, step in enumerate(ACTION["runs"]["steps"]):
        record = StepRun(name=step["name"])
        steps.append(record)
        if not expressions.condition(step.get("if")):
            record.skipped = True
            continue
        if "uses" in step:
            record.uses = step["uses"]
            record.with_ = {key: expressions.substitute(str(value)) for key, value in step["with"].items()}
            continue
        assert step["shell"] == "bash", step["name"]
        output_file = runner_temp / f"_output_{number}"
        output_file.touch()
        script = runner_temp / f"_step_{number}.sh"
        script.write_text(expressions.substitute(step["run"]), encoding="utf-8")
        env = {key: expressions.substitute(str(value)) for key, value in step.get("env", {}).items()}
        done = subprocess.run(
            [*BASH, str(script)],
            cwd=workspace,
            env={**base_env, **env, "GITHUB_OUTPUT": str(output_file)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        record.returncode, record.stdout, record.stderr = done.returncode, done.stdout, done.stderr
        record.outputs = _read_outputs(output_file)
        if "id" in step:
            expressions.steps[step["id"]] = record.outputs
        if done.returncode != 0:
            break
    outputs = {name: expressions.substitute(spec["value"]) for name, spec in ACTION["outputs"].items()}
    return ActionRun(steps=steps, outputs=outputs, runner_temp=runner_temp)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A checked-out repository: a racy handler, a safe module, a medium-only module, its own config."""
    root = tmp_path / "workspace"
    (root / "app").mkdir(parents=True)
    (root / "app" / "coupons.py").write_text(RACY_SOURCE)
    (root / "app" / "util.py").write_text(SAFE_SOURCE)
    (root / "waitlist").mkdir()
    (root / "waitlist" / "views.py").write_text(MEDIUM_ONLY_SOURCE)
    (root / "pyproject.toml").write_text("[tool.race-mcp]\n")  # nothing above tmp_path is picked up
    return root


@pytest.fixture
def runner_temp(tmp_path: Path) -> Path:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return temp


def _rules_and_uris(log: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (result["ruleId"], result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for run in log["runs"]
        for result in run["results"]
    )


def test_a_racy_project_is_uploaded_then_fails_the_job(
    workspace: Path, runner_temp: Path, check_sarif: SarifCheck
) -> None:
    run = run_action(workspace, runner_temp)

    install = run.step("Install race-mcp")
    assert install.returncode == 0, install.stderr
    assert "is already installed" in install.stdout  # no download: this checkout is importable
    assert install.outputs["python"] == str(Path(sys.executable).parent / "python3")

    analyze = run.step("Analyse with race-mcp")
    assert analyze.returncode == 0, analyze.stderr
    sarif = runner_temp / "race-mcp.sarif"
    assert analyze.outputs == {"sarif-file": str(sarif), "findings": "2", "exit-code": "1"}
    log = check_sarif(sarif.read_text(encoding="utf-8"))
    # Paths relative to the workspace: what code scanning needs to place the alerts in the repository.
    assert _rules_and_uris(log) == [("RC101", "app/coupons.py"), ("RC203", "waitlist/views.py")]

    setup = run.step("Set up Python")
    assert setup.uses == "actions/setup-python@v5"
    assert setup.with_ == {"python-version": "3.12"}
    upload = run.step("Upload SARIF to code scanning")
    assert upload.uses == "github/codeql-action/upload-sarif@v3"
    assert upload.with_ == {"sarif_file": str(sarif), "category": "race-mcp"}

    verdict = run.step("Fail on findings")
    assert verdict.returncode == 1
    assert "::error title=race-mcp::2 findings, at least one at or above fail-on: low" in verdict.stdout
    assert run.outputs == {"sarif-file": str(sarif), "findings": "2", "exit-code": "1"}


@pytest.mark.parametrize(
    ("paths", "fail_on", "job_fails"),
    [
        ("waitlist", "low", True),
        ("waitlist", "medium", True),
        ("waitlist", "high", False),  # RC203 is medium
        ("waitlist", "never", False),
        ("app", "high", True),  # RC101 is high
        ("app", "never", False),
        ("app/util.py", "low", False),
    ],
)
def test_the_job_fails_at_the_chosen_severity(
    workspace: Path, runner_temp: Path, check_sarif: SarifCheck, paths: str, fail_on: str, job_fails: bool
) -> None:
    run = run_action(workspace, runner_temp, paths=paths, **{"fail-on": fail_on})

    assert run.failed is job_fails, [(step.name, step.returncode, step.stdout) for step in run.steps]
    assert run.step("Fail on findings").returncode == (1 if job_fails else 0)
    # The SARIF holds every finding whatever the threshold, and is uploaded either way.
    log = check_sarif((runner_temp / "race-mcp.sarif").read_text(encoding="utf-8"))
    expected = {"waitlist": ["RC203"], "app": ["RC101"], "app/util.py": []}[paths]
    assert [rule for rule, _ in _rules_and_uris(log)] == expected
    assert not run.step("Upload SARIF to code scanning").skipped


def test_several_paths_extra_args_a_chosen_sarif_file_and_no_upload(
    workspace: Path, runner_temp: Path, check_sarif: SarifCheck
) -> None:
    run = run_action(
        workspace,
        runner_temp,
        paths="app/coupons.py\nwaitlist  app/util.py",
        args="--ignore RC101",
        upload="false",
        category="backend",
        **{"sarif-file": "reports/race.sarif", "python-version": ""},
    )

    assert run.step("Set up Python").skipped
    assert run.step("Upload SARIF to code scanning").skipped
    sarif = workspace / "reports" / "race.sarif"  # relative to the workspace, like every path input
    assert run.outputs["sarif-file"] == "reports/race.sarif"
    assert _rules_and_uris(check_sarif(sarif.read_text(encoding="utf-8"))) == [("RC203", "waitlist/views.py")]
    assert run.step("Fail on findings").returncode == 1


def test_an_unreadable_input_is_uploaded_and_fails_with_exit_2(
    workspace: Path, runner_temp: Path, check_sarif: SarifCheck
) -> None:
    (workspace / "app" / "broken.py").write_text("def broken(:\n    pass\n")

    run = run_action(workspace, runner_temp, paths="app/broken.py app/coupons.py", **{"fail-on": "never"})

    assert run.step("Analyse with race-mcp").outputs["exit-code"] == "2"
    log = check_sarif((runner_temp / "race-mcp.sarif").read_text(encoding="utf-8"))
    assert _rules_and_uris(log) == [("RC101", "app/coupons.py")]
    assert not run.step("Upload SARIF to code scanning").skipped
    verdict = run.step("Fail on findings")
    assert verdict.returncode == 2  # fail-on: never does not hide code that was never read
    assert "some input could not be analysed" in verdict.stdout


def test_a_bad_fail_on_stops_before_the_upload(workspace: Path, runner_temp: Path) -> None:
    run = run_action(workspace, runner_temp, **{"fail-on": "critical"})

    analyze = run.step("Analyse with race-mcp")
    assert analyze.returncode == 2
    assert "fail-on must be low, medium, high or never, got 'critical'" in analyze.stdout
    assert [step.name for step in run.steps][-1] == "Analyse with race-mcp"  # nothing ran after it


def test_a_missing_path_fails_with_the_cli_error(workspace: Path, runner_temp: Path) -> None:
    run = run_action(workspace, runner_temp, paths="no-such-dir")

    analyze = run.step("Analyse with race-mcp")
    assert "race-mcp: error[" in analyze.stderr and "no-such-dir" in analyze.stderr
    assert run.failed


def test_inputs_are_data_not_shell_code(workspace: Path, runner_temp: Path) -> None:
    run = run_action(
        workspace, runner_temp, paths='app $(touch pwned) "`touch pwned2`"', args="; touch pwned3"
    )

    assert run.failed  # the odd words are looked up as paths and options, and refused
    assert not list(workspace.glob("pwned*"))
    assert not list(runner_temp.glob("pwned*"))


def test_every_input_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ACTION["inputs"]:
        assert f"| `{name}` |" in readme, name
    assert "security-events: write" in readme
