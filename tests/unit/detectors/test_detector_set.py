from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamer.detectors import Anomaly, AnomalyType, DetectorSet, Severity, SpikeDetector
from streamer.evaluation_data import AemoRow, load_aemo_sa1
from streamer.topics import Kind

DATA = Path(__file__).resolve().parents[3] / "data"
FIELDS = {"market": "AEMO", "interval_minutes": 30}


@pytest.fixture(scope="module")
def heatwave() -> list[AemoRow]:
    rows = load_aemo_sa1(DATA / "aemo_sa1")
    return [r for r in rows if r.interval_start.startswith(("2008-12", "2009-01"))]


@pytest.mark.parametrize(
    ("kind", "types"),
    [
        (Kind.PRICES, [AnomalyType.PRICE_SPIKE, AnomalyType.OUT_OF_BAND, AnomalyType.STALE_FEED]),
        (Kind.LOAD, [AnomalyType.FLATLINE, AnomalyType.LOAD_DROP, AnomalyType.STALE_FEED]),
        (Kind.GAS, [AnomalyType.PRICE_SPIKE, AnomalyType.STALE_FEED]),
    ],
)
def test_detectors_per_kind(kind: Kind, types: list[AnomalyType]) -> None:
    assert [d.type for d in DetectorSet.for_kind(kind).detectors] == types


def test_one_detector_per_type() -> None:
    with pytest.raises(ValueError):
        DetectorSet([SpikeDetector(), SpikeDetector()])


def _run(detectors: DetectorSet, rows: list[AemoRow]) -> list[Anomaly]:
    found = []
    for row in rows:
        found += detectors.observe("AEMO:SA1", row.event_ms, row.price, FIELDS)
        found += detectors.tick(row.event_ms)
    return found


def test_heatwave_raises_spike_and_band_and_survives_a_restart(heatwave: list[AemoRow]) -> None:
    whole = _run(DetectorSet.for_kind(Kind.PRICES), heatwave)
    assert {(a.type, a.severity) for a in whole} >= {
        (AnomalyType.PRICE_SPIKE, Severity.CRITICAL),
        (AnomalyType.OUT_OF_BAND, Severity.CRITICAL),
    }
    first = DetectorSet.for_kind(Kind.PRICES)
    cut = len(heatwave) // 2
    found = _run(first, heatwave[:cut])
    state = first.dump_key("AEMO:SA1")
    assert state is not None
    assert first.dump_key("AEMO:OTHER") is None
    chunks = dict(first.take_chunks("AEMO:SA1"))
    second = DetectorSet.for_kind(Kind.PRICES)
    second.load_key("AEMO:SA1", orjson.loads(orjson.dumps(state)), chunks.get)
    found += _run(second, heatwave[cut:])
    assert found == whole


def test_anomaly_record_matches_the_contract(heatwave: list[AemoRow]) -> None:
    found = _run(DetectorSet.for_kind(Kind.PRICES), heatwave)
    spike = next(a for a in found if a.type is AnomalyType.PRICE_SPIKE and a.context["value"] > 9999)
    record = spike.to_record(
        spike.event_ms + 60_000, {"topic": "raw.prices", "partition": 0, "offset": 7}, 600
    )
    assert set(record) == {
        "key",
        "type",
        "severity",
        "score",
        "event_time",
        "detected_at",
        "origin",
        "context",
    }
    assert record["type"] == "price_spike"
    assert record["severity"] == "critical"
    assert record["event_time"].endswith("+10:00")
    assert set(record["context"]) >= {"median", "mad", "value"}
