"""Event-time windows and anomaly detectors for one (kind, partition) of the raw topics. No Faust, no I/O.

:class:`PartitionState` is what the processor keeps per raw topic-partition: the window tracker (whose
watermark is the partition's largest event time), the detectors of the kind, and the series keys seen on it.
Its state serialises in two parts so the Faust layer can keep them in an ordinary RocksDB-backed table that
is co-partitioned with the raw topics:

- per series key, :meth:`PartitionState.dump_key` (open windows and detector state);
- per partition, :meth:`PartitionState.dump_partition` (watermark, late count and the list of keys, so a
  restarted worker reloads every key of a partition, not only those that happen to send again).

Clock of the stale-feed timer: a replay of historical data has no wall clock worth the name, so ``"event"``
ticks the detectors with the partition watermark (event time), and ``"wall"`` with the wall clock (live feeds,
where a whole partition going silent must still raise an alert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from streamer.detectors import Anomaly, DetectorConfig, DetectorSet
from streamer.topics import Kind
from streamer.windows import AddResult, ClosedBar, WindowSpec, WindowTracker

__all__ = ["STALE_CLOCKS", "VALUE_FIELD", "PartitionState", "parse_window_specs"]

# The number of each kind that windows and detectors follow.
VALUE_FIELD: Mapping[Kind, str] = {Kind.PRICES: "lmp", Kind.LOAD: "mw", Kind.GAS: "price"}
# Kinds that have bars (DESIGN.md §3: bars.prices and bars.load).
_BAR_KINDS = frozenset({Kind.PRICES, Kind.LOAD})
STALE_CLOCKS = ("event", "wall")
_FORMAT = 1


def parse_window_specs(text: str) -> tuple[WindowSpec, ...]:
    """``"5m,1h,1h/5m"`` -> the specs; an empty string means no windows. Raises ValueError."""
    return tuple(WindowSpec.parse(part) for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Observed:
    """What one accepted event did to the windows and detectors of its partition."""

    added: AddResult
    anomalies: tuple[Anomaly, ...]
    watermark_ms: int | None


class PartitionState:
    """Windows and detectors of one raw topic-partition."""

    def __init__(
        self,
        kind: Kind,
        partition: int,
        specs: Sequence[WindowSpec],
        grace_ms: int,
        detector_config: DetectorConfig | None = None,
        detectors_enabled: bool = True,
    ) -> None:
        self.kind = kind
        self.partition = partition
        self.tracker = WindowTracker(specs if kind in _BAR_KINDS else (), grace_ms)
        self.detectors = DetectorSet.for_kind(kind, detector_config) if detectors_enabled else DetectorSet([])
        self.keys: set[str] = set()
        self._keys_changed = False
        self.next_offset: int | None = None  # the raw partition's offset after the last record processed

    @property
    def watermark_ms(self) -> int | None:
        return self.tracker.watermark_ms

    def observe(self, key: str, event_ms: int, interval_ms: int, fields: Mapping[str, Any]) -> Observed:
        value = float(fields[VALUE_FIELD[self.kind]])
        if key not in self.keys:
            self.keys.add(key)
            self._keys_changed = True
        added = self.tracker.add(key, event_ms, interval_ms, value, fields)
        anomalies = tuple(self.detectors.observe(key, event_ms, value, fields))
        return Observed(added, anomalies, self.tracker.watermark_ms)

    def windows_of(self, event_ms: int) -> tuple[list[dict[str, Any]], int]:
        """The windows an event belongs to (as late-record entries) and how many of them have closed."""
        watermark_ms = self.tracker.watermark_ms
        closed_end_ms = None if watermark_ms is None else watermark_ms - self.tracker.grace_ms
        windows: list[dict[str, Any]] = []
        closed = 0
        for spec in self.tracker.specs:
            for start_ms, end_ms in spec.windows(event_ms):
                is_closed = closed_end_ms is not None and end_ms <= closed_end_ms
                closed += is_closed
                windows.append(
                    {
                        "window": spec.name,
                        "window_start_ms": start_ms,
                        "window_end_ms": end_ms,
                        "closed": is_closed,
                    }
                )
        return windows, closed

    def close_ready(self) -> list[ClosedBar]:
        return self.tracker.close_ready()

    def tick(self, now_ms: int) -> list[Anomaly]:
        return self.detectors.tick(now_ms)

    def clock_ms(self, stale_clock: str, wall_ms: int) -> int | None:
        """ "Now" for the stale-feed detector of this partition (see the module docstring)."""
        return wall_ms if stale_clock == "wall" else self.tracker.watermark_ms

    def dump_key(self, key: str) -> Any:
        """Open windows and detector state of ``key`` as an orjson-serialisable object, or None if none."""
        windows = self.tracker.dump_key(key)
        detectors = self.detectors.dump_key(key)
        if windows is None and detectors is None:
            return None
        return {
            "w": None if windows is None else orjson.Fragment(windows),
            "d": None if detectors is None else orjson.Fragment(detectors),
        }

    def load_key(self, key: str, state: Mapping[str, Any]) -> None:
        self.keys.add(key)
        if state.get("w") is not None:
            self.tracker.load_key(key, orjson.dumps(state["w"]))
        if state.get("d") is not None:
            self.detectors.load_key(key, orjson.dumps(state["d"]))

    def take_partition_changed(self) -> bool:
        """Whether the key list changed since the last call (the watermark changes with every event)."""
        changed, self._keys_changed = self._keys_changed, False
        return changed

    def dump_partition(self) -> bytes:
        return orjson.dumps(
            {
                "format": _FORMAT,
                "watermark_ms": self.tracker.watermark_ms,
                "late_count": self.tracker.late_count,
                "keys": sorted(self.keys),
                "next_offset": self.next_offset,
            }
        )

    def load_partition(self, data: bytes) -> list[str]:
        """Restore the watermark and key list; returns the keys whose state the caller should load."""
        state = orjson.loads(data)
        self.tracker.load_watermark(
            orjson.dumps({"watermark_ms": state["watermark_ms"], "late_count": state["late_count"]})
        )
        restored = state.get("next_offset")
        if isinstance(restored, int) and (self.next_offset is None or restored > self.next_offset):
            self.next_offset = restored
        keys = [str(k) for k in state["keys"]]
        self.keys.update(keys)
        return keys
