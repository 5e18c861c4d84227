"""A deterministic synthetic feed: realistic prices, load and gas, with a chosen share of corrupt messages.

Prices revert to a market mean with noise and rare spikes that stay inside the market's band; US nodes carry
LMP components that sum to the LMP. Every series advances one interval per message on the 5-minute grid (gas:
one trade date per message) and ends at the last complete interval before ``now_ms``, so nothing is in the
future and no valid message repeats a (key, interval_start, version). A corrupt message takes the place of
(and is made from) the next valid message of a US price series, so it is never a repeat either.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from streamer import jsonbytes
from streamer.feeds.base import RawMessage
from streamer.feeds.corrupt import CORRUPT
from streamer.policy import DEFAULT_PRICE_BANDS
from streamer.topics import Kind

__all__ = ["SERIES", "SimSeries", "generate", "market_series"]

_STEP_MS = 5 * 60_000
_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPIKE_PROBABILITY = 0.002
_REVERSION = 0.15  # share of the distance to the mean closed each interval
SOURCE = "simulate"


@dataclass(frozen=True, slots=True)
class SimSeries:
    kind: Kind
    market: str
    name: str  # node, zone or hub
    tz: tzinfo
    mean: float
    noise: float  # standard deviation of one step
    currency: str = "USD"
    components: bool = False

    @property
    def key(self) -> str:
        return f"{self.market}:{self.name}"


_NEW_YORK = ZoneInfo("America/New_York")
_CHICAGO = ZoneInfo("America/Chicago")
_LOS_ANGELES = ZoneInfo("America/Los_Angeles")
_NEM = timezone(timedelta(hours=10), "NEM")

SERIES: tuple[SimSeries, ...] = (
    SimSeries(Kind.PRICES, "PJM", "WESTERN HUB", _NEW_YORK, 38.0, 2.5, components=True),
    SimSeries(Kind.PRICES, "PJM", "AEP-DAYTON HUB", _NEW_YORK, 34.0, 2.0, components=True),
    SimSeries(Kind.PRICES, "ERCOT", "HB_HOUSTON", _CHICAGO, 31.0, 3.0, components=True),
    SimSeries(Kind.PRICES, "ERCOT", "HB_NORTH", _CHICAGO, 29.0, 3.0, components=True),
    SimSeries(Kind.PRICES, "CAISO", "TH_SP15_GEN-APND", _LOS_ANGELES, 46.0, 3.5, components=True),
    SimSeries(Kind.PRICES, "CAISO", "TH_NP15_GEN-APND", _LOS_ANGELES, 43.0, 3.0, components=True),
    SimSeries(Kind.PRICES, "AEMO", "NSW1", _NEM, 85.0, 8.0, currency="AUD"),
    SimSeries(Kind.PRICES, "AEMO", "SA1", _NEM, 95.0, 12.0, currency="AUD"),
    SimSeries(Kind.LOAD, "PJM", "EKPC", _NEW_YORK, 1400.0, 15.0),
    SimSeries(Kind.LOAD, "PJM", "DEOK", _NEW_YORK, 2800.0, 25.0),
    SimSeries(Kind.LOAD, "ERCOT", "COAST", _CHICAGO, 12000.0, 90.0),
    SimSeries(Kind.LOAD, "AEMO", "SA1", _NEM, 1500.0, 20.0),
    SimSeries(Kind.GAS, "EIA", "HENRY", UTC, 3.4, 0.08),
    SimSeries(Kind.GAS, "EIA", "WAHA", UTC, 1.8, 0.15),
)
# Markets of the synthetic node set: (market, time zone, mean price, noise, currency, components).
_MARKETS = (
    ("PJM", _NEW_YORK, 36.0, 2.5, "USD", True),
    ("ERCOT", _CHICAGO, 30.0, 3.0, "USD", True),
    ("CAISO", _LOS_ANGELES, 44.0, 3.5, "USD", True),
    ("AEMO", _NEM, 90.0, 10.0, "AUD", False),
)


def market_series(nodes: int, zones: int) -> tuple[SimSeries, ...]:
    """A realistic market size: ``nodes`` price nodes and ``zones`` load zones spread over four markets,
    plus the two gas hubs. Names are synthetic (``PJM:N000042``, ``ERCOT:Z0007``); means and noise vary
    per series so no two series are alike."""
    if nodes < 0 or zones < 0:
        raise ValueError("nodes and zones must not be negative")
    out: list[SimSeries] = []
    for i in range(nodes):
        market, tz, mean, noise, currency, components = _MARKETS[i % len(_MARKETS)]
        scale = 0.8 + 0.4 * ((i * 7919) % 101) / 100.0
        out.append(SimSeries(Kind.PRICES, market, f"N{i:06d}", tz, mean * scale, noise, currency, components))
    for i in range(zones):
        market, tz, *_ = _MARKETS[i % len(_MARKETS)]
        mean = 800.0 + (i * 4099) % 12_000
        out.append(SimSeries(Kind.LOAD, market, f"Z{i:04d}", tz, mean, mean / 100.0))
    out.extend(s for s in SERIES if s.kind is Kind.GAS)
    return tuple(out)


def _slots(first_ms: int, series_set: tuple[SimSeries, ...]) -> Iterator[tuple[SimSeries, int, int]]:
    """(series, event time, round time) forever, on one clock.

    Every 5-minute series once per round, and each gas hub once per UTC day: the first round, and every round
    that starts a day, carries the previous day's price.
    """
    five_minute = tuple(s for s in series_set if s.kind is not Kind.GAS)
    daily = tuple(s for s in series_set if s.kind is Kind.GAS)
    round_ms = first_ms
    while True:
        if round_ms == first_ms or round_ms % _DAY_MS == 0:
            day_ms = round_ms // _DAY_MS * _DAY_MS - _DAY_MS
            for series in daily:
                yield series, day_ms, round_ms
        for series in five_minute:
            yield series, round_ms, round_ms
        round_ms += _STEP_MS


def generate(
    seed: int, count: int, corrupt_rate: float, now_ms: int, series_set: tuple[SimSeries, ...] = SERIES
) -> Iterator[tuple[RawMessage, str | None]]:
    """``count`` messages in event-time order, each with the reason the validator must give (None: valid).

    A corrupt message takes a slot of the clock, so that series has a gap there, never a repeat. It is made
    from a price with all three components: the slot's own message if it is one, else one for a US node at
    the same interval. That one may share key and interval with a valid message; the validator rejects it
    on its content, before any duplicate check.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if not 0.0 <= corrupt_rate <= 1.0:
        raise ValueError("corrupt_rate must be within [0, 1]")
    five_minute = sum(1 for s in series_set if s.kind is not Kind.GAS)
    corruptible = tuple(s for s in series_set if s.components)
    if not five_minute or (corrupt_rate > 0.0 and not corruptible):
        raise ValueError("the series set needs 5-minute series, and a US price node for corrupt messages")
    rounds = -(-count // five_minute)
    first_ms = now_ms // _STEP_MS * _STEP_MS - max(rounds, 1) * _STEP_MS
    rng = random.Random(seed)
    values = {series: series.mean for series in series_set}
    corrupt_i = 0
    for emitted, (series, start_ms, round_ms) in enumerate(_slots(first_ms, series_set)):
        if emitted >= count:
            return
        if corrupt_rate > 0.0 and rng.random() < corrupt_rate:
            case = CORRUPT[rng.randrange(len(CORRUPT))]
            if not series.components:
                series, start_ms = corruptible[corrupt_i % len(corruptible)], round_ms
                corrupt_i += 1
            base = _message(series, start_ms, values, rng)
            assert base.value is not None
            corrupt = case.make(rng, base.value)
            yield RawMessage(case.kind, base.key, corrupt, base.timestamp_ms), case.expected_reason
        else:
            yield _message(series, start_ms, values, rng), None


def _message(
    series: SimSeries, start_ms: int, values: dict[SimSeries, float], rng: random.Random
) -> RawMessage:
    start = (_EPOCH + timedelta(milliseconds=start_ms)).astimezone(series.tz)
    payload: dict[str, Any]
    if series.kind is Kind.PRICES:
        values[series], payload = _price(series, values[series], start, rng)
    elif series.kind is Kind.LOAD:
        values[series], payload = _load(series, values[series], start, rng)
    else:
        values[series], payload = _gas(series, values[series], start, rng)
    payload.update(version=1, source=SOURCE)
    return RawMessage(series.kind, series.key.encode(), jsonbytes.dumps(payload), start_ms)


def _price(
    series: SimSeries, value: float, start: datetime, rng: random.Random
) -> tuple[float, dict[str, Any]]:
    band = DEFAULT_PRICE_BANDS[series.market]
    if rng.random() < _SPIKE_PROBABILITY:
        value = series.mean + rng.uniform(0.3, 0.8) * (band.cap - series.mean)
    else:
        value += _REVERSION * (series.mean - value) + rng.gauss(0.0, series.noise)
    lmp = round(min(max(value, band.floor), band.cap), 2)
    payload: dict[str, Any] = {
        "market": series.market,
        "node": series.name,
        "interval_start": start.isoformat(),
        "interval_minutes": 5,
        "lmp": lmp,
    }
    if series.components:
        congestion = round(rng.gauss(0.0, 0.5 + 0.05 * abs(lmp)), 2)
        loss = round(rng.gauss(0.02 * lmp, 0.3), 2)
        payload.update(energy=round(lmp - congestion - loss, 2), congestion=congestion, loss=loss)
    payload["currency"] = series.currency
    return value, payload


def _load(
    series: SimSeries, value: float, start: datetime, rng: random.Random
) -> tuple[float, dict[str, Any]]:
    hour = start.hour + start.minute / 60.0
    daily_mean = series.mean * (1.0 + 0.15 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0))
    value += _REVERSION * (daily_mean - value) + rng.gauss(0.0, series.noise)
    value = max(value, 0.05 * series.mean)
    return value, {
        "market": series.market,
        "zone": series.name,
        "interval_start": start.isoformat(),
        "interval_minutes": 5,
        "mw": round(value, 1),
    }


def _gas(
    series: SimSeries, value: float, start: datetime, rng: random.Random
) -> tuple[float, dict[str, Any]]:
    value += _REVERSION * (series.mean - value) + rng.gauss(0.0, series.noise)
    return value, {
        "market": series.market,
        "hub": series.name,
        "trade_date": start.date().isoformat(),
        "price": round(value, 3),
        "unit": "USD/MMBtu",
    }
