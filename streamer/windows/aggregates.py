"""Per-(key, window) bar aggregates and the bar record of the contract (DESIGN.md §3).

Sums are kept exactly (Shewchuk's non-overlapping partials, as ``math.fsum`` does), so a bar does not depend
on the order its events arrived in: the streaming path equals a batch computation bit for bit.

``twap`` definition: each value is weighted by the length of its interval ``[start, start + interval_ms)``
clipped to the window. A window holds the intervals that start inside it, so only the end can be clipped
(a 30-minute interval in a 5-minute window weighs 5 minutes). For equal-length intervals twap equals the mean.

Ties: ``open`` is the value of the earliest interval start and ``close`` the latest; if two events share that
start, the first to arrive wins (re-sent intervals are the validator's business, not the window's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from streamer.topics import Kind

__all__ = ["BarAggregate", "bar_record", "iso_ms", "utc_offset_min"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to the exact sum represented by ``partials`` (in place)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def iso_ms(ms: int, offset_min: int = 0) -> str:
    """ISO 8601 for epoch milliseconds in a fixed UTC offset, e.g. ``2009-01-29T13:00:00+10:00``."""
    tz = UTC if offset_min == 0 else timezone(timedelta(minutes=offset_min))
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).isoformat()


def utc_offset_min(fields: Mapping[str, Any]) -> int:
    """The UTC offset (minutes) of ``fields["interval_start"]`` when it is an aware ISO string, else 0."""
    text = fields.get("interval_start")
    if not isinstance(text, str):
        return 0
    try:
        offset = datetime.fromisoformat(text).utcoffset()
    except ValueError:
        return 0
    return 0 if offset is None else int(offset.total_seconds()) // 60


@dataclass(slots=True)
class BarAggregate:
    """Running statistics of one key in one window ``[start_ms, end_ms)`` of the spec named ``window``."""

    window: str
    start_ms: int
    end_ms: int
    offset_min: int = 0
    count: int = 0
    open_ms: int = 0
    open: float = 0.0
    close_ms: int = 0
    close: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    sum_partials: list[float] = field(default_factory=list)
    weighted_partials: list[float] = field(default_factory=list)
    weight_ms: int = 0

    def add(self, event_ms: int, interval_ms: int, value: float) -> None:
        if self.count == 0:
            self.open_ms = self.close_ms = event_ms
            self.open = self.close = self.low = self.high = value
        else:
            if event_ms < self.open_ms:
                self.open_ms, self.open = event_ms, value
            elif event_ms > self.close_ms:
                self.close_ms, self.close = event_ms, value
            if value < self.low:
                self.low = value
            if value > self.high:
                self.high = value
        self.count += 1
        _add_exact(self.sum_partials, value)
        end_ms = event_ms + interval_ms
        weight_ms = interval_ms if end_ms <= self.end_ms else max(0, self.end_ms - event_ms)
        _add_exact(self.weighted_partials, value * weight_ms)
        self.weight_ms += weight_ms

    @property
    def mean(self) -> float:
        return math.fsum(self.sum_partials) / self.count

    @property
    def twap(self) -> float:
        if self.weight_ms == 0:
            return self.mean
        return math.fsum(self.weighted_partials) / self.weight_ms

    def to_list(self) -> list[Any]:
        return [
            self.window,
            self.start_ms,
            self.end_ms,
            self.offset_min,
            self.count,
            self.open_ms,
            self.open,
            self.close_ms,
            self.close,
            self.low,
            self.high,
            self.sum_partials,
            self.weighted_partials,
            self.weight_ms,
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> BarAggregate:
        return cls(
            window=row[0],
            start_ms=row[1],
            end_ms=row[2],
            offset_min=row[3],
            count=row[4],
            open_ms=row[5],
            open=row[6],
            close_ms=row[7],
            close=row[8],
            low=row[9],
            high=row[10],
            sum_partials=list(row[11]),
            weighted_partials=list(row[12]),
            weight_ms=row[13],
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_list())

    @classmethod
    def from_bytes(cls, data: bytes) -> BarAggregate:
        return cls.from_list(orjson.loads(data))


def bar_record(key: str, kind: Kind, agg: BarAggregate) -> dict[str, Any]:
    """The ``bars.*`` record. Market and node/zone come from the key ``MARKET:NAME``.

    ``window_start``/``window_end`` are rendered in the UTC offset of the series' own ``interval_start``
    (of the event that opened the window), or UTC when that was unknown.
    """
    market, _, name = key.partition(":")
    record: dict[str, Any] = {"key": key, "market": market}
    record["zone" if kind is Kind.LOAD else "node"] = name
    record["window"] = agg.window
    record["window_start"] = iso_ms(agg.start_ms, agg.offset_min)
    record["window_end"] = iso_ms(agg.end_ms, agg.offset_min)
    if kind is Kind.LOAD:
        record.update(mean=agg.mean, min=agg.low, max=agg.high, count=agg.count)
        return record
    record.update(
        open=agg.open,
        high=agg.high,
        low=agg.low,
        close=agg.close,
        mean=agg.mean,
        min=agg.low,
        max=agg.high,
        count=agg.count,
        twap=agg.twap,
    )
    return record
