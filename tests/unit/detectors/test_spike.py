from __future__ import annotations

import statistics
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.detectors import Severity, SpikeConfig, SpikeDetector
from streamer.detectors.spike import median_mad
from streamer.evaluation_data import AemoRow, load_aemo_sa1

DATA = Path(__file__).resolve().parents[3] / "data"
KEY = "AEMO:SA1"
FIELDS = {"market": "AEMO", "interval_minutes": 30}


@pytest.fixture(scope="module")
def sa1() -> list[AemoRow]:
    return load_aemo_sa1(DATA / "aemo_sa1")


def _flagged(detector: SpikeDetector, rows: list[AemoRow]) -> dict[int, float]:
    found = {}
    for row in rows:
        for anomaly in detector.observe(KEY, row.event_ms, row.price, FIELDS):
            found[anomaly.event_ms] = anomaly.score
    return found


def test_every_sa1_cap_level_interval_is_a_spike(sa1: list[AemoRow]) -> None:
    flagged = _flagged(SpikeDetector(), sa1)
    cap_level = [r for r in sa1 if r.price >= 5000]
    assert len(cap_level) == 102
    assert all(r.event_ms in flagged for r in cap_level)
    floor = next(r for r in sa1 if r.price == -1000.0)
    assert floor.interval_start == "2008-11-07T03:00:00+10:00"
    assert floor.event_ms in flagged


def test_spike_context_and_severity_on_the_heatwave(sa1: list[AemoRow]) -> None:
    detector = SpikeDetector()
    anomalies = [a for r in sa1 for a in detector.observe(KEY, r.event_ms, r.price, FIELDS) if r.price > 9999]
    assert anomalies
    first = anomalies[0]
    assert first.severity is Severity.CRITICAL
    assert first.context["value"] > 9999
    assert 0 < first.context["median"] < 100
    assert first.score == pytest.approx(
        abs(first.context["value"] - first.context["median"]) / first.context["scale"]
    )


def test_an_ordinary_month_is_almost_quiet(sa1: list[AemoRow]) -> None:
    # December 2008 never goes above 73.17 AUD/MWh; only one interval (-148.07 on the 30th) stands out.
    detector = SpikeDetector()
    anomalies = [a for r in sa1[: 366 * 48] for a in detector.observe(KEY, r.event_ms, r.price, FIELDS)]
    december = [a for a in anomalies if a.event_ms >= 1228053600000]  # 2008-12-01T00:00+10:00
    assert len(december) <= 1
    assert all(abs(a.context["value"] - a.context["median"]) > 100 for a in december)


def test_current_value_is_not_in_its_own_window(sa1: list[AemoRow]) -> None:
    detector = SpikeDetector(SpikeConfig(window_n=48, min_history=48))
    for row in sa1[:48]:
        detector.observe(KEY, row.event_ms, row.price, FIELDS)
    before = detector.score(KEY, 10_000.0)
    assert before is not None
    detector.observe(KEY, sa1[48].event_ms, 10_000.0, FIELDS)
    after = detector.score(KEY, 10_000.0)
    assert after is not None
    assert before[1] == median_mad(sorted(r.price for r in sa1[:48]))[0]
    assert after[0] < before[0]  # the spike entered the history only after it was judged


def test_learning_from_spikes_ends_a_long_regime_change(sa1: list[AemoRow]) -> None:
    # The real history, then prices stay at the 300.00 administered cap for three days.
    history = sa1[:336]
    plateau = [(history[-1].event_ms + (i + 1) * 1_800_000, 300.0) for i in range(336)]
    counts = {}
    for learn in (True, False):
        detector = SpikeDetector(SpikeConfig(learn_from_spikes=learn))
        _flagged(detector, history)
        counts[learn] = sum(len(detector.observe(KEY, ms, value, FIELDS)) for ms, value in plateau)
    assert counts[False] == 336  # flagged forever without learning
    assert counts[True] <= 168  # stops by the time the plateau holds half the window


def test_flat_history_uses_the_scale_floor() -> None:
    detector = SpikeDetector(SpikeConfig(window_n=10, min_history=10))
    for i in range(10):
        detector.observe(KEY, i, 300.0, FIELDS)
    scored = detector.score(KEY, 301.0)
    assert scored is not None
    score, median, mad, scale = scored
    assert (median, mad, scale) == (300.0, 0.0, 15.0)  # 5% of |median|
    assert score == pytest.approx(1 / 15)


def test_dump_and_load_continue_identically(sa1: list[AemoRow]) -> None:
    month = [r for r in sa1 if r.interval_start.startswith(("2008-12", "2009-01"))]
    whole = _flagged(SpikeDetector(), month)
    first = SpikeDetector()
    cut = len(month) // 2
    part = _flagged(first, month[:cut])
    state = first.dump_key(KEY)
    assert state is not None
    assert first.dump_key("AEMO:NONE") is None
    chunks = dict(first.take_chunks(KEY))
    assert len(orjson.dumps(state)) < 1_000  # the head; the window itself is in the chunks
    second = SpikeDetector()
    second.load_key(KEY, orjson.loads(orjson.dumps(state)), chunks.get)
    part.update(_flagged(second, month[cut:]))
    assert part == whole


def test_chunks_taken_batch_by_batch_restore_the_same_history(sa1: list[AemoRow]) -> None:
    """As the worker persists them: the head each batch, the chunks filled in that batch, in a ring."""
    month = [r for r in sa1 if r.interval_start.startswith("2009-01")]
    detector = SpikeDetector()
    stored: dict[int, bytes] = {}
    for start in range(0, 1000, 37):  # batches of 37 values
        for row in month[start : start + 37]:
            detector.observe(KEY, row.event_ms, row.price, FIELDS)
        stored.update(detector.take_chunks(KEY))
    assert len(stored) == detector.slots  # the ring is full and bounded
    restored = SpikeDetector()
    restored.load_key(KEY, detector.dump_key(KEY), stored.get)
    assert restored.score(KEY, 123.0) == detector.score(KEY, 123.0)
    assert restored.window(KEY) == detector.window(KEY) and len(detector.window(KEY)) == 336


@pytest.mark.parametrize(
    ("values", "median", "mad"),
    [
        ([1.0], 1.0, 0.0),
        ([1.0, 2.0], 1.5, 0.5),
        ([1.0, 2.0, 3.0, 4.0, 100.0], 3.0, 1.0),
        ([-5.0, 0.0, 5.0], 0.0, 5.0),
    ],
)
def test_median_mad_table(values: list[float], median: float, mad: float) -> None:
    assert median_mad(values) == (median, mad)


@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.floats(-1e4, 1e4)), min_size=1, max_size=60))
def test_fast_median_mad_equals_the_definition(values: list[float]) -> None:
    ordered = sorted(values)
    median = statistics.median(ordered)
    assert median_mad(ordered) == (median, statistics.median([abs(x - median) for x in ordered]))


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SpikeConfig(window_n=2)
    with pytest.raises(ValueError):
        SpikeConfig(threshold=10, critical_threshold=5)
