"""Prove a race with a synchronised burst: HTTP/2 single-packet, HTTP/1.1 last-byte sync, or naive.

Entry point: `run_burst(spec, policy=..., progress=...)`. The `BurstPolicy` (allowlist and caps)
comes from the user's configuration and command line, never from the request being judged.
"""

from __future__ import annotations

from ._engine import ProgressCallback, run_burst
from ._models import (
    AuxRequest,
    BaselineRun,
    BurstResult,
    BurstSpec,
    BurstTrial,
    Mode,
    ResponseCluster,
    SentMode,
    StateProbe,
    SuccessOracle,
    Verdict,
)
from ._policy import METADATA_ADDRESSES, BurstPolicy
from ._render import render_burst_text

__all__ = [
    "METADATA_ADDRESSES",
    "AuxRequest",
    "BaselineRun",
    "BurstPolicy",
    "BurstResult",
    "BurstSpec",
    "BurstTrial",
    "Mode",
    "ProgressCallback",
    "ResponseCluster",
    "SentMode",
    "StateProbe",
    "SuccessOracle",
    "Verdict",
    "render_burst_text",
    "run_burst",
]
