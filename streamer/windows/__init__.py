"""Event-time windows: pure assignment, bar aggregates and the per-partition tracker (DESIGN.md §3)."""

from __future__ import annotations

from streamer.windows.aggregates import BarAggregate, bar_record, iso_ms
from streamer.windows.assign import WindowSpec, hopping, parse_duration_ms, tumbling
from streamer.windows.tracker import AddResult, ClosedBar, LateWindow, WindowTracker

__all__ = [
    "AddResult",
    "BarAggregate",
    "ClosedBar",
    "LateWindow",
    "WindowSpec",
    "WindowTracker",
    "bar_record",
    "hopping",
    "iso_ms",
    "parse_duration_ms",
    "tumbling",
]
