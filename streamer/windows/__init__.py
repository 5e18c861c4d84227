"""Event-time windows: pure assignment, panes and bars, and the per-partition tracker."""

from __future__ import annotations

from streamer.windows.aggregates import bar_record, iso_ms
from streamer.windows.assign import WindowSpec, hopping, parse_duration_ms, tumbling
from streamer.windows.panes import Bar, Pane, WindowStats, combine
from streamer.windows.tracker import (
    AddResult,
    ClosedBar,
    LateWindow,
    MemoryPaneStore,
    PaneStore,
    WindowTracker,
)

__all__ = [
    "AddResult",
    "Bar",
    "ClosedBar",
    "LateWindow",
    "MemoryPaneStore",
    "Pane",
    "PaneStore",
    "WindowSpec",
    "WindowStats",
    "WindowTracker",
    "bar_record",
    "combine",
    "hopping",
    "iso_ms",
    "parse_duration_ms",
    "tumbling",
]
