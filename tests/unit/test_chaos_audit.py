"""The chaos audit counts repeats of derived records, and shows the ones that came back with other bytes."""

from __future__ import annotations

import orjson

from streamer.chaos.audit import DIFFERING_SAMPLE, OutputRecord, audit

BARS = "bars"


def _bar(close: float) -> bytes:
    return orjson.dumps(
        {"key": "PJM:A", "window": "5m", "window_start": "2026-01-01T00:00:00Z", "close": close}
    )


def _audit(values: list[bytes]) -> dict[str, object]:
    outputs = [OutputRecord(BARS, value) for value in values]
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
