from __future__ import annotations

from pathlib import Path

import pytest

from streamer.detectors import LoadDropConfig, LoadDropDetector, Severity
from streamer.evaluation_data import load_pjm_hourly

DATA = Path(__file__).resolve().parents[3] / "data" / "pjm_hourly_kaggle"


@pytest.mark.parametrize(
    ("file_name", "hour", "before", "after"),
    [
        ("EKPC_hourly.csv", "29-09-2013 01:00", 1073.0, 533.0),
        ("DEOK_hourly.csv", "22-04-2018 01:00", 2390.0, 1002.0),
    ],
)
def test_pjm_step_drops_are_found(file_name: str, hour: str, before: float, after: float) -> None:
    series = load_pjm_hourly(DATA / file_name, (hour,))
    at = series.labels.index(True)
    detector = LoadDropDetector()
    found = {}
    for ms, value in zip(series.event_ms, series.values, strict=True):
        for anomaly in detector.observe(f"PJM:{series.name}", ms, value, {}):
            found[anomaly.event_ms] = anomaly
    drop = found[series.event_ms[at]]
    assert drop.context["reference"] == before
    assert drop.context["value"] == after
    assert drop.severity is Severity.CRITICAL
    assert drop.score == pytest.approx((before - after) / before / 0.3)
    assert len(found) <= 3  # rare elsewhere in five years of hourly load


def test_seasonal_lag_compares_with_the_same_hour_earlier() -> None:
    series = load_pjm_hourly(DATA / "EKPC_hourly.csv")
    detector = LoadDropDetector(LoadDropConfig(drop_fraction=0.3, lag_n=24))
    values = series.values[:24] + [v * 0.6 for v in series.values[:24]]  # the same day again at 60%
    found = [a for i, v in enumerate(values) for a in detector.observe("PJM:EKPC", i, v, {})]
    assert [a.event_ms for a in found] == list(range(24, 48))
    assert all(a.context["drop_fraction"] == pytest.approx(0.4) for a in found)


def test_round_trip_and_config() -> None:
    detector = LoadDropDetector()
    detector.observe("K", 0, 1073.0, {})
    state = detector.dump_key("K")
    assert state is not None
    restored = LoadDropDetector()
    restored.load_key("K", state)
    assert len(restored.observe("K", 1, 533.0, {})) == 1
    with pytest.raises(ValueError):
        LoadDropConfig(drop_fraction=0.6, critical_fraction=0.5)
