"""Revisions, repeats and stale versions, decided through the processor with state persisted per entry, and
the pure pieces (classify, the entry codec, the digest)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamer.policy import ValidationPolicy
from streamer.processor import InMessage, Processor
from streamer.reasons import Reason
from streamer.revisions import NEW, REDELIVERY, REVISION, Revision, classify, content_digest
from streamer.settings import Settings
from streamer.state import MemoryBackend, StateStore
from streamer.topics import Kind
from streamer.validation import Accepted, Rejected, validate
from tests.realdata import aemo_price_records

NOW_MS = 1_900_200_000_000
HALF_HOUR_MS = 1_800_000
SETTINGS = Settings()


def aemo_records(month: str = "200901", limit: int | None = None) -> list[dict[str, Any]]:
    return aemo_price_records(month, stop=limit)


class Offers:
    """Records offered to a processor one by one, with every batch persisted (restarts on demand)."""

    def __init__(self, horizon_ms: int | None = None) -> None:
        self.backend = MemoryBackend()
        self.offset = 0
        self.horizon_ms = horizon_ms
        self.proc = self._new()

    def _new(self) -> Processor:
        extra = {} if self.horizon_ms is None else {"horizon_ms": self.horizon_ms}
        return Processor(
            topics=SETTINGS.topics,
            policy=ValidationPolicy(),
            clock_ms=lambda: NOW_MS,
            store=StateStore(lambda _: self.backend),
            **extra,
        )

    def restart(self) -> None:
        self.proc = self._new()

    def __call__(self, record: dict[str, Any] | bytes, kind: Kind = Kind.PRICES) -> Reason | None:
        """The reason code of a rejection, or None when accepted."""
        raw = record if isinstance(record, bytes) else orjson.dumps(record)
        message = InMessage(f"raw.{kind.value}", 0, self.offset, b"k", raw, [], None)
        self.offset += 1
        (out,) = self.proc.process([message]).primary
        self.backend.apply(self.proc.take_changes().get(0, []))
        self.proc.persisted()
        return None if out.outcome == "enriched" else Reason(out.outcome)

    def revisions(self) -> int:
        return sum(1 for key in self.backend.data if key[:1] == b"r")


def test_new_intervals_are_accepted_and_exact_repeats_are_duplicates() -> None:
    offer = Offers()
    records = aemo_records(limit=48)
    assert [offer(r) for r in records] == [None] * 48
    assert [offer(r) for r in records] == [Reason.DUPLICATE] * 48
    offer.restart()
    assert [offer(r) for r in records[:5]] == [Reason.DUPLICATE] * 5


def test_a_repeat_differing_only_in_bytes_is_still_a_duplicate() -> None:
    offer = Offers()
    record = aemo_records(limit=1)[0]
    assert offer(record) is None
    reordered = dict(reversed(list(record.items())))
    spaced = orjson.dumps(reordered, option=orjson.OPT_INDENT_2)
    assert offer(b"\xef\xbb\xbf" + spaced) is Reason.DUPLICATE
    assert offer(dict(record, market=" aemo ")) is Reason.DUPLICATE


def test_higher_versions_are_revisions_and_lower_ones_are_stale() -> None:
    offer = Offers()
    first = aemo_records(limit=1)[0]
    assert offer(first) is None
    revised = dict(first, version=2, lmp=first["lmp"] + 10.0)
    assert offer(revised) is None
    assert offer(revised) is Reason.DUPLICATE
    assert offer(first) is Reason.STALE_REVISION  # even an exact repeat of version 1
    offer.restart()
    assert offer(dict(first, version=5)) is None
    assert offer(dict(revised, version=3)) is Reason.STALE_REVISION


def test_same_version_with_other_content_is_a_conflict() -> None:
    offer = Offers()
    first = aemo_records(limit=1)[0]
    assert offer(first) is None
    assert offer(dict(first, lmp=first["lmp"] + 0.01)) is Reason.VERSION_CONFLICT
    assert offer(dict(first, note="extra field")) is Reason.VERSION_CONFLICT


def test_series_are_independent_and_a_price_and_a_load_series_may_share_a_key() -> None:
    """AEMO:SA1 is both a price node and a load zone; the same interval in each is not a conflict."""
    offer = Offers()
    record = aemo_records(limit=1)[0]
    assert offer(record) is None
    assert offer(dict(record, node="VIC1")) is None
    load = {k: record[k] for k in ("market", "interval_start", "interval_minutes", "version", "source")}
    assert offer(dict(load, zone="SA1", mw=1500.0), Kind.LOAD) is None
    assert offer(dict(load, zone="SA1", mw=1500.0), Kind.LOAD) is Reason.DUPLICATE


def test_entries_past_the_horizon_are_deleted_and_such_old_intervals_are_not_checked() -> None:
    horizon_ms = 24 * 3600 * 1000
    offer = Offers(horizon_ms=horizon_ms)
    records = aemo_records()  # a month of half-hours, in order
    for record in records:
        assert offer(record) is None
    # A day of half-hours behind the durable watermark (one record behind), plus the one at the cutoff.
    assert offer.revisions() <= horizon_ms // HALF_HOUR_MS + 2
    # Recent intervals are still checked; forgotten ones are accepted again and not kept.
    assert offer(records[-1]) is Reason.DUPLICATE
    assert offer(records[0]) is None
    assert offer(records[0]) is None
    assert offer.revisions() <= horizon_ms // HALF_HOUR_MS + 2


def _sa1_price(lmp: float, version: int = 1) -> Accepted:
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
    return accepted


def test_the_same_record_consumed_again_from_the_same_offset_is_a_redelivery_not_a_duplicate() -> None:
    accepted = _sa1_price(300.0)
    assert classify(accepted, None, 41) == NEW
    known = Revision.of(accepted, 41)
    assert classify(accepted, known, 41) == REDELIVERY
    resent = classify(accepted, known, 7)
    assert isinstance(resent, Rejected) and resent.reason is Reason.DUPLICATE
    assert classify(_sa1_price(310.0, version=2), known, 99) == REVISION


def test_revision_entries_round_trip_through_bytes() -> None:
    accepted = _sa1_price(300.0, version=3)
    for entry in (Revision.of(accepted, 41), Revision.of(accepted, -1, counted=False)):
        data = entry.to_bytes()
        assert len(data) == 33 and Revision.from_bytes(data) == entry
    huge = Revision(10**30, b"\0" * 16)
    assert Revision.from_bytes(huge.to_bytes()).version == (1 << 63) - 1


def test_content_digest_ignores_key_order() -> None:
    record = aemo_records(limit=1)[0]
    assert content_digest(record) == content_digest(dict(reversed(list(record.items()))))
    assert content_digest(record) != content_digest(dict(record, lmp=0.0))
    assert len(content_digest(record)) == 16


@pytest.mark.parametrize("horizon_ms", [0, 3_600_000])
def test_a_tiny_horizon_still_catches_repeats_of_the_newest_interval(horizon_ms: int) -> None:
    offer = Offers(horizon_ms=horizon_ms)
    records = aemo_records(limit=3)
    assert [offer(r) for r in records] == [None] * 3
    assert offer(records[-1]) is Reason.DUPLICATE
