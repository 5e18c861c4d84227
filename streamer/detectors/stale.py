"""Stale feed: no new interval for a key for ``k`` expected intervals.

Absence cannot be seen from events, so this detector reacts to :meth:`StaleFeedDetector.tick` calls with the
current time (wall clock in production, the partition watermark in a replay). It alerts once per gap and once
more if the gap reaches ``critical_k`` intervals; a new event for the key resets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamer.detectors.base import Anomaly, AnomalyType, Severity

__all__ = ["StaleConfig", "StaleFeedDetector"]


@dataclass(frozen=True, slots=True)
class StaleConfig:
    k: int = 3  # missing expected intervals before a warning
    critical_k: int = 12  # missing expected intervals before a critical alert
    default_interval_ms: int = 5 * 60_000  # when the record has no interval_minutes

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.critical_k or self.default_interval_ms <= 0:
            raise ValueError("need 1 <= k <= critical_k and default_interval_ms > 0")


class StaleFeedDetector:
    type = AnomalyType.STALE_FEED

    def __init__(self, config: StaleConfig | None = None) -> None:
        self.config = config or StaleConfig()
        # key -> [last event_ms, interval_ms, alert level already sent (0, 1 warning, 2 critical)]
        self._state: dict[str, list[int]] = {}

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        minutes = fields.get("interval_minutes")
        interval_ms = int(minutes) * 60_000 if isinstance(minutes, int | float) and minutes > 0 else 0
        state = self._state.get(key)
        if state is None:
            self._state[key] = [event_ms, interval_ms or self.config.default_interval_ms, 0]
        elif event_ms > state[0]:
            state[0], state[2] = event_ms, 0
            if interval_ms:
                state[1] = interval_ms
        return []

    def missing_intervals(self, key: str, now_ms: int) -> int:
        """Expected intervals after the last one seen for ``key`` that have fully elapsed by ``now_ms``."""
        last_ms, interval_ms, _ = self._state[key]
        return max(0, (now_ms - last_ms) // interval_ms - 1)

    def tick(self, now_ms: int) -> list[Anomaly]:
        cfg = self.config
        found: list[Anomaly] = []
        for key, state in self._state.items():
            missing = self.missing_intervals(key, now_ms)
            level = 2 if missing >= cfg.critical_k else 1 if missing >= cfg.k else 0
            if level <= state[2]:
                continue
            state[2] = level
            severity = Severity.CRITICAL if level == 2 else Severity.WARNING
            context = {"missing_intervals": float(missing), "interval_ms": float(state[1])}
            found.append(Anomaly(key, self.type, severity, missing / cfg.k, state[0], context))
        return found

    def dump_key(self, key: str) -> Any:
        return self._state.get(key)

    def load_key(self, key: str, data: Any) -> None:
        """Restore ``key`` unless it is already known: this state is never forgotten while the worker owns
        the partition (the timer must see every series), so what is in memory is the newest."""
        if key not in self._state:
            last_ms, interval_ms, level = data
            self._state[key] = [int(last_ms), int(interval_ms), int(level)]

    def forget(self, key: str) -> None:
        """Kept: a few numbers per series, and the timer needs all of them."""
