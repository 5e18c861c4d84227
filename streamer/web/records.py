"""What the dashboard keeps of each output record: only the stable fields, in compact form. No I/O.

The enriched record's window context is not part of what the dashboard relies on; it reads only ``key``,
``market``, the series name (``node``, ``zone`` or ``hub``), the event time (``interval_start``, or
``trade_date`` for gas), the value (``lmp``, ``mw`` or ``price``), ``late``, ``anomalies``,
``anomaly_score`` and ``origin``. Bars and anomalies are read by the fields of their contracts.

Every parser returns None for a record it cannot read instead of raising: one malformed output record must
not stop the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import orjson

from streamer.topics import Kind
from streamer.windows.aggregates import iso_ms

__all__ = [
    "SERIES_FIELD",
    "VALUE_FIELD",
    "AnomalyItem",
    "BarPoint",
    "LatestRecord",
    "ParsedBar",
    "parse_anomaly",
    "parse_bar",
    "parse_enriched",
    "parse_time_ms",
]

# The field naming the series inside its market, and the number the dashboard shows, per kind.
SERIES_FIELD: Mapping[Kind, str] = {Kind.PRICES: "node", Kind.LOAD: "zone", Kind.GAS: "hub"}
VALUE_FIELD: Mapping[Kind, str] = {Kind.PRICES: "lmp", Kind.LOAD: "mw", Kind.GAS: "price"}


def parse_time_ms(text: object) -> tuple[int, int] | None:
    """An ISO 8601 time with an offset (or a ``YYYY-MM-DD`` date, taken as UTC midnight) as
    (epoch ms, UTC offset in minutes); None when it is neither."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        if len(text) != 10:
            return None  # a naive time is ambiguous; only a bare date is accepted, as UTC
        when = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    offset = when.utcoffset()
    offset_min = 0 if offset is None else int(offset.total_seconds()) // 60
    return int(when.timestamp() * 1000), offset_min


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _load(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


@dataclass(frozen=True, slots=True)
class LatestRecord:
    """The newest enriched record of one series, as the dashboard shows it."""

    kind: Kind
    key: str
    market: str
    series: str
    event_ms: int
    offset_min: int
    value: float
    late: bool
    anomalies: tuple[str, ...]
    anomaly_score: float
    origin: Mapping[str, Any] | None
    received_ms: int  # the output record's Kafka timestamp (a replay of old files may carry event time)
    seen_ms: int  # when the dashboard read it (wall clock)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "key": self.key,
            "market": self.market,
            SERIES_FIELD[self.kind]: self.series,
            "series": self.series,
            "interval_start": iso_ms(self.event_ms, self.offset_min),
            "event_ms": self.event_ms,
            VALUE_FIELD[self.kind]: self.value,
            "value": self.value,
            "late": self.late,
            "anomalies": list(self.anomalies),
            "anomaly_score": self.anomaly_score,
            "origin": self.origin,
            "received_ms": self.received_ms,
            "seen_ms": self.seen_ms,
        }


def parse_enriched(kind: Kind, value: bytes | None, timestamp_ms: int, seen_ms: int) -> LatestRecord | None:
    obj = _load(value)
    if obj is None:
        return None
    key, market, series = obj.get("key"), obj.get("market"), obj.get(SERIES_FIELD[kind])
    number = _number(obj.get(VALUE_FIELD[kind]))
    when = parse_time_ms(obj.get("interval_start", obj.get("trade_date")))
    if not (isinstance(key, str) and isinstance(market, str) and isinstance(series, str)):
        return None
    if number is None or when is None:
        return None
    anomalies = obj.get("anomalies")
    score = _number(obj.get("anomaly_score"))
    origin = obj.get("origin")
    return LatestRecord(
        kind=kind,
        key=key,
        market=market,
        series=series,
        event_ms=when[0],
        offset_min=when[1],
        value=number,
        late=obj.get("late") is True,
        anomalies=tuple(str(a) for a in anomalies) if isinstance(anomalies, list) else (),
        anomaly_score=score if score is not None else 0.0,
        origin=origin if isinstance(origin, dict) else None,
        received_ms=timestamp_ms,
        seen_ms=seen_ms,
    )


