from streamer.dlq import (
    H_OFFSET,
    H_REASON,
    H_REPLAY_COUNT,
    H_TOPIC,
    Origin,
    dead_letter_headers,
    header_value,
    read_dead_letter,
)
from streamer.reasons import Reason


def test_envelope_keeps_original_headers_and_adds_kip1034_headers() -> None:
    original = [("trace-id", b"abc"), ("source", b"\xff\x00binary")]
    headers = dead_letter_headers(
        original,
        reason=Reason.OUT_OF_BAND,
        detail="lmp 99999 above cap 3700",
        origin=Origin("raw.prices", 3, 42),
    )
    assert headers[:2] == original
    assert header_value(headers, H_TOPIC) == b"raw.prices"
    assert header_value(headers, H_OFFSET) == b"42"
    assert header_value(headers, H_REASON) == b"out_of_band"
    assert header_value(headers, H_REPLAY_COUNT) == b"0"
    decoded = read_dead_letter(headers)
    assert decoded.origin == Origin("raw.prices", 3, 42)
    assert decoded.reason == "out_of_band"
    assert decoded.detail == "lmp 99999 above cap 3700"
    assert decoded.exception == "streamer.validation.Rejected"


def test_second_rejection_replaces_envelope_and_keeps_replay_count() -> None:
    first = dead_letter_headers([], reason=Reason.NOT_JSON, detail="x", origin=Origin("raw.load", 0, 1))
    replayed = [(k, v) for k, v in first if k != H_REPLAY_COUNT] + [(H_REPLAY_COUNT, b"2")]
    second = dead_letter_headers(
        replayed,
        reason=Reason.PROCESSING_ERROR,
        detail="boom\nsecond line",
        origin=Origin("raw.load", 1, 7),
        exception="ZeroDivisionError",
    )
    assert [k for k, _ in second].count(H_REASON) == 1
    decoded = read_dead_letter(second)
    assert decoded.replay_count == 2
    assert decoded.origin == Origin("raw.load", 1, 7)
    assert decoded.detail == "boom second line"
    assert decoded.exception == "ZeroDivisionError"


def test_reading_foreign_records_does_not_fail() -> None:
    decoded = read_dead_letter([("other", b"1"), (H_OFFSET, b"not-a-number")])
    assert decoded.origin is None
    assert decoded.reason == "unknown"
    assert decoded.replay_count == 0
