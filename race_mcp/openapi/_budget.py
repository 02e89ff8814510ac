"""What one check may spend across every document it loads: bytes, nodes, and wall-clock time.

Each file is capped on its own (`max_spec_bytes`, YAML depth and alias expansion), but a spec can
reference a thousand files, each just under the cap; without a total, four 15 MB files took 107 s
and 2.5 GB. The budget is shared by the root document, its file `$ref`s and its remote ones, and
running out ends the check with one error (`spec-too-large`, `spec-timeout`) rather than a report
computed on part of the spec. Remote fetches share a third of the time (20 s of the default 60 s)
and one fetch may take half of that, so a server that trickles a byte every few seconds costs at
most 20 s per check however many `$ref`s point at it; those `$ref`s become report errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import InputError

__all__ = ["CHECK_SECONDS", "MAX_NODES", "Budget", "BudgetExceeded"]

CHECK_SECONDS = 60.0  # loading and checking one spec, all its files included
REMOTE_SHARE = 1 / 3  # of that, every remote fetch together (20 s)
FETCH_SHARE = 1 / 2  # of that, one remote fetch from connect to the last byte (10 s)
MAX_NODES = 5_000_000  # values built across all documents, YAML aliases counted as expanded


class BudgetExceeded(InputError):
    """The check as a whole ran out of bytes, nodes or time: it ends, it is not a `$ref` error."""


@dataclass
class Budget:
    """The allowance of one check; every loader takes from it before it spends."""

    max_bytes: int
    max_nodes: int = MAX_NODES
    seconds: float = CHECK_SECONDS
    bytes_used: int = 0
    nodes_used: int = 0
    remote_spent: float = 0.0  # seconds spent fetching so far
    started: float = field(default_factory=time.monotonic)

    @property
    def remote_seconds(self) -> float:
        return self.seconds * REMOTE_SHARE

    @property
    def fetch_seconds(self) -> float:
        return self.remote_seconds * FETCH_SHARE

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    @property
    def nodes_left(self) -> int:
        return max(0, self.max_nodes - self.nodes_used)

    @property
    def bytes_left(self) -> int:
        return max(0, self.max_bytes - self.bytes_used)

    def take_bytes(self, size: int, label: str) -> None:
        """Count `size` bytes of `label`; refuses before anything that would go over is parsed."""
        if self.bytes_used + size > self.max_bytes:
            raise BudgetExceeded(
                f"{label}: the spec and the files it references come to more than "
                f"{self.max_bytes:,} bytes together (the max_spec_bytes limit, which is also the "
                f"total); {self.bytes_used:,} bytes were loaded before this {size:,}-byte file",
                code="spec-too-large",
            )
        self.bytes_used += size

    def take_nodes(self, count: int, label: str) -> None:
        if self.nodes_used + count > self.max_nodes:
            raise self.too_many_nodes(label)
        self.nodes_used += count

    def too_many_nodes(self, label: str) -> BudgetExceeded:
        return BudgetExceeded(
            f"{label}: the spec and the files it references hold more than {self.max_nodes:,} "
            "values together (YAML aliases counted as expanded)",
            code="spec-too-large",
        )

    def check_time(self, label: str) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(
                f"{label}: checking the spec took more than {self.seconds:g} s; stopped",
                code="spec-timeout",
            )

    def remote_deadline(self) -> float:
        """The latest moment the next fetch may end: its own limit, what is left of the remote
        total, and the check's deadline. In the past when nothing is left."""
        now = time.monotonic()
        left = min(self.fetch_seconds, self.remote_seconds - self.remote_spent)
        return min(now + left, self.deadline)
