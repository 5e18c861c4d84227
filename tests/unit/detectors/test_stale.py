from __future__ import annotations

from pathlib import Path

import pytest

from streamer.detectors import Severity, StaleConfig, StaleFeedDetector
from streamer.evaluation_data import AEMO_INTERVAL_MS, AemoRow, load_aemo_sa1

DATA = Path(__file__).resolve().parents[3] / "data"
KEY = "AEMO:SA1"
FIELDS = {"market": "AEMO", "interval_minutes": 30}


@pytest.fixture(scope="module")
def day() -> list[AemoRow]:
    return load_aemo_sa1(DATA / "aemo_sa1")[:48]


def test_a_silent_feed_is_found_by_the_timer_not_by_events(day: list[AemoRow]) -> None:
    detector = StaleFeedDetector(StaleConfig(k=3, critical_k=6))
    for row in day[:10]:
        assert detector.observe(KEY, row.event_ms, row.price, FIELDS) == []
    last_ms = day[9].event_ms
    # Interval 10 is due at last + 30 min and complete at last + 60 min; three missing ones take until + 2 h.
    assert detector.tick(last_ms + 4 * AEMO_INTERVAL_MS - 1) == []
    warning = detector.tick(last_ms + 4 * AEMO_INTERVAL_MS)
    assert [(a.key, a.severity, a.event_ms) for a in warning] == [(KEY, Severity.WARNING, last_ms)]
    assert warning[0].context == {"missing_intervals": 3.0, "interval_ms": float(AEMO_INTERVAL_MS)}
    assert detector.tick(last_ms + 5 * AEMO_INTERVAL_MS) == []  # once per gap
    critical = detector.tick(last_ms + 7 * AEMO_INTERVAL_MS)
    assert [a.severity for a in critical] == [Severity.CRITICAL]
    assert detector.tick(last_ms + 50 * AEMO_INTERVAL_MS) == []


def test_a_new_interval_resets_the_gap(day: list[AemoRow]) -> None:
    detector = StaleFeedDetector(StaleConfig(k=2, critical_k=10))
    detector.observe(KEY, day[0].event_ms, day[0].price, FIELDS)
    assert len(detector.tick(day[0].event_ms + 3 * AEMO_INTERVAL_MS)) == 1
    detector.observe(KEY, day[5].event_ms, day[5].price, FIELDS)
    assert detector.tick(day[5].event_ms + 2 * AEMO_INTERVAL_MS) == []
    assert len(detector.tick(day[5].event_ms + 3 * AEMO_INTERVAL_MS)) == 1


def test_the_whole_day_in_order_never_looks_stale(day: list[AemoRow]) -> None:
    detector = StaleFeedDetector()
    for row in day:
        detector.observe(KEY, row.event_ms, row.price, FIELDS)
        assert detector.tick(row.event_ms + AEMO_INTERVAL_MS) == []


def test_state_round_trip(day: list[AemoRow]) -> None:
    detector = StaleFeedDetector(StaleConfig(k=3, critical_k=6))
    detector.observe(KEY, day[0].event_ms, day[0].price, FIELDS)
    detector.tick(day[0].event_ms + 4 * AEMO_INTERVAL_MS)
    state = detector.dump_key(KEY)
    assert state is not None
    restored = StaleFeedDetector(StaleConfig(k=3, critical_k=6))
    restored.load_key(KEY, state)
    assert restored.tick(day[0].event_ms + 4 * AEMO_INTERVAL_MS) == []  # the warning was already sent
    assert [a.severity for a in restored.tick(day[0].event_ms + 7 * AEMO_INTERVAL_MS)] == [Severity.CRITICAL]
