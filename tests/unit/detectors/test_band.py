from __future__ import annotations

from pathlib import Path

import pytest

from streamer.detectors import BandConfig, BandDetector, Severity
from streamer.evaluation_data import AemoRow, load_aemo_sa1
from streamer.policy import Band, ValidationPolicy

DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def sa1() -> list[AemoRow]:
    return load_aemo_sa1(DATA / "aemo_sa1")


def test_sa1_cap_and_floor_hits_are_flagged_not_rejected(sa1: list[AemoRow]) -> None:
    detector = BandDetector()
    flagged = {}
    for row in sa1:
        for anomaly in detector.observe("AEMO:SA1", row.event_ms, row.price, {"market": "AEMO"}):
            flagged[row.interval_start] = anomaly
    at_cap = [r for r in sa1 if r.price >= 9990]
    assert len(at_cap) >= 56  # the 9,999.x cap of 2008-09
    assert all(flagged[r.interval_start].severity is Severity.CRITICAL for r in at_cap)
    floor = flagged["2008-11-07T03:00:00+10:00"]
    assert floor.severity is Severity.CRITICAL
    assert floor.context == {"value": -1000.0, "floor": -1000.0, "margin": 50.0}
    assert floor.score == 1.0
    # Everything flagged is within 5% of the 10,000 cap or the -1,000 floor, and nothing else.
    expected = {r.interval_start for r in sa1 if r.price >= 9500 or r.price <= -950}
    assert set(flagged) == expected


@pytest.mark.parametrize(
    ("market", "value", "severity"),
    [
        ("ERCOT", 5000.0, Severity.CRITICAL),
        ("ERCOT", 4800.0, Severity.WARNING),
        ("ERCOT", 4700.0, None),
        ("CAISO", -150.0, Severity.CRITICAL),
        ("CAISO", -143.0, Severity.WARNING),
        ("CAISO", -100.0, None),
        ("NOWHERE", 19_500.0, Severity.WARNING),  # the default band for unknown markets
    ],
)
def test_band_table(market: str, value: float, severity: Severity | None) -> None:
    found = BandDetector().observe(f"{market}:N", 0, value, {"market": market})
    assert [a.severity for a in found] == ([severity] if severity else [])


def test_market_from_key_and_custom_policy() -> None:
    policy = ValidationPolicy(price_bands={"X": Band(0.0, 100.0)})
    detector = BandDetector(BandConfig(policy=policy, near_fraction=0.1))
    assert [a.context for a in detector.observe("X:N", 0, 0.0, {})] == [
        {"value": 0.0, "floor": 0.0, "margin": 10.0}
    ]
    assert detector.observe("X:N", 0, 50.0, {}) == []
