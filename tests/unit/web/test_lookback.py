"""Where the dashboard starts each partition."""

from __future__ import annotations

import pytest

from streamer.web.lookback import Lookback, parse_lookback


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50000", Lookback(records=50_000)), ("0", Lookback(records=0)), ("30m", Lookback(span_ms=1_800_000)),
     ("2h", Lookback(span_ms=7_200_000)), (" 1D ", Lookback(span_ms=86_400_000))],
)  # fmt: skip
def test_parse(text: str, expected: Lookback) -> None:
    assert parse_lookback(text) == expected


@pytest.mark.parametrize("text", ["", "-5", "2 hours", "1.5h", "all"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="record count"):
        parse_lookback(text)


@pytest.mark.parametrize(
    ("lookback", "beginning", "end", "at_time", "start"),
    [
        (Lookback(records=100), 0, 1000, None, 900),
        (Lookback(records=100), 950, 1000, None, 950),  # retention removed the older ones
        (Lookback(records=0), 0, 1000, None, 1000),  # live only
        (Lookback(span_ms=60_000), 0, 1000, 400, 400),
        (Lookback(span_ms=60_000), 0, 1000, None, 1000),  # nothing that recent
        (Lookback(span_ms=60_000), 500, 1000, 400, 500),
    ],
)
def test_start_offset(lookback: Lookback, beginning: int, end: int, at_time: int | None, start: int) -> None:
    assert lookback.start_offset(beginning, end, at_time) == start


def test_since_ms() -> None:
    assert Lookback(span_ms=1000).since_ms(5000) == 4000
    assert Lookback(records=10).since_ms(5000) is None