class BarPoint(NamedTuple):
    """One closed-window bar; a tuple, because the dashboard holds many of them."""

    start_ms: int
    end_ms: int
    offset_min: int
    open: float
    high: float
    low: float
    close: float
    mean: float
    min: float
    max: float
    samples: int  # the bar's ``count`` (a tuple already has a count method)
    twap: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "window_start": iso_ms(self.start_ms, self.offset_min),
            "window_end": iso_ms(self.end_ms, self.offset_min),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "offset_min": self.offset_min,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "count": self.samples,
            "twap": self.twap,
        }


@dataclass(frozen=True, slots=True)
class ParsedBar:
    key: str
    market: str
    series: str
    window: str
    point: BarPoint


def parse_bar(kind: Kind, value: bytes | None) -> ParsedBar | None:
    obj = _load(value)
    if obj is None:
        return None
    key, market, window = obj.get("key"), obj.get("market"), obj.get("window")
    series = obj.get(SERIES_FIELD[kind])
    start, end = parse_time_ms(obj.get("window_start")), parse_time_ms(obj.get("window_end"))
    if not (isinstance(key, str) and isinstance(window, str) and start is not None and end is not None):
        return None
    mean, low, high = _number(obj.get("mean")), _number(obj.get("min")), _number(obj.get("max"))
    if mean is None or low is None or high is None:
        return None
    # Load bars carry mean/min/max/count only; a candle for them opens and closes at the mean.
    opened, closed = _number(obj.get("open")), _number(obj.get("close"))
    top, bottom = _number(obj.get("high")), _number(obj.get("low"))
    count = obj.get("count")
    point = BarPoint(
        start_ms=start[0],
        end_ms=end[0],
        offset_min=start[1],
        open=opened if opened is not None else mean,
        high=top if top is not None else high,
        low=bottom if bottom is not None else low,
        close=closed if closed is not None else mean,
        mean=mean,
        min=low,
        max=high,
        samples=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        twap=_number(obj.get("twap")),
    )
    return ParsedBar(
        key=key,
        market=market if isinstance(market, str) else key.partition(":")[0],
        series=series if isinstance(series, str) else key.partition(":")[2],
        window=window,
        point=point,
    )


@dataclass(frozen=True, slots=True)
class AnomalyItem:
    """One anomaly record. ``kind`` is taken from the origin's raw topic when it names one."""

    key: str
    type: str
    severity: str
    score: float
    event_ms: int
    offset_min: int
    detected_at: str
    kind: Kind | None
    origin: Mapping[str, Any] | None
    context: Mapping[str, Any]
    received_ms: int

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type,
            "severity": self.severity,
            "score": self.score,
            "event_time": iso_ms(self.event_ms, self.offset_min),
            "event_ms": self.event_ms,
            "offset_min": self.offset_min,
            "detected_at": self.detected_at,
            "kind": self.kind.value if self.kind is not None else None,
            "origin": self.origin,
            "context": self.context,
            "received_ms": self.received_ms,
        }


def _kind_of_origin(origin: Mapping[str, Any] | None) -> Kind | None:
    topic = origin.get("topic") if origin is not None else None
    if not isinstance(topic, str):
        return None
    for kind in Kind:
        if topic.endswith(f"raw.{kind.value}"):
            return kind
    return None


def parse_anomaly(value: bytes | None, timestamp_ms: int) -> AnomalyItem | None:
    obj = _load(value)
    if obj is None:
        return None
    key, kind_name, severity = obj.get("key"), obj.get("type"), obj.get("severity")
    when = parse_time_ms(obj.get("event_time"))
    if not (isinstance(key, str) and isinstance(kind_name, str) and isinstance(severity, str)):
        return None
    if when is None:
        return None
    origin = obj.get("origin") if isinstance(obj.get("origin"), dict) else None
    context = obj.get("context")
    score = _number(obj.get("score"))
    detected = obj.get("detected_at")
    return AnomalyItem(
        key=key,
        type=kind_name,
        severity=severity,
        score=score if score is not None else 0.0,
        event_ms=when[0],
        offset_min=when[1],
        detected_at=detected if isinstance(detected, str) else "",
        kind=_kind_of_origin(origin),
        origin=origin,
        context=context if isinstance(context, dict) else {},
        received_ms=timestamp_ms,
    )
