"""Write a small project of dedented source files under a folder, for tests of cross-file analysis."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Each `relative/path.py: source` written (dedented, UTF-8) under `root`; returns `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root
