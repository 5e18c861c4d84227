"""Event-time windows and anomaly detectors for one (kind, partition) of the raw topics. No Faust, no I/O.

:class:`PartitionState` is what the processor keeps per raw topic-partition: its meta entry (watermark,
next offset to process, late count), the window tracker over panes, the detectors of the kind, and access
to the series of the partition through the :class:`streamer.state.StateStore`. Nothing in it grows with the
number of series except the stale-feed detector's few numbers per series (the timer must see every series)
and the tracker's index of open panes.

Clock of the stale-feed timer: a replay of historical data has no wall clock worth the name, so ``"event"``
ticks the detectors with the partition watermark (event time), and ``"wall"`` with the wall clock (live feeds,
where a whole partition going silent must still raise an alert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from streamer import jsonbytes
from streamer.detectors import Anomaly, DetectorConfig, DetectorSet
from streamer.revisions import DEFAULT_HORIZON_MS, Revision
from streamer.state.keys import (
    chunk_key,
    meta_key,
    parse_series_key,
    revision_key,
    revision_prefix,
    series_key,
    series_prefix,
    time_bytes,
)
from streamer.state.series import SeriesState
from streamer.state.store import StateStore
from streamer.topics import Kind
from streamer.windows import AddResult, ClosedBar, WindowSpec, WindowStats, WindowTracker

__all__ = ["STALE_CLOCKS", "VALUE_FIELD", "Meta", "Observed", "PartitionState", "parse_window_specs"]

# The number of each kind that windows and detectors follow.
VALUE_FIELD: Mapping[Kind, str] = {Kind.PRICES: "lmp", Kind.LOAD: "mw", Kind.GAS: "price"}
# Kinds that have bars (the contract: bars.prices and bars.load).
_BAR_KINDS = frozenset({Kind.PRICES, Kind.LOAD})
STALE_CLOCKS = ("event", "wall")


def parse_window_specs(text: str) -> tuple[WindowSpec, ...]:
    """``"5m,1h,1h/5m"`` -> the specs; an empty string means no windows. Raises ValueError."""
    return tuple(WindowSpec.parse(part) for part in text.split(",") if part.strip())


@dataclass(slots=True)
class Meta:
    """The partition's meta entry, written last with every batch."""

    watermark_ms: int | None = None
    late_count: int = 0
    next_offset: int | None = None  # the raw partition's offset after the last record processed
    revisions_pruned_ms: int | None = None  # revision entries of intervals before this are deleted
    closing: list[int | None] | None = None  # windows closed whose bars are not all out (WindowTracker)

    def encode(self) -> bytes:
        fields: list[Any] = [self.watermark_ms, self.late_count, self.next_offset, self.revisions_pruned_ms]
        if self.closing is not None:
            fields.append(self.closing)
        return jsonbytes.dumps(fields)

    @classmethod
    def decode(cls, data: bytes | None) -> Meta:
        if data is None:
            return cls()
        watermark_ms, late_count, next_offset, pruned_ms, *closing = orjson.loads(data)
        return cls(watermark_ms, int(late_count), next_offset, pruned_ms, closing[0] if closing else None)


@dataclass(slots=True)  # not frozen: 4x cheaper to build, and several are built per event
class Observed:
    """What one accepted event did to the windows and detectors of its partition."""

    added: AddResult
    anomalies: tuple[Anomaly, ...]
    scored: tuple[float, float, float, float] | None  # (score, median, mad, scale) of the spike detector
    stats: tuple[WindowStats, ...]
    watermark_ms: int | None


