"""The dashboard's view of the market: bounded, in memory, fed from the output topics. No I/O.

It holds only what the page shows, each part with a bound:

- the latest enriched record per series (``max_series``; the least recently updated series goes first);
- the bars per series and window (``bars_per_series`` each; the oldest-arrived bar goes first), for the
  windows in ``bar_windows`` (every window when None);
- a ring of the most recent anomalies (``anomalies``);
- dead letters counted by reason per minute of their Kafka timestamp (``dlq_minutes`` minutes), and in total;
- per market, the newest event time and the newest record's Kafka timestamp (freshness).

A series is (kind, key): ``AEMO:SA1`` is both a price node and a load zone.

What changed since the last :meth:`MarketView.take_changes` is collected so the server can push it.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from streamer.topics import Kind
from streamer.web.records import (
    AnomalyItem,
    BarPoint,
    LatestRecord,
    parse_anomaly,
    parse_bar,
    parse_enriched,
)

__all__ = ["BarSeriesId", "Changes", "MarketFreshness", "MarketView", "SeriesId", "ViewLimits"]

SeriesId = tuple[Kind, str]
BarSeriesId = tuple[Kind, str, str]  # (kind, key, window)
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class ViewLimits:
    max_series: int = 100_000
    bars_per_series: int = 2_000
    bar_windows: frozenset[str] | None = frozenset({"5m", "1h"})
    anomalies: int = 2_000
    dlq_minutes: int = 24 * 60

    def __post_init__(self) -> None:
        if min(self.max_series, self.bars_per_series, self.anomalies, self.dlq_minutes) < 1:
            raise ValueError("every dashboard limit must be at least 1")


@dataclass(slots=True)
class MarketFreshness:
    market: str
    newest_event_ms: int
    offset_min: int
    last_received_ms: int  # newest Kafka timestamp
    last_seen_ms: int  # when the dashboard last read a record of this market (wall clock)
    series: int = 0

    def as_json(self, now_ms: int) -> dict[str, Any]:
        return {
            "market": self.market,
            "newest_event_ms": self.newest_event_ms,
            "offset_min": self.offset_min,
            "event_age_s": max(0.0, (now_ms - self.newest_event_ms) / 1000),
            "last_received_ms": self.last_received_ms,
            "received_age_s": max(0.0, (now_ms - self.last_received_ms) / 1000),
            "last_seen_ms": self.last_seen_ms,
            "seen_age_s": max(0.0, (now_ms - self.last_seen_ms) / 1000),
            "series": self.series,
        }


@dataclass(slots=True)
class Changes:
    """What changed since the previous take: the server pushes this to the open pages."""

    latest: list[LatestRecord] = field(default_factory=list)
    bars: dict[BarSeriesId, list[BarPoint]] = field(default_factory=dict)
    anomalies: list[AnomalyItem] = field(default_factory=list)
    dlq: dict[int, dict[str, int]] = field(default_factory=dict)
    markets: bool = False

    def empty(self) -> bool:
        return not (self.latest or self.bars or self.anomalies or self.dlq or self.markets)


class MarketView:
    def __init__(self, limits: ViewLimits | None = None) -> None:
        self.limits = limits or ViewLimits()
        self._latest: dict[SeriesId, LatestRecord] = {}
        self._bars: dict[BarSeriesId, dict[int, BarPoint]] = {}
        self._anomalies: deque[AnomalyItem] = deque(maxlen=self.limits.anomalies)
        self._dlq: dict[int, Counter[str]] = {}
        self._dlq_totals: Counter[str] = Counter()
        self._markets: dict[str, MarketFreshness] = {}
        self.records: Counter[str] = Counter()  # read, by output kind ("enriched", "bar", ...)
        self.unreadable: Counter[str] = Counter()
        self._dirty_latest: set[SeriesId] = set()
        self._new_bars: dict[BarSeriesId, list[BarPoint]] = {}
        self._new_anomalies: deque[AnomalyItem] = deque(maxlen=self.limits.anomalies)
        self._dirty_minutes: set[int] = set()
        self._markets_changed = False

    # --- writes ---------------------------------------------------------------------------------------

    def add_enriched(self, kind: Kind, value: bytes | None, timestamp_ms: int, seen_ms: int) -> bool:
        record = parse_enriched(kind, value, timestamp_ms, seen_ms)
        if record is None:
            self.unreadable["enriched"] += 1
            return False
        self.records["enriched"] += 1
        self._fresh(record)
        sid = (kind, record.key)
        current = self._latest.get(sid)
        if current is not None and record.event_ms < current.event_ms:
            return True  # a late or revised older interval: valid, but not the latest
        if current is None:
            self._markets[record.market].series += 1
            self._markets_changed = True
        else:
            del self._latest[sid]  # re-inserted below: the dict's order is least recently updated first
        self._latest[sid] = record
        self._dirty_latest.add(sid)
        while len(self._latest) > self.limits.max_series:
            self._evict_series(next(iter(self._latest)))
        return True

    def _fresh(self, record: LatestRecord) -> None:
        fresh = self._markets.get(record.market)
        if fresh is None:
            self._markets[record.market] = MarketFreshness(
                record.market, record.event_ms, record.offset_min, record.received_ms, record.seen_ms
            )
            self._markets_changed = True
            return
        if record.event_ms > fresh.newest_event_ms:
            fresh.newest_event_ms, fresh.offset_min = record.event_ms, record.offset_min
            self._markets_changed = True
        if record.received_ms > fresh.last_received_ms:
            fresh.last_received_ms = record.received_ms
            self._markets_changed = True
        if record.seen_ms > fresh.last_seen_ms:
            fresh.last_seen_ms = record.seen_ms
            self._markets_changed = True

    def _evict_series(self, sid: SeriesId) -> None:
        record = self._latest.pop(sid)
        self._dirty_latest.discard(sid)
        self._markets[record.market].series -= 1
        for bar_id in [b for b in self._bars if b[:2] == sid]:
            del self._bars[bar_id]
            self._new_bars.pop(bar_id, None)

    def add_bar(self, kind: Kind, value: bytes | None) -> bool:
        parsed = parse_bar(kind, value)
        if parsed is None:
            self.unreadable["bar"] += 1
            return False
        self.records["bar"] += 1
        windows = self.limits.bar_windows
        if windows is not None and parsed.window not in windows:
            return True
        bar_id = (kind, parsed.key, parsed.window)
        bars = self._bars.get(bar_id)
        if bars is None:
            bars = self._bars[bar_id] = {}
            limit = self.limits.max_series * (len(windows) if windows is not None else 4)
            while len(self._bars) > limit:
                oldest = next(iter(self._bars))
                del self._bars[oldest]
                self._new_bars.pop(oldest, None)
        bars[parsed.point.start_ms] = parsed.point  # a repeat (re-delivery) replaces its first copy
        if len(bars) > self.limits.bars_per_series:
            del bars[next(iter(bars))]
        fresh = self._new_bars.setdefault(bar_id, [])
        fresh.append(parsed.point)
        if len(fresh) > self.limits.bars_per_series:
            del fresh[0]
        return True

    def add_anomaly(self, value: bytes | None, timestamp_ms: int) -> bool:
        item = parse_anomaly(value, timestamp_ms)
        if item is None:
            self.unreadable["anomaly"] += 1
            return False
        self.records["anomaly"] += 1
        self._anomalies.append(item)
        self._new_anomalies.append(item)
        return True

    def add_dead_letter(self, reason: str, timestamp_ms: int) -> None:
        self.records["dlq"] += 1
        self._dlq_totals[reason] += 1
        minute = timestamp_ms - timestamp_ms % MINUTE_MS
        newest = max(self._dlq, default=minute)
        if minute <= newest - self.limits.dlq_minutes * MINUTE_MS:
            return  # older than the per-minute history kept; counted in the totals only
        self._dlq.setdefault(minute, Counter())[reason] += 1
        self._dirty_minutes.add(minute)
        if minute > newest:
            cutoff = minute - self.limits.dlq_minutes * MINUTE_MS
            for old in [m for m in self._dlq if m <= cutoff]:
                del self._dlq[old]
                self._dirty_minutes.discard(old)

    # --- reads ----------------------------------------------------------------------------------------

    def latest(self, kind: Kind, key: str) -> LatestRecord | None:
        return self._latest.get((kind, key))

    def latest_list(
        self,
        kind: Kind | None = None,
        market: str | None = None,
        contains: str | None = None,
        limit: int | None = None,
    ) -> list[LatestRecord]:
        """Latest records, filtered, in key order. ``contains`` matches the key case-insensitively."""
        needle = contains.lower() if contains else None
        out = [
            r
            for (k, key), r in self._latest.items()
            if (kind is None or k == kind)
            and (market is None or r.market == market)
            and (needle is None or needle in key.lower())
        ]
        out.sort(key=lambda r: (r.kind.value, r.key))
        return out if limit is None else out[:limit]

    def series_count(self) -> int:
        return len(self._latest)

    def markets(self) -> list[MarketFreshness]:
        return [self._markets[m] for m in sorted(self._markets)]

    def bar_windows(self, kind: Kind, key: str) -> list[str]:
        return sorted(w for (k, s, w) in self._bars if k == kind and s == key)

    def bars(
        self, kind: Kind, key: str, window: str, from_ms: int | None = None, to_ms: int | None = None
    ) -> list[BarPoint]:
        """Bars of one series and window whose start is in ``[from_ms, to_ms)``, oldest first."""
        stored = self._bars.get((kind, key, window), {})
        return sorted(
            (
                b
                for b in stored.values()
                if (from_ms is None or b.start_ms >= from_ms) and (to_ms is None or b.start_ms < to_ms)
            ),
            key=lambda b: b.start_ms,
        )

    def anomalies(
        self,
        key: str | None = None,
        kind: Kind | None = None,
        type_: str | None = None,
        severity: str | None = None,
        limit: int = 100,
    ) -> list[AnomalyItem]:
        """The most recent anomalies first. ``kind`` keeps those of that kind and those of no known kind."""
        out: list[AnomalyItem] = []
        for item in reversed(self._anomalies):
            if key is not None and item.key != key:
                continue
            if kind is not None and item.kind not in (kind, None):
                continue
            if type_ is not None and item.type != type_:
                continue
            if severity is not None and item.severity != severity:
                continue
            out.append(item)
            if len(out) >= limit:
                break
        return out

    def dlq_by_minute(self, since_ms: int | None = None) -> list[tuple[int, dict[str, int]]]:
        return [(m, dict(self._dlq[m])) for m in sorted(self._dlq) if since_ms is None or m >= since_ms]

    def dlq_totals(self) -> dict[str, int]:
        return dict(self._dlq_totals.most_common())

    # --- changes --------------------------------------------------------------------------------------

    def take_changes(self) -> Changes:
        changes = Changes(
            latest=[self._latest[s] for s in self._dirty_latest if s in self._latest],
            bars=self._new_bars,
            anomalies=list(self._new_anomalies),
            dlq={m: dict(self._dlq[m]) for m in sorted(self._dirty_minutes) if m in self._dlq},
            markets=self._markets_changed,
        )
        self._dirty_latest = set()
        self._new_bars = {}
        self._new_anomalies.clear()
        self._dirty_minutes = set()
        self._markets_changed = False
        return changes
