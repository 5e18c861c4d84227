"""Per-partition event-time window state: watermark, grace, closing, lateness.

The watermark of a partition is the largest event time seen on it. A window ``[start, end)`` is closed once
``end + grace_ms <= watermark``; it is then emitted exactly once by :meth:`WindowTracker.close_ready` and
forgotten, so state stays bounded. Lateness needs no list of closed windows: any window whose
``end + grace_ms`` is at or below the watermark is closed, and an event for it is reported late.

Persistence: the Faust layer writes ``dump_key(key)`` for each of ``dirty_keys()`` once per batch (None
means delete the table entry) and ``dump_watermark()``; after a restart it calls ``load_key`` and
``load_watermark``.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from streamer.topics import Kind
from streamer.windows.aggregates import BarAggregate, bar_record, utc_offset_min
from streamer.windows.assign import WindowSpec

__all__ = ["AddResult", "ClosedBar", "LateWindow", "WindowTracker"]

logger = logging.getLogger(__name__)

LATE_REASON = "window_closed"

_WindowId = tuple[str, int]  # (spec name, start_ms)


@dataclass(frozen=True, slots=True)
class LateWindow:
    """A window an event belonged to but which had already closed when it arrived."""

    window: str
    start_ms: int
    end_ms: int
    watermark_ms: int
    reason: str = LATE_REASON

    def to_record(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "window_start_ms": self.start_ms,
            "window_end_ms": self.end_ms,
            "watermark_ms": self.watermark_ms,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AddResult:
    """Where one event went: the open windows it was added to and the closed ones it missed."""

    accepted: tuple[tuple[str, int, int], ...]
    late: tuple[LateWindow, ...]

    @property
    def is_late(self) -> bool:
        return bool(self.late)


@dataclass(frozen=True, slots=True)
class ClosedBar:
    key: str
    aggregate: BarAggregate

    def record(self, kind: Kind) -> dict[str, Any]:
        return bar_record(self.key, kind, self.aggregate)


class WindowTracker:
    """Open windows per key for one partition, with the partition watermark."""

    def __init__(self, specs: Sequence[WindowSpec], grace_ms: int) -> None:
        if grace_ms < 0:
            raise ValueError(f"grace_ms must be >= 0, got {grace_ms}")
        if len({s.name for s in specs}) != len(specs):
            raise ValueError("window spec names must be unique")
        self.specs = tuple(specs)
        self.grace_ms = grace_ms
        self.watermark_ms: int | None = None
        self.late_count = 0
        self._open: dict[str, dict[_WindowId, BarAggregate]] = {}
        self._deadlines: list[tuple[int, str, str, int]] = []  # (end_ms + grace_ms, key, spec, start_ms)
        self._dirty: set[str] = set()

    def add(
        self, key: str, event_ms: int, interval_ms: int, value: float, fields: Mapping[str, Any] | None = None
    ) -> AddResult:
        """Add one event (``event_ms`` = its interval start) to every open window that contains it."""
        windows = self._open.get(key)
        if windows is None:
            windows = self._open[key] = {}
        accepted: list[tuple[str, int, int]] = []
        late: list[LateWindow] = []
        watermark_ms = self.watermark_ms
        # A window is closed when end + grace <= watermark, i.e. end <= closed_end_ms.
        closed_end_ms = None if watermark_ms is None else watermark_ms - self.grace_ms
        offset: int | None = None
        for spec in self.specs:
            for start_ms, end_ms in spec.windows(event_ms):
                if closed_end_ms is not None and end_ms <= closed_end_ms:
                    assert watermark_ms is not None
                    late.append(LateWindow(spec.name, start_ms, end_ms, watermark_ms))
                    continue
                agg = windows.get((spec.name, start_ms))
                if agg is None:
                    if offset is None:
                        offset = utc_offset_min(fields) if fields else 0
                    agg = windows[(spec.name, start_ms)] = BarAggregate(spec.name, start_ms, end_ms, offset)
                    heapq.heappush(self._deadlines, (end_ms + self.grace_ms, key, spec.name, start_ms))
                agg.add(event_ms, interval_ms, value)
                accepted.append((spec.name, start_ms, end_ms))
        if late:
            self.late_count += 1
            logger.debug("late event key=%s event_ms=%s windows=%d", key, event_ms, len(late))
        if accepted:
            self._dirty.add(key)
        elif not windows:
            del self._open[key]
        if self.watermark_ms is None or event_ms > self.watermark_ms:
            self.watermark_ms = event_ms
        return AddResult(tuple(accepted), tuple(late))

    def close_ready(self) -> list[ClosedBar]:
        """Every window whose ``end + grace`` is at or below the watermark, each once, in deadline order."""
        if self.watermark_ms is None:
            return []
        return self._pop_until(self.watermark_ms)

    def flush(self) -> list[ClosedBar]:
        """Close every open window (end of a finite replay)."""
        return self._pop_until(None)

    def _pop_until(self, watermark_ms: int | None) -> list[ClosedBar]:
        closed: list[ClosedBar] = []
        heap = self._deadlines
        while heap and (watermark_ms is None or heap[0][0] <= watermark_ms):
            _, key, name, start_ms = heapq.heappop(heap)
            windows = self._open[key]
            closed.append(ClosedBar(key, windows.pop((name, start_ms))))
            self._dirty.add(key)
            if not windows:
                del self._open[key]
        return closed

    def open_window_count(self) -> int:
        return len(self._deadlines)

    def dirty_keys(self) -> set[str]:
        """Keys whose state changed since the last call; the set is handed over and reset."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def dump_key(self, key: str) -> bytes | None:
        """The open windows of ``key`` as bytes, or None when it has none (delete the table entry)."""
        windows = self._open.get(key)
        if not windows:
            return None
        return orjson.dumps([agg.to_list() for agg in windows.values()])

    def load_key(self, key: str, data: bytes) -> None:
        """Restore the open windows of ``key`` from :meth:`dump_key` output."""
        for agg in (BarAggregate.from_list(row) for row in orjson.loads(data)):
            windows = self._open.setdefault(key, {})
            if (agg.window, agg.start_ms) in windows:
                continue
            windows[(agg.window, agg.start_ms)] = agg
            heapq.heappush(self._deadlines, (agg.end_ms + self.grace_ms, key, agg.window, agg.start_ms))

    def dump_watermark(self) -> bytes:
        return orjson.dumps({"watermark_ms": self.watermark_ms, "late_count": self.late_count})

    def load_watermark(self, data: bytes) -> None:
        state = orjson.loads(data)
        restored = state["watermark_ms"]
        if restored is not None and (self.watermark_ms is None or restored > self.watermark_ms):
            self.watermark_ms = restored
        self.late_count = max(self.late_count, int(state["late_count"]))
