"""Load drop: a step down of at least ``drop_fraction`` against a reference value.

The reference is the value ``lag_n`` observations earlier for the same key: 1 (the default) compares with the
previous interval and finds step changes such as a zone losing half its load in one hour; a seasonal lag
(e.g. one week of intervals) compares with the same time a week before. Severity is critical at
``critical_fraction`` or more. Score is the drop divided by ``drop_fraction``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamer.detectors.base import Anomaly, AnomalyType, Severity

__all__ = ["LoadDropConfig", "LoadDropDetector"]


@dataclass(frozen=True, slots=True)
class LoadDropConfig:
    drop_fraction: float = 0.3
    critical_fraction: float = 0.5
    lag_n: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.drop_fraction <= self.critical_fraction <= 1 or self.lag_n < 1:
            raise ValueError("need 0 < drop_fraction <= critical_fraction <= 1 and lag_n >= 1")


class LoadDropDetector:
    type = AnomalyType.LOAD_DROP

    def __init__(self, config: LoadDropConfig | None = None) -> None:
        self.config = config or LoadDropConfig()
        self._state: dict[str, deque[float]] = {}

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        cfg = self.config
        history = self._state.get(key)
        if history is None:
            history = self._state[key] = deque(maxlen=cfg.lag_n)
        found: list[Anomaly] = []
        if len(history) == cfg.lag_n:
            reference = history[0]
            if reference > 0:
                drop = (reference - value) / reference
                if drop >= cfg.drop_fraction:
                    severity = Severity.CRITICAL if drop >= cfg.critical_fraction else Severity.WARNING
                    context = {"reference": reference, "value": value, "drop_fraction": drop}
                    score = drop / cfg.drop_fraction
                    found.append(Anomaly(key, self.type, severity, score, event_ms, context))
        history.append(value)
        return found

    def tick(self, now_ms: int) -> list[Anomaly]:
        return []

    def dump_key(self, key: str) -> Any:
        history = self._state.get(key)
        return None if history is None else list(history)

    def load_key(self, key: str, data: Any) -> None:
        self._state[key] = deque((float(v) for v in data), maxlen=self.config.lag_n)

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