class PartitionState:
    """Windows, detectors and meta of one raw topic-partition, over the state store."""

    def __init__(
        self,
        kind: Kind,
        partition: int,
        specs: Sequence[WindowSpec],
        grace_ms: int,
        store: StateStore,
        detector_config: DetectorConfig | None = None,
        detectors_enabled: bool = True,
        horizon_ms: int = DEFAULT_HORIZON_MS,
    ) -> None:
        self.kind = kind
        self.partition = partition
        self.store = store
        self.horizon_ms = horizon_ms
        self.meta = Meta.decode(store.get(partition, meta_key(kind)))
        self.durable_watermark_ms = self.meta.watermark_ms
        self.tracker = WindowTracker(
            specs if kind in _BAR_KINDS else (),
            grace_ms,
            store.panes(partition, kind),
            watermark_ms=self.meta.watermark_ms,
            closing=self.meta.closing,
        )
        self.tracker.late_count = self.meta.late_count
        self.detectors = DetectorSet.for_kind(kind, detector_config) if detectors_enabled else DetectorSet([])
        prefix = series_prefix(kind)
        for entry_key, value in store.scan(partition, prefix, prefix + b"\xff"):
            stale = SeriesState.stale_part(value)
            if stale is not None:  # the stale-feed timer must know every series, cached or not
                self.detectors.load_key(parse_series_key(entry_key), {"stale_feed": stale})

    @property
    def watermark_ms(self) -> int | None:
        return self.tracker.watermark_ms

    @property
    def next_offset(self) -> int | None:
        return self.meta.next_offset

    @next_offset.setter
    def next_offset(self, offset: int | None) -> None:
        self.meta.next_offset = offset

    # -- series ----------------------------------------------------------------------------------------
    def series(self, key: str) -> SeriesState:
        """The series' summary, from the cache, else the store, else new."""
        cached = self.store.cached_series(self.partition, self.kind, key)
        if cached is not None:
            assert isinstance(cached, SeriesState)
            return cached
        data = self.store.get(self.partition, series_key(self.kind, key))
        if data is None:
            series = SeriesState(self.kind, key, self.detectors)
        else:
            series = SeriesState.decode(self.kind, key, self.detectors, data, self._chunk_reader(key))
        self.store.add_series(self.partition, self.kind, key, series)
        return series

    def _chunk_reader(self, key: str) -> Any:
        def read(slot: int) -> bytes | None:
            return self.store.get(self.partition, chunk_key(self.kind, key, slot))

        return read

    def mark(self, series: SeriesState) -> None:
        self.store.mark_series(self.partition, self.kind, series.key, series)

    # -- revisions -------------------------------------------------------------------------------------
    def revision(self, key: str, event_ms: int) -> Revision | None:
        data = self.store.get(self.partition, revision_key(self.kind, key, event_ms))
        return None if data is None else Revision.from_bytes(data)

    def put_revision(self, key: str, event_ms: int, revision: Revision) -> None:
        self.store.put(self.partition, revision_key(self.kind, key, event_ms), revision.to_bytes())

    def beyond_horizon(self, event_ms: int) -> bool:
        """Older than the revision horizon behind the watermark: not checked, not remembered."""
        watermark_ms = self.watermark_ms
        return watermark_ms is not None and event_ms < watermark_ms - self.horizon_ms

    # -- events ----------------------------------------------------------------------------------------
    def observe(
        self,
        series: SeriesState,
        event_ms: int,
        interval_ms: int,
        value: float,
        fields: Mapping[str, Any],
        offset: int,
    ) -> Observed:
        """Add an accepted event to its pane and, unless ``offset`` was applied already, to the detectors."""
        key = series.key
        added = self.tracker.add(key, event_ms, interval_ms, value, fields, offset)
        anomalies: list[Anomaly] = []
        scored = None
        if offset < 0 or offset > series.last_offset:
            anomalies, scored = self.detectors.observe_scored(key, event_ms, value, fields)
            series.last_offset = max(series.last_offset, offset)
        if series.newest_ms is None or event_ms > series.newest_ms:
            series.newest_ms = event_ms
        self.mark(series)
        if added.is_late:
            self.meta.late_count = self.tracker.late_count
        stats = tuple(self.tracker.current_stats(key, event_ms)) if added.accepted else ()
        return Observed(added, tuple(anomalies), scored, stats, self.tracker.watermark_ms)

    def windows_of(self, event_ms: int) -> tuple[list[dict[str, Any]], int]:
        """The windows an event belongs to (as late-record entries) and how many of them have closed."""
        windows: list[dict[str, Any]] = []
        closed = 0
        for spec, start_ms, end_ms, is_closed in self.tracker.windows_of(event_ms):
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

    def close_ready(self, limit: int | None = None) -> list[ClosedBar]:
        return self.tracker.close_ready(limit)

    def tick(self, now_ms: int) -> list[Anomaly]:
        return self.detectors.tick(now_ms)

    def clock_ms(self, stale_clock: str, wall_ms: int) -> int | None:
        """ "Now" for the stale-feed detector of this partition (see the module docstring)."""
        return wall_ms if stale_clock == "wall" else self.tracker.watermark_ms

    # -- persistence -----------------------------------------------------------------------------------
    def prune(self) -> None:
        """Delete panes whose windows all closed, and revision entries past the horizon, as of the durable
        watermark (one a crash cannot take back)."""
        durable_ms = self.durable_watermark_ms
        if durable_ms is None:
            return
        self.tracker.prune(durable_ms)
        bound_ms = durable_ms - self.horizon_ms
        pruned_ms = self.meta.revisions_pruned_ms
        if pruned_ms is not None and bound_ms <= pruned_ms:
            return
        prefix = revision_prefix(self.kind)
        start = prefix if pruned_ms is None else prefix + time_bytes(pruned_ms)
        for entry_key, _ in self.store.scan(self.partition, start, prefix + time_bytes(bound_ms)):
            self.store.put(self.partition, entry_key, None)
        self.meta.revisions_pruned_ms = bound_ms

    def write_meta(self) -> None:
        self.meta.watermark_ms = self.tracker.watermark_ms
        self.meta.late_count = self.tracker.late_count
        self.meta.closing = self.tracker.closing_state
        self.store.put_meta(self.partition, self.kind, meta_key(self.kind), self.meta.encode())

    def persisted(self) -> None:
        """The meta entry written by :meth:`write_meta` is durable."""
        self.durable_watermark_ms = self.meta.watermark_ms
