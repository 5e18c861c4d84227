"""What the validator accepts: market price bands and limits.

Bands are configurable defaults, not constants: caps change over time and differ by market.
A value exactly at the cap or floor is valid; only a value outside the band is impossible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DEFAULT_PRICE_BANDS", "Band", "ValidationPolicy", "parse_bands"]


@dataclass(frozen=True, slots=True)
class Band:
    """Closed interval ``[floor, cap]`` of possible values."""

    floor: float
    cap: float

    def __post_init__(self) -> None:
        if not self.floor < self.cap:
            raise ValueError(f"band floor {self.floor} must be below cap {self.cap}")

    def contains(self, value: float) -> bool:
        return self.floor <= value <= self.cap


# Offer caps and floors per market, from public market rules (see data/README.md).
# AEMO: the 2008-09 market price cap was 10,000 AUD/MWh (about 17,500 today: raise it with --price-band).
DEFAULT_PRICE_BANDS: Mapping[str, Band] = MappingProxyType(
    {
        "AEMO": Band(-1000.0, 10000.0),
        "ERCOT": Band(-250.0, 5000.0),
        "CAISO": Band(-150.0, 2000.0),
        "PJM": Band(-1000.0, 3700.0),
        "MISO": Band(-500.0, 3500.0),
        "NYISO": Band(-1000.0, 2000.0),
        "ISONE": Band(-150.0, 2000.0),
        "EPEX": Band(-500.0, 4000.0),
    }
)


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Limits applied by :func:`streamer.validation.validate`. Build once; it is immutable."""

    price_bands: Mapping[str, Band] = field(default_factory=lambda: DEFAULT_PRICE_BANDS)
    default_price_band: Band = Band(-1000.0, 20000.0)
    load_band: Band = Band(0.0, 500_000.0)
    gas_band: Band = Band(-50.0, 1000.0)
    max_value_bytes: int = 64 * 1024
    max_future_ms: int = 2 * 24 * 3600 * 1000
    allowed_interval_minutes: frozenset[int] = frozenset({5, 15, 30, 60})
    component_tolerance: float = 0.01

    def price_band(self, market: str) -> Band:
        return self.price_bands.get(market, self.default_price_band)


def parse_bands(spec: str) -> dict[str, Band]:
    """Parse ``"AEMO=-1000:15000,ERCOT=-250:5000"`` into bands. Raises ValueError on bad syntax."""
    bands: dict[str, Band] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        market, sep, rng = item.partition("=")
        floor_s, sep2, cap_s = rng.rpartition(":")
        if not sep or not sep2 or not market.strip():
            raise ValueError(f"bad price band {item!r}; expected MARKET=FLOOR:CAP")
        bands[market.strip().upper()] = Band(float(floor_s), float(cap_s))
    return bands
