"""Flatline: identical physical telemetry (load, generation) for ``k`` intervals in a row.

Meant for load series only: flat prices are normal (administered caps, long runs at one offer price), so the
:class:`~streamer.detectors.DetectorSet` for prices does not include it. Alerts once per run, when the run
reaches ``k`` values, with the event time of the run's first interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamer.detectors.base import Anomaly, AnomalyType, Severity

__all__ = ["FlatlineConfig", "FlatlineDetector"]


@dataclass(frozen=True, slots=True)
class FlatlineConfig:
    k: int = 6  # identical values in a row (6 hours of hourly load)
    tolerance: float = 0.0  # values within this of the run's first value count as identical

    def __post_init__(self) -> None:
        if self.k < 2 or self.tolerance < 0:
            raise ValueError("need k >= 2 and tolerance >= 0")


class FlatlineDetector:
    type = AnomalyType.FLATLINE

    def __init__(self, config: FlatlineConfig | None = None) -> None:
        self.config = config or FlatlineConfig()
        # key -> [run value, run length, run start event_ms]
        self._state: dict[str, list[Any]] = {}

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        state = self._state.get(key)
        if state is None or abs(value - state[0]) > self.config.tolerance:
            self._state[key] = [value, 1, event_ms]
            return []
        state[1] += 1
        if state[1] != self.config.k:
            return []
        context = {"value": float(state[0]), "run_length": float(state[1])}
        return [Anomaly(key, self.type, Severity.WARNING, 1.0, state[2], context)]

    def tick(self, now_ms: int) -> list[Anomaly]:
        return []

    def dump_key(self, key: str) -> Any:
        return self._state.get(key)

    def load_key(self, key: str, data: Any) -> None:
        value, length, start_ms = data
        self._state[key] = [float(value), int(length), int(start_ms)]

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
