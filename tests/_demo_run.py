"""One `race-mcp demo --format json` run, shared by every test that reads the demo's report.

The demo story (analyse, prove by bursts, patch, re-prove, functional checks) takes 15-30 s. The
`demo_run` fixture in conftest.py runs it once per test session and database, through the installed
command as users run it, and hands the parsed report to test_demo_report.py, test_demo_fix_loop.py
and test_cli.py. Under pytest-xdist the first worker to ask runs it and writes the outcome to the
session's shared temporary directory; the others wait for that file instead of running it again.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from race_mcp.demo import DemoReport
from tests._mcp_helpers import RACE_MCP

# The demo on a loaded two-core machine takes well under this; a hang must still end the test.
DEMO_TIMEOUT = 600


@dataclass(frozen=True)
class DemoRun:
    """What `race-mcp demo --format json [--database URL]` did: its exit status, output and report."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def report(self) -> DemoReport:
        assert self.returncode in (0, 1), f"race-mcp demo exited {self.returncode}: {self.stderr}"
        return DemoReport.model_validate_json(self.stdout)

    def to_json(self) -> str:
        return json.dumps({"returncode": self.returncode, "stdout": self.stdout, "stderr": self.stderr})

    @classmethod
    def from_json(cls, text: str) -> DemoRun:
        fields = json.loads(text)
        return cls(returncode=fields["returncode"], stdout=fields["stdout"], stderr=fields["stderr"])


# The `demo_run_on` fixture: the shared run for SQLite (None) or a postgresql:// URL.
DemoRunOn = Callable[[str | None], DemoRun]


def run_demo_command(workdir: Path, database: str | None = None) -> DemoRun:
    """Run the installed `race-mcp demo --format json` in `workdir` (a directory with its own config)."""
    (workdir / "pyproject.toml").write_text("[tool.race-mcp]\n")  # no pyproject above is picked up
    command = [str(RACE_MCP), "demo", "--format", "json"]
    if database is not None:
        command += ["--database", database]
    done = subprocess.run(
        command,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    return DemoRun(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)
