from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.dlq import Origin, dead_letter_headers
from streamer.dlqtool.filters import (
    Filters,
    OffsetStart,
    TimeBound,
    parse_offset,
    parse_when,
    replay_group_id,
)
from streamer.dlqtool.record import DlqRecord

NOW_MS = 1_751_378_400_000  # 2025-07-01T14:00:00Z


def _record(partition: int = 0, offset: int = 5, ts: int = NOW_MS, reason: str = "out_of_band") -> DlqRecord:
    headers = dead_letter_headers(
        [("trace", b"1")], reason=reason, detail="d", origin=Origin("raw.prices", 1, 9)
    )
    return DlqRecord.of(partition, offset, ts, b"k", b"v", headers)


@pytest.mark.parametrize(
    ("text", "ms", "identity"),
    [
        ("2025-07-01T14:00:00Z", NOW_MS, str(NOW_MS)),
        ("2025-07-01T16:00:00+02:00", NOW_MS, str(NOW_MS)),
        ("2025-07-01T09:00:00.500-05:00", NOW_MS + 500, str(NOW_MS + 500)),
        ("90s", NOW_MS - 90_000, "90s"),
        ("30m", NOW_MS - 1_800_000, "30m"),
        ("2h", NOW_MS - 7_200_000, "2h"),
        ("1D", NOW_MS - 86_400_000, "1d"),
        ("1w", NOW_MS - 7 * 86_400_000, "1w"),
    ],
)
def test_parse_when(text: str, ms: int, identity: str) -> None:
    bound = parse_when(text, NOW_MS)
    assert (bound.ms, bound.identity) == (ms, identity)


@pytest.mark.parametrize("text", ["2025-07-01T14:00:00", "yesterday", "2x", "-2h", ""])
def test_parse_when_refuses_naive_and_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_when(text, NOW_MS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", OffsetStart(0)), ("120", OffsetStart(120)), ("2:15", OffsetStart(15, 2))],
)
def test_parse_offset(text: str, expected: OffsetStart) -> None:
    assert parse_offset(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["", "-1", "a:1", "1:", "1:2:3", "x"])
def test_parse_offset_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_offset(text)


def test_empty_filters_match_everything() -> None:
    assert Filters().matches(_record())


def test_each_filter_excludes() -> None:
    record = _record(partition=1, offset=5, ts=NOW_MS)
    assert Filters(reasons=frozenset({"out_of_band", "not_json"})).matches(record)
    assert not Filters(reasons=frozenset({"not_json"})).matches(record)
    assert Filters(topics=frozenset({"raw.prices"})).matches(record)
    assert not Filters(topics=frozenset({"raw.load"})).matches(record)
    assert Filters(since=parse_when("2025-07-01T14:00:00Z", 0)).matches(record)  # inclusive
    assert not Filters(since=parse_when("2025-07-01T14:00:00.001Z", 0)).matches(record)
    assert not Filters(until=parse_when("2025-07-01T14:00:00Z", 0)).matches(record)  # exclusive
    assert Filters(until=parse_when("2025-07-01T14:00:00.001Z", 0)).matches(record)
    assert Filters(offset=OffsetStart(5)).matches(record)
    assert not Filters(offset=OffsetStart(6)).matches(record)
    assert Filters(offset=OffsetStart(5, 1)).matches(record)
    assert not Filters(offset=OffsetStart(0, 2)).matches(record)


def test_record_without_origin_never_matches_a_topic_filter() -> None:
    record = DlqRecord.of(0, 0, NOW_MS, None, b"v", [("streamer.reason", b"not_json")])
    assert record.origin_topic is None
    assert not Filters(topics=frozenset({"raw.prices"})).matches(record)
    assert Filters(reasons=frozenset({"not_json"})).matches(record)


def test_start_offset_only_for_the_named_partition() -> None:
    f = Filters(offset=OffsetStart(40, 2))
    assert (f.start_offset(2), f.start_offset(1)) == (40, 0)
    assert (f.wants_partition(2), f.wants_partition(1)) == (True, False)
    g = Filters(offset=OffsetStart(40))
    assert (g.start_offset(0), g.start_offset(3)) == (40, 40)


def test_group_id_is_stable_and_order_independent() -> None:
    a = Filters(reasons=frozenset({"a", "b"}), since=parse_when("2h", NOW_MS))
    b = Filters(reasons=frozenset({"b", "a"}), since=parse_when("2h", NOW_MS + 60_000))
    assert replay_group_id("dlq", a, None) == replay_group_id("dlq", b, None)
    assert replay_group_id("dlq", a, None).startswith("streamer-dlq-replay.")


def test_group_id_differs_by_filter_target_and_topic() -> None:
    base = Filters(reasons=frozenset({"out_of_band"}))
    ids = {
        replay_group_id("dlq", base, None),
        replay_group_id("dlq", base, "raw.prices"),
        replay_group_id("x.dlq", base, None),
        replay_group_id("dlq", Filters(reasons=frozenset({"not_json"})), None),
        replay_group_id("dlq", Filters(), None),
        replay_group_id("dlq", Filters(offset=OffsetStart(3)), None),
        replay_group_id("dlq", Filters(until=parse_when("2025-07-01T14:00:00Z", 0)), None),
    }
    assert len(ids) == 7


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=0, max_value=10**13))
def test_since_and_until_split_time_in_two(ts: int, bound_ms: int) -> None:
    bound = TimeBound(bound_ms, str(bound_ms))
    record = _record(ts=ts)
    assert Filters(since=bound).matches(record) == (ts >= bound_ms)
    assert Filters(until=bound).matches(record) != Filters(since=bound).matches(record)
