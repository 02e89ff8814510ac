"""npm packages for the tests that run real Node apps: installed once per set of packages into a
cache outside the repository (`$RACE_MCP_TEST_NPM_CACHE`, else `~/.cache/race-mcp-tests/npm`),
shared by pytest-xdist workers through a file lock.

A machine without node or npm, or without the registry, skips these tests with the reason; under
`CI=true` that is a failure, since CI must run them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

__all__ = ["node_modules", "require_or_skip"]


def require_or_skip(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _cache_root() -> Path:
    configured = os.environ.get("RACE_MCP_TEST_NPM_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "race-mcp-tests" / "npm"


def node_modules(*packages: str) -> Path:
    """The `node_modules` directory holding `packages` (npm specs such as `express@4`)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            require_or_skip(f"{tool} is not installed")
    key = hashlib.sha256(json.dumps(sorted(packages)).encode()).hexdigest()[:16]
    folder = _cache_root() / key
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / ".installed"
    with FileLock(str(folder) + ".lock"):
        if not done.exists():
            (folder / "package.json").write_text('{"name": "race-mcp-test-deps", "private": true}\n')
            try:
                subprocess.run(
                    ["npm", "install", "--no-audit", "--no-fund", "--no-save", *packages],
                    cwd=folder,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                output = getattr(exc, "stderr", "") or ""
                require_or_skip(f"npm install {' '.join(packages)} failed: {output.strip()[-300:]}")
            done.write_text("\n".join(packages) + "\n")
    return folder / "node_modules"
