from __future__ import annotations

from pathlib import Path

import pytest

from streamer.detectors import AnomalyType, DetectorSet, FlatlineConfig, FlatlineDetector
from streamer.evaluation_data import AemoRow, load_aemo_sa1, load_nab
from streamer.topics import Kind

DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def sa1() -> list[AemoRow]:
    return load_aemo_sa1(DATA / "aemo_sa1")


def test_flat_sa1_prices_are_not_flagged_as_flatline(sa1: list[AemoRow]) -> None:
    run = [r for r in sa1 if r.interval_start.startswith("2009-01-31") and r.price == 300.0]
    assert len(run) == 7  # the administered price cap run
    detectors = DetectorSet.for_kind(Kind.PRICES)
    fields = {"market": "AEMO", "interval_minutes": 30}
    types = {a.type for r in sa1 for a in detectors.observe("AEMO:SA1", r.event_ms, r.price, fields)}
    assert AnomalyType.FLATLINE not in types
    # The same rows would be a flatline if they were load: prices are excluded on purpose.
    raw = FlatlineDetector()
    flat = [a for r in run for a in raw.observe("AEMO:SA1", r.event_ms, r.price, {})]
    assert [a.event_ms for a in flat] == [run[0].event_ms]


def test_real_sa1_demand_never_flatlines(sa1: list[AemoRow]) -> None:
    detectors = DetectorSet.for_kind(Kind.LOAD)
    found = [a for r in sa1 for a in detectors.observe("AEMO:SA1", r.event_ms, r.demand_mw, {})]
    assert not [a for a in found if a.type is AnomalyType.FLATLINE]


def test_nab_flatline_is_flagged_as_load_telemetry() -> None:
    series = load_nab(DATA / "nab", "artificialNoAnomaly/art_flatline.csv")
    detectors = DetectorSet.for_kind(Kind.LOAD)
    found = [
        a
        for ms, value in zip(series.event_ms, series.values, strict=True)
        for a in detectors.observe("NAB:FLAT", ms, value, {"interval_minutes": 5})
    ]
    flat = [a for a in found if a.type is AnomalyType.FLATLINE]
    assert len(flat) == 1  # one alert per run, not one per interval
    assert flat[0].event_ms == series.event_ms[0]
    assert flat[0].context == {"value": series.values[0], "run_length": 6.0}


def test_tolerance_and_round_trip(sa1: list[AemoRow]) -> None:
    detector = FlatlineDetector(FlatlineConfig(k=3, tolerance=0.5))
    base = sa1[0]
    assert detector.observe("K", 0, base.demand_mw, {}) == []
    assert detector.observe("K", 1, base.demand_mw + 0.4, {}) == []
    state = detector.dump_key("K")
    assert state is not None
    restored = FlatlineDetector(FlatlineConfig(k=3, tolerance=0.5))
    restored.load_key("K", state)
    assert len(restored.observe("K", 2, base.demand_mw - 0.4, {})) == 1
    assert restored.observe("K", 3, base.demand_mw + 5, {}) == []
