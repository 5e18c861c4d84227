from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.windows import WindowSpec, hopping, parse_duration_ms, tumbling

MIN = 60_000
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("event_ms", "size_ms", "expected"),
    [
        (0, 5 * MIN, (0, 5 * MIN)),
        (5 * MIN - 1, 5 * MIN, (0, 5 * MIN)),
        (5 * MIN, 5 * MIN, (5 * MIN, 10 * MIN)),  # the end is exclusive
        (-1, 5 * MIN, (-5 * MIN, 0)),  # before the epoch: floor, not truncation
        (-5 * MIN, 5 * MIN, (-5 * MIN, 0)),
        (-5 * MIN - 1, 5 * MIN, (-10 * MIN, -5 * MIN)),
        # AEMO 2009-01-29T13:30+10:00 falls in the 13:00+10:00 hour: +10:00 hours are UTC hours.
        (1233199800000, HOUR, (1233198000000, 1233201600000)),
    ],
)
def test_tumbling_edges(event_ms: int, size_ms: int, expected: tuple[int, int]) -> None:
    assert tumbling(event_ms, size_ms) == expected


@pytest.mark.parametrize(
    ("event_ms", "size_ms", "step_ms", "expected"),
    [
        (0, 10, 5, [(-5, 5), (0, 10)]),
        (4, 10, 5, [(-5, 5), (0, 10)]),
        (5, 10, 5, [(0, 10), (5, 15)]),
        (-1, 10, 5, [(-10, 0), (-5, 5)]),
        (0, 10, 3, [(-9, 1), (-6, 4), (-3, 7), (0, 10)]),  # size not a multiple of step: 4 windows here
        (2, 10, 3, [(-6, 4), (-3, 7), (0, 10)]),  # ... and 3 here
        (7, 5, 5, [(5, 10)]),  # step == size is tumbling
        (HOUR, HOUR, 5 * MIN, [(s, s + HOUR) for s in range(5 * MIN, HOUR + 1, 5 * MIN)]),
    ],
)
def test_hopping_edges(event_ms: int, size_ms: int, step_ms: int, expected: list[tuple[int, int]]) -> None:
    assert hopping(event_ms, size_ms, step_ms) == expected


@pytest.mark.parametrize(("size_ms", "step_ms"), [(0, 1), (1, 0), (-5, 5)])
def test_assignment_rejects_non_positive_sizes(size_ms: int, step_ms: int) -> None:
    with pytest.raises(ValueError):
        hopping(0, size_ms, step_ms)


@pytest.mark.parametrize(
    ("text", "size_ms", "step_ms"),
    [("5m", 5 * MIN, 5 * MIN), ("1h", HOUR, HOUR), ("1h/5m", HOUR, 5 * MIN), ("30s", 30_000, 30_000)],
)
def test_window_spec_parse(text: str, size_ms: int, step_ms: int) -> None:
    spec = WindowSpec.parse(text)
    assert (spec.name, spec.size_ms, spec.step_ms) == (text, size_ms, step_ms)
    assert spec.is_tumbling == (size_ms == step_ms)


@pytest.mark.parametrize("text", ["", "5", "5x", "-5m", "0m", "5m/1h", "1h/"])
def test_window_spec_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        WindowSpec.parse(text)


def test_parse_duration_units() -> None:
    assert [parse_duration_ms(t) for t in ("250ms", "2s", "3m", "1h", "1d")] == [
        250,
        2000,
        180_000,
        HOUR,
        86_400_000,
    ]


events = st.integers(min_value=-(10**13), max_value=10**13)
sizes = st.integers(min_value=1, max_value=10**7)


@given(events, st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=40 * 10**6))
def test_every_hopping_window_contains_the_event_and_they_are_sorted(
    event_ms: int, step_ms: int, extra: int
) -> None:
    size_ms = step_ms + extra % (40 * step_ms)  # any size from step to 41 steps, multiple or not
    windows = hopping(event_ms, size_ms, step_ms)
    assert windows
    assert all(start <= event_ms < end and end - start == size_ms for start, end in windows)
    assert all(start % step_ms == 0 for start, _ in windows)
    assert windows == sorted(set(windows))
    # No window on the step grid that contains the event is missing.
    before, after = windows[0][0] - step_ms, windows[-1][0] + step_ms
    assert not before <= event_ms < before + size_ms
    assert not after <= event_ms < after + size_ms


@given(events, st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=50))
def test_size_multiple_of_step_gives_exactly_size_over_step_windows(
    event_ms: int, step_ms: int, n: int
) -> None:
    assert len(hopping(event_ms, n * step_ms, step_ms)) == n


@given(events, sizes)
def test_tumbling_contains_the_event(event_ms: int, size_ms: int) -> None:
    start, end = tumbling(event_ms, size_ms)
    assert start <= event_ms < end
    assert end - start == size_ms
    assert start % size_ms == 0
