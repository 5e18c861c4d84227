"""Anomaly detectors: plain stateful objects whose per-key state serialises to bytes.

:class:`DetectorSet` runs the detectors configured for one kind of series:

- prices: price spike (median/MAD), out-of-band (near cap or floor), stale feed;
- load: flatline, load drop, stale feed (flat prices are normal, flat load is not);
- gas: price spike, stale feed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer.detectors.band import BandConfig, BandDetector
from streamer.detectors.base import Anomaly, AnomalyType, Detector, Severity
from streamer.detectors.flatline import FlatlineConfig, FlatlineDetector
from streamer.detectors.load_drop import LoadDropConfig, LoadDropDetector
from streamer.detectors.spike import SpikeConfig, SpikeDetector
from streamer.detectors.stale import StaleConfig, StaleFeedDetector
from streamer.topics import Kind

__all__ = [
    "Anomaly",
    "AnomalyType",
    "BandConfig",
    "BandDetector",
    "Detector",
    "DetectorConfig",
    "DetectorSet",
    "FlatlineConfig",
    "FlatlineDetector",
    "LoadDropConfig",
    "LoadDropDetector",
    "Severity",
    "SpikeConfig",
    "SpikeDetector",
    "StaleConfig",
    "StaleFeedDetector",
]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Settings of every detector; build once."""

    spike: SpikeConfig = field(default_factory=SpikeConfig)
    band: BandConfig = field(default_factory=BandConfig)
    stale: StaleConfig = field(default_factory=StaleConfig)
    flatline: FlatlineConfig = field(default_factory=FlatlineConfig)
    load_drop: LoadDropConfig = field(default_factory=LoadDropConfig)


class DetectorSet:
    """The detectors for one kind of series, run together; state per key is one JSON object of theirs."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        if len({d.type for d in detectors}) != len(detectors):
            raise ValueError("one detector per anomaly type")
        self.detectors = tuple(detectors)

    @classmethod
    def for_kind(cls, kind: Kind, config: DetectorConfig | None = None) -> DetectorSet:
        cfg = config or DetectorConfig()
        detectors: list[Detector]
        if kind is Kind.PRICES:
            detectors = [SpikeDetector(cfg.spike), BandDetector(cfg.band), StaleFeedDetector(cfg.stale)]
        elif kind is Kind.LOAD:
            detectors = [
                FlatlineDetector(cfg.flatline),
                LoadDropDetector(cfg.load_drop),
                StaleFeedDetector(cfg.stale),
            ]
        else:
            detectors = [SpikeDetector(cfg.spike), StaleFeedDetector(cfg.stale)]
        return cls(detectors)

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        return self.observe_scored(key, event_ms, value, fields)[0]

    def observe_scored(
        self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]
    ) -> tuple[list[Anomaly], tuple[float, float, float, float] | None]:
        """Anomalies, and the robust spike score ``(score, median, mad, scale)`` the value was judged by (None
        without a spike detector or while its history is short)."""
        found: list[Anomaly] = []
        scored = None
        for detector in self.detectors:
            if isinstance(detector, SpikeDetector):
                anomalies, scored = detector.observe_scored(key, event_ms, value, fields)
                found.extend(anomalies)
            else:
                found.extend(detector.observe(key, event_ms, value, fields))
        return found, scored

    def tick(self, now_ms: int) -> list[Anomaly]:
        found: list[Anomaly] = []
        for detector in self.detectors:
            found.extend(detector.tick(now_ms))
        return found

    def dump_key(self, key: str) -> dict[str, Any] | None:
        """Every detector's state of ``key`` by anomaly type (JSON-able), or None when none has any."""
        parts = {}
        for detector in self.detectors:
            data = detector.dump_key(key)
            if data is not None:
                parts[detector.type.value] = data
        return parts or None

    def take_chunks(self, key: str) -> list[tuple[int, bytes]]:
        """History chunks of ``key`` filled since the last call (the spike detector's), to persist once."""
        return [c for d in self.detectors if isinstance(d, SpikeDetector) for c in d.take_chunks(key)]

    def load_key(
        self, key: str, parts: Mapping[str, Any], read_chunk: Callable[[int], bytes | None] | None = None
    ) -> None:
        for detector in self.detectors:
            data = parts.get(detector.type.value)
            if data is None:
                continue
            if isinstance(detector, SpikeDetector):
                detector.load_key(key, data, read_chunk)
            else:
                detector.load_key(key, data)

    def forget(self, key: str) -> None:
        """Drop ``key``'s state from memory (it is persisted); the stale-feed detector keeps its own."""
        for detector in self.detectors:
            detector.forget(key)
