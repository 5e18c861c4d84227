"""Chaos runs against real workers and a real broker, and the offset-level audit of their outputs."""

from __future__ import annotations

from streamer.chaos.audit import Audit, OutputRecord, audit
from streamer.chaos.scenario import ISSUE_SEQUENCE, ChaosConfig, ChaosReport, Step, run_chaos

__all__ = [
    "ISSUE_SEQUENCE",
    "Audit",
    "ChaosConfig",
    "ChaosReport",
    "OutputRecord",
    "Step",
    "audit",
    "run_chaos",
]
