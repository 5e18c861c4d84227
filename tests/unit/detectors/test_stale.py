from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _scan_every_key(
    config: StaleConfig, state: dict[str, list[int]], now_ms: int
) -> set[tuple[str, str, float]]:
    """The definition: every key's missing intervals at ``now_ms``, alerting when its level rises."""
    found = set()
    for key, entry in state.items():
        last_ms, interval_ms, sent = entry
        missing = max(0, (now_ms - last_ms) // interval_ms - 1)
        level = 2 if missing >= config.critical_k else 1 if missing >= config.k else 0
        if level > sent:
            entry[2] = level
            found.add((key, "critical" if level == 2 else "warning", float(missing)))
    return found


_STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"), st.sampled_from("abcde"), st.integers(0, 40), st.sampled_from([5, 30, None])
        ),
        st.tuples(st.just("tick"), st.integers(0, 60)),
        st.tuples(st.just("reload"), st.sampled_from("abcde")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_STEPS)
def test_the_deadline_heap_alerts_exactly_as_a_scan_of_every_key(steps: list[tuple]) -> None:
    """Ticks visit only the keys that are due; what they report must equal checking every key each time."""
    config = StaleConfig(k=2, critical_k=5)
    detector = StaleFeedDetector(config)
    reference: dict[str, list[int]] = {}
    clock = 0
    for step in steps:
        if step[0] == "event":
            _, key, ahead, minutes = step
            event_ms = clock + ahead * 60_000 - 20 * 60_000
            fields = {"interval_minutes": minutes} if minutes else {}
            detector.observe(key, event_ms, 1.0, fields)
            interval_ms = minutes * 60_000 if minutes else config.default_interval_ms
            entry = reference.get(key)
            if entry is None:
                reference[key] = [event_ms, interval_ms, 0]
            elif event_ms > entry[0]:
                entry[0], entry[2] = event_ms, 0
                if minutes:
                    entry[1] = interval_ms
        elif step[0] == "tick":
            clock += step[1] * 60_000
            got = {(a.key, a.severity.value, a.context["missing_intervals"]) for a in detector.tick(clock)}
            assert got == _scan_every_key(config, reference, clock)
        else:  # a restart: the state comes back from its persisted form
            restored = StaleFeedDetector(config)
            for key in reference:
                restored.load_key(key, detector.dump_key(key))
            detector = restored
