"""The chaos audit counts repeats of derived records, and shows the ones that came back with other bytes."""

from __future__ import annotations

import orjson

from streamer.chaos.audit import DIFFERING_SAMPLE, OutputRecord, audit

BARS = "bars"


def _bar(close: float) -> bytes:
    return orjson.dumps(
        {"key": "PJM:A", "window": "5m", "window_start": "2026-01-01T00:00:00Z", "close": close}
    )


def _audit(values: list[bytes], topic: str = BARS) -> dict[str, object]:
    outputs = [OutputRecord(topic, value) for value in values]
    return audit([], outputs, primary_topics=frozenset({"enriched"}), dlq_topic="dlq").as_dict()


def test_a_bar_published_again_with_the_same_bytes_is_a_duplicate_only() -> None:
    result = _audit([_bar(1.0), _bar(1.0)])
    assert result["duplicates"] == {BARS: 1}
    assert result["differing_repeats"] == 0
    assert result["differing_sample"] == []


def test_a_bar_published_again_with_other_bytes_is_shown() -> None:
    result = _audit([_bar(1.0), _bar(2.0), _bar(1.0)])
    assert result["differing_repeats"] == 1
    (shown,) = result["differing_sample"]  # type: ignore[misc]
    assert shown.startswith(f"{BARS} ('bar', 'PJM:A', '5m', '2026-01-01T00:00:00Z'): ")
    assert '"close":2.0' in shown


def test_the_sample_is_bounded() -> None:
    result = _audit([_bar(float(n)) for n in range(DIFFERING_SAMPLE + 5)])
    assert result["differing_repeats"] == DIFFERING_SAMPLE + 4
    assert len(result["differing_sample"]) == DIFFERING_SAMPLE  # type: ignore[arg-type]


def _anomaly(detected_at: str, mean: float) -> bytes:
    return orjson.dumps(
        {
            "key": "PJM:A",
            "type": "price_spike",
            "severity": "warning",
            "score": 8.3,
            "event_time": "2026-01-01T00:45:00Z",
            "detected_at": detected_at,
            "origin": {"topic": "raw.prices", "partition": 3, "offset": 3997},
            "windows": [{"window": "1h", "count": 9, "mean": mean}],
        }
    )


def test_an_anomaly_detected_again_later_is_the_same_anomaly() -> None:
    """``detected_at`` is the worker's clock by contract: a repeat after a crash carries a later one."""
    result = _audit(
        [_anomaly("2026-01-01T01:14:40Z", 198.8), _anomaly("2026-01-01T01:14:49Z", 198.8)], "anomalies"
    )
    assert result["duplicates"] == {"anomalies": 1}
    assert result["differing_repeats"] == 0


def test_an_anomaly_repeated_with_other_window_statistics_is_shown_with_its_first_copy() -> None:
    first, later = _anomaly("2026-01-01T01:14:40Z", 198.8), _anomaly("2026-01-01T01:14:49Z", 207.9)
    result = _audit([first, later], "anomalies")
    assert result["differing_repeats"] == 1
    (shown,) = result["differing_sample"]  # type: ignore[misc]
    assert shown.endswith(f" (first copy: {first.decode()})")
    assert '"mean":207.9' in shown.split(" (first copy: ")[0]
