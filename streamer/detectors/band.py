"""Out-of-band: a price near its market's cap or floor is an event to flag, not a reason to reject.

"Near" means within ``near_fraction`` of the limit's own magnitude: ``value >= cap - f*|cap|`` or
``value <= floor + f*|floor|`` (a limit of 0 uses the band width instead). The band comes from
:meth:`streamer.policy.ValidationPolicy.price_band` for ``fields["market"]`` (or the key's ``MARKET:``
prefix). Within ``critical_fraction`` (or beyond the limit) the severity is critical, else warning. Score is
the closeness in ``[0, 1]``: 1 at the limit, 0 at the edge of the near zone. Stateless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamer.detectors.base import Anomaly, AnomalyType, Severity
from streamer.policy import ValidationPolicy

__all__ = ["BandConfig", "BandDetector"]


@dataclass(frozen=True, slots=True)
class BandConfig:
    policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    near_fraction: float = 0.05  # AEMO 2008-09: >= 9,500 or <= -950
    critical_fraction: float = 0.001  # AEMO 2008-09: >= 9,990 (the 9,999.x cap) or <= -999

    def __post_init__(self) -> None:
        if not 0 <= self.critical_fraction <= self.near_fraction < 1:
            raise ValueError("need 0 <= critical_fraction <= near_fraction < 1")


class BandDetector:
    type = AnomalyType.OUT_OF_BAND

    def __init__(self, config: BandConfig | None = None) -> None:
        self.config = config or BandConfig()

    def observe(self, key: str, event_ms: int, value: float, fields: Mapping[str, Any]) -> list[Anomaly]:
        market = fields.get("market")
        if not isinstance(market, str):
            market = key.partition(":")[0]
        band = self.config.policy.price_band(market)
        cfg = self.config
        width = band.cap - band.floor
        cap_scale = abs(band.cap) or width
        floor_scale = abs(band.floor) or width
        if value >= band.cap - cfg.near_fraction * cap_scale:
            limit, side, distance, scale = band.cap, "cap", band.cap - value, cap_scale
        elif value <= band.floor + cfg.near_fraction * floor_scale:
            limit, side, distance, scale = band.floor, "floor", value - band.floor, floor_scale
        else:
            return []
        margin = cfg.near_fraction * scale
        severity = Severity.CRITICAL if distance <= cfg.critical_fraction * scale else Severity.WARNING
        score = 1.0 if margin == 0 else max(0.0, min(1.0, 1.0 - distance / margin))
        context = {"value": value, side: limit, "margin": margin}
        return [Anomaly(key, self.type, severity, score, event_ms, context)]

    def tick(self, now_ms: int) -> list[Anomaly]:
        return []

    def dump_key(self, key: str) -> Any:
        return None

    def load_key(self, key: str, data: Any) -> None:
        return None

    def forget(self, key: str) -> None:
        return None
