"""RevisionTracker: revisions, repeats, stale versions, state round trips and bounded memory."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.policy import ValidationPolicy
from streamer.reasons import Reason
from streamer.revisions import RevisionTracker, content_digest
from streamer.topics import Kind
from streamer.validation import Accepted, Rejected, validate
from tests.realdata import aemo_price_records

DATA = Path(__file__).resolve().parents[2] / "data"
NEM = timezone(timedelta(hours=10))
NOW_MS = 1_900_200_000_000
HALF_HOUR_MS = 1_800_000


def aemo_records(month: str = "200901", limit: int | None = None) -> list[dict[str, Any]]:
    return aemo_price_records(month, stop=limit)


def accept(raw: bytes) -> Accepted:
    result = validate(raw, Kind.PRICES, ValidationPolicy(), NOW_MS)
    assert isinstance(result, Accepted), result
    return result


def offer(tracker: RevisionTracker, record: dict[str, Any] | bytes) -> Reason | None:
    """Check and, when it passes, record; the reason code of a rejection or None."""
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    accepted = accept(raw)
    rejected = tracker.check(accepted, raw)
    if rejected is None:
        tracker.record(accepted, raw)
        return None
    assert isinstance(rejected, Rejected) and rejected.detail
    return rejected.reason


def test_new_intervals_are_accepted_and_exact_repeats_are_duplicates() -> None:
    tracker = RevisionTracker()
    records = aemo_records(limit=48)
    assert [offer(tracker, r) for r in records] == [None] * 48
    assert [offer(tracker, r) for r in records] == [Reason.DUPLICATE] * 48


def test_a_repeat_differing_only_in_bytes_is_still_a_duplicate() -> None:
    tracker = RevisionTracker()
    record = aemo_records(limit=1)[0]
    assert offer(tracker, record) is None
    reordered = dict(reversed(list(record.items())))
    spaced = orjson.dumps(reordered, option=orjson.OPT_INDENT_2)
    assert offer(tracker, b"\xef\xbb\xbf" + spaced) is Reason.DUPLICATE
    assert offer(tracker, dict(record, market=" aemo ")) is Reason.DUPLICATE


def test_higher_versions_are_revisions_and_lower_ones_are_stale() -> None:
    tracker = RevisionTracker()
    first = aemo_records(limit=1)[0]
    assert offer(tracker, first) is None
    revised = dict(first, version=2, lmp=first["lmp"] + 10.0)
    assert offer(tracker, revised) is None
    assert offer(tracker, revised) is Reason.DUPLICATE
    assert offer(tracker, first) is Reason.STALE_REVISION  # even an exact repeat of version 1
    assert offer(tracker, dict(first, version=5)) is None
    assert offer(tracker, dict(revised, version=3)) is Reason.STALE_REVISION


def test_same_version_with_other_content_is_a_conflict() -> None:
    tracker = RevisionTracker()
    first = aemo_records(limit=1)[0]
    assert offer(tracker, first) is None
    assert offer(tracker, dict(first, lmp=first["lmp"] + 0.01)) is Reason.VERSION_CONFLICT
    assert offer(tracker, dict(first, note="extra field")) is Reason.VERSION_CONFLICT


def test_keys_are_independent() -> None:
    tracker = RevisionTracker()
    record = aemo_records(limit=1)[0]
    assert offer(tracker, record) is None
    assert offer(tracker, dict(record, node="VIC1")) is None
    assert tracker.keys() == {"prices/AEMO:SA1", "prices/AEMO:VIC1"}


def test_dump_and_load_round_trip_per_key() -> None:
    tracker = RevisionTracker()
    records = aemo_records(limit=10)
    for record in records:
        offer(tracker, record)
    offer(tracker, dict(records[3], version=4, lmp=1.0))
    state = tracker.dump_key("prices/AEMO:SA1")
    assert orjson.loads(state)["format"] == 1

    restored = RevisionTracker()
    restored.load_key("prices/AEMO:SA1", state)
    assert restored.dump_key("prices/AEMO:SA1") == state
    assert restored.dirty_keys() == set()
    assert offer(restored, records[0]) is Reason.DUPLICATE
    assert offer(restored, records[3]) is Reason.STALE_REVISION
    assert offer(restored, dict(records[3], version=4, lmp=1.0)) is Reason.DUPLICATE
    assert len(restored) == len(tracker) == 10


def test_unknown_key_dumps_empty_and_loading_empty_forgets_the_key() -> None:
    tracker = RevisionTracker()
    empty = tracker.dump_key("prices/AEMO:SA1")
    offer(tracker, aemo_records(limit=1)[0])
    tracker.load_key("prices/AEMO:SA1", empty)
    assert tracker.keys() == set() and len(tracker) == 0


@pytest.mark.parametrize(
    "state",
    [b"", b"[]", b'{"format":2,"entries":[]}', b'{"format":1}', b'{"format":1,"entries":[[1,"2","x"]]}'],
)
def test_load_key_rejects_bad_state(state: bytes) -> None:
    with pytest.raises(ValueError, match="revision"):
        RevisionTracker().load_key("prices/AEMO:SA1", state)


def test_dirty_keys_track_records_until_cleared() -> None:
    tracker = RevisionTracker()
    records = aemo_records(limit=2)
    offer(tracker, records[0])
    offer(tracker, dict(records[1], node="VIC1"))
    assert tracker.dirty_keys() == {"prices/AEMO:SA1", "prices/AEMO:VIC1"}
    tracker.clear_dirty()
    assert tracker.dirty_keys() == set()
    assert offer(tracker, records[0]) is Reason.DUPLICATE  # a rejected check changes nothing
    assert tracker.dirty_keys() == set()


def test_pruning_bounds_memory_to_the_horizon() -> None:
    horizon_ms = 24 * 3600 * 1000
    tracker = RevisionTracker(horizon_ms=horizon_ms)
    records = aemo_records()  # a month of half-hours, in order
    for record in records:
        assert offer(tracker, record) is None
    # A day of half-hours plus the interval exactly at the cutoff.
    assert len(tracker) == horizon_ms // HALF_HOUR_MS + 1
    # Recent intervals are still checked; forgotten ones are accepted again and not kept.
    assert offer(tracker, records[-1]) is Reason.DUPLICATE
    assert offer(tracker, records[0]) is None
    assert len(tracker) == horizon_ms // HALF_HOUR_MS + 1


def test_pruning_handles_out_of_order_intervals() -> None:
    tracker = RevisionTracker(horizon_ms=4 * HALF_HOUR_MS)
    records = aemo_records(limit=12)
    order = [5, 1, 0, 3, 2, 4, 11, 7, 6]
    for i in order:
        offer(tracker, records[i])
    newest = accept(orjson.dumps(records[11])).event_time_ms
    state = orjson.loads(tracker.dump_key("prices/AEMO:SA1"))["entries"]
    assert [entry[0] for entry in state] == [newest - 4 * HALF_HOUR_MS, newest]


def test_content_digest_ignores_key_order() -> None:
    record = aemo_records(limit=1)[0]
    assert content_digest(record) == content_digest(dict(reversed(list(record.items()))))
    assert content_digest(record) != content_digest(dict(record, lmp=0.0))


def test_negative_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon_ms"):
        RevisionTracker(horizon_ms=-1)


def test_price_and_load_series_with_the_same_key_are_tracked_apart() -> None:
    """AEMO:SA1 is both a price node and a load zone; the same interval in each is not a conflict."""
    now_ms = 2_000_000_000_000
    start = "2009-01-29T13:00:00+10:00"
    price = orjson.dumps(
        {
            "market": "AEMO",
            "node": "SA1",
            "interval_start": start,
            "interval_minutes": 30,
            "lmp": 300.0,
            "currency": "AUD",
            "version": 1,
            "source": "aemo",
        }
    )
    load = orjson.dumps(
        {
            "market": "AEMO",
            "zone": "SA1",
            "interval_start": start,
            "interval_minutes": 30,
            "mw": 2900.5,
            "version": 1,
            "source": "aemo",
        }
    )
    tracker = RevisionTracker()
    for value, kind in ((price, Kind.PRICES), (load, Kind.LOAD)):
        accepted = validate(value, kind, ValidationPolicy(), now_ms)
        assert isinstance(accepted, Accepted) and accepted.key == "AEMO:SA1"
        assert tracker.check(accepted, value) is None
        tracker.record(accepted, value)
    assert tracker.keys() == {"prices/AEMO:SA1", "load/AEMO:SA1"}


def _sa1_price(lmp: float, version: int = 1) -> tuple[Accepted, bytes]:
    value = orjson.dumps(
        {
            "market": "AEMO",
            "node": "SA1",
            "interval_start": "2009-01-29T13:00:00+10:00",
            "interval_minutes": 30,
            "lmp": lmp,
            "currency": "AUD",
            "version": version,
            "source": "aemo",
        }
    )
    accepted = validate(value, Kind.PRICES, ValidationPolicy(), 2_000_000_000_000)
    assert isinstance(accepted, Accepted)
    return accepted, value


def test_the_same_record_consumed_again_from_the_same_offset_is_a_redelivery_not_a_duplicate() -> None:
    from streamer.revisions import NEW, REDELIVERY, REVISION

    accepted, value = _sa1_price(300.0)
    tracker = RevisionTracker()
    assert tracker.classify(accepted, "raw.prices/0/41") == NEW
    tracker.record(accepted, value, "raw.prices/0/41")
    assert tracker.classify(accepted, "raw.prices/0/41") == REDELIVERY
    resent = tracker.classify(accepted, "raw.prices/1/7")
    assert isinstance(resent, Rejected) and resent.reason is Reason.DUPLICATE
    revised, _ = _sa1_price(310.0, version=2)
    assert tracker.classify(revised, "raw.prices/0/99") == REVISION


def test_origins_survive_dump_and_load_and_old_three_field_state_still_loads() -> None:
    from streamer.revisions import REDELIVERY

    accepted, value = _sa1_price(300.0)
    tracker = RevisionTracker()
    tracker.record(accepted, value, "raw.prices/0/41")
    restored = RevisionTracker()
    restored.load_key("prices/AEMO:SA1", tracker.dump_key("prices/AEMO:SA1"))
    assert restored.classify(accepted, "raw.prices/0/41") == REDELIVERY
    entries = orjson.loads(tracker.dump_key("prices/AEMO:SA1"))["entries"]
    old = orjson.dumps({"format": 1, "entries": [entry[:3] for entry in entries]})
    legacy = RevisionTracker()
    legacy.load_key("prices/AEMO:SA1", old)
    verdict = legacy.classify(accepted, "raw.prices/0/41")
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.DUPLICATE
