"""OffsetGapGuard's decisions. The seek below is only recorded: the guard is what is tested."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from streamer.offset_guard import OffsetGapGuard


class _Consumer:
    def __init__(self, committed: dict[tuple[str, int], int]) -> None:
        self.committed = committed
        self.seeks: list[tuple[tuple[str, int], int]] = []

    async def seek(self, tp: tuple[str, int], offset: int) -> None:
        self.seeks.append((tp, offset))


def _guard(committed: dict[tuple[str, int], int]) -> tuple[OffsetGapGuard, _Consumer]:
    consumer = _Consumer(committed)
    return OffsetGapGuard(consumer.seek, consumer.committed.get), consumer


def _events(tp: str, offsets: range | list[int]) -> list[Any]:
    return [SimpleNamespace(topic=tp, partition=0, offset=o) for o in offsets]


def _offsets(events: list[Any]) -> list[int]:
    return [e.offset for e in events]


async def test_contiguous_records_pass_and_a_skipped_run_is_read_again() -> None:
    guard, consumer = _guard({("p0", 0): 100})
    assert _offsets(await guard.admit(_events("p0", range(100, 110)))) == list(range(100, 110))
    # Offsets 110..149 were skipped by Faust: hold the partition back and seek to 110.
    assert await guard.admit(_events("p0", range(150, 160))) == []
    assert consumer.seeks == [(("p0", 0), 110)]
    # Stale records of the fetch under way are dropped until 110 comes again.
    assert await guard.admit(_events("p0", range(160, 165))) == []
    assert _offsets(await guard.admit(_events("p0", range(110, 170)))) == list(range(110, 170))


async def test_a_real_hole_is_accepted_when_the_same_record_follows_the_seek() -> None:
    guard, consumer = _guard({("p0", 0): 10})
    await guard.admit(_events("p0", range(10, 15)))
    assert await guard.admit(_events("p0", [16])) == []  # offset 15 is a transaction marker
    assert _offsets(await guard.admit(_events("p0", [16, 17]))) == [16, 17]
    assert consumer.seeks == [(("p0", 0), 15)]


async def test_a_partition_still_waiting_is_sought_again() -> None:
    guard, consumer = _guard({("p0", 0): 0})
    await guard.admit(_events("p0", [5]))
    OffsetGapGuard.RESEEK_AFTER_S = 0.0
    try:
        await guard.reseek_stuck()
    finally:
        OffsetGapGuard.RESEEK_AFTER_S = 2.0
    assert consumer.seeks == [(("p0", 0), 0), (("p0", 0), 0)]


async def test_without_a_committed_offset_the_first_record_sets_the_start() -> None:
    guard, consumer = _guard({})
    assert _offsets(await guard.admit(_events("p1", [42, 43]))) == [42, 43]
    assert consumer.seeks == []
