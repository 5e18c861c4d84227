"""The anomaly record and the protocol every detector follows.

Detectors are plain objects with state per series key. ``observe`` is called for each accepted event in
event-time order per key; ``tick`` is the timer call for detectors that react to the absence of events.
State per key dumps to a small JSON-able value the state store persists with the series, loads back, and can
be forgotten when the series leaves the store's cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from streamer.windows.aggregates import iso_ms

__all__ = ["Anomaly", "AnomalyType", "Detector", "Severity"]


class AnomalyType(StrEnum):
    PRICE_SPIKE = "price_spike"
    OUT_OF_BAND = "out_of_band"
    STALE_FEED = "stale_feed"
    FLATLINE = "flatline"
    LOAD_DROP = "load_drop"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One detected anomaly. ``event_ms`` is the interval start of the event that triggered it."""

    key: str
    type: AnomalyType
    severity: Severity
    score: float
    event_ms: int
    context: Mapping[str, float] = field(default_factory=dict)

    def to_record(
        self,
        detected_ms: int,
        origin: Mapping[str, Any] | None = None,
        offset_min: int = 0,
    ) -> dict[str, Any]:
        """The ``anomalies`` record; times in the given UTC offset (the series' own, when known)."""
        return {
            "key": self.key,
            "type": self.type.value,
            "severity": self.severity.value,
            "score": self.score,
            "event_time": iso_ms(self.event_ms, offset_min),
            "detected_at": iso_ms(detected_ms, offset_min),
            "origin": dict(origin) if origin is not None else None,
            "context": dict(self.context),
        }


class Detector(Protocol):
    """What the pipeline calls. ``fields`` is the validated record (market, interval_minutes, ...)."""

    type: AnomalyType

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]: ...

    def tick(self, now_ms: int) -> list[Anomaly]: ...

    def dump_key(self, key: str) -> Any: ...

    def load_key(self, key: str, data: Any) -> None: ...

    def forget(self, key: str) -> None: ...
