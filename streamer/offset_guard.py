"""Hands the pipeline each raw partition's records in offset order, without holes. No Faust import.

A record can arrive beyond the next expected offset of its partition: records fetched before a rebalance
seek are dropped, and Faust's own fetch loop (before the pipeline read raw topics in batches) skipped runs of
offsets after a restart. The guard notices the hole, holds that partition's records back and seeks to the
expected offset, so the run is fetched again. A hole that comes back after the seek with the same first
offset after it is a real one (a transaction marker under read_committed) and is accepted.

Because the records it admits are contiguous from the committed offset, "the offset after the last admitted
record whose outputs were delivered" is an offset that is safe to commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["OffsetGapGuard"]

log = logging.getLogger(__name__)

Seek = Callable[[tuple[str, int], int], Awaitable[None]]
Committed = Callable[[tuple[str, int]], int | None]


class OffsetGapGuard:
    """Per topic-partition: the next expected offset, and the hole it is waiting to see filled."""

    RESEEK_AFTER_S = 2.0

    def __init__(self, seek: Seek, committed: Committed) -> None:
        self._seek_to = seek
        self._committed = committed
        self._next: dict[tuple[str, int], int] = {}
        # tp -> (expected offset, first offset after the hole)
        self._waiting: dict[tuple[str, int], tuple[int, int]] = {}
        self._sought_at: dict[tuple[str, int], float] = {}

    async def _seek(self, tp: Any, offset: int) -> None:
        self._sought_at[tp] = time.monotonic()
        await self._seek_to(tp, offset)

    async def reseek_stuck(self) -> None:
        """Seek again for partitions still waiting: records of a fetch that was under way during the
        seek can move Faust's read offset past the re-fetched run once more."""
        now = time.monotonic()
        for tp, (expected, _first_after) in list(self._waiting.items()):
            if now - self._sought_at.get(tp, 0.0) >= self.RESEEK_AFTER_S:
                log.warning(
                    "%s[%d]: still waiting for offset %d; seeking again",
                    tp[0],
                    tp[1],
                    expected,
                    extra={"topic": tp[0], "partition": tp[1], "offset": expected},
                )
                await self._seek(tp, expected)

    def reset(self) -> None:
        """After a (re)assignment the committed offsets are the reference again."""
        self._next.clear()
        self._waiting.clear()
        self._sought_at.clear()

    def _expected(self, tp: Any) -> int | None:
        expected = self._next.get(tp)
        return self._committed(tp) if expected is None else expected

    async def admit(self, records: Sequence[Any]) -> list[Any]:
        """The records (with ``topic``, ``partition`` and ``offset``) the pipeline may process now."""
        admitted: list[Any] = []
        for event in records:
            tp, offset = (event.topic, event.partition), event.offset
            waiting = self._waiting.get(tp)
            if waiting is not None:
                expected, first_after = waiting
                if offset == first_after:
                    # Fetched again from the expected offset, the first record is the same one: the hole
                    # is real (offsets of transaction markers are never delivered).
                    log.info(
                        "%s[%d]: offsets %d..%d hold no records; going on",
                        tp[0],
                        tp[1],
                        expected,
                        first_after - 1,
                        extra={"topic": tp[0], "partition": tp[1], "offset": expected},
                    )
                    del self._waiting[tp]
                    self._next[tp] = first_after
                elif offset != expected:
                    continue  # a stale record from before the seek: it will come again
                else:
                    del self._waiting[tp]
            want = self._expected(tp)
            if want is not None and offset > want:
                log.warning(
                    "%s[%d]: got offset %d, expected %d; seeking back to read the hole",
                    tp[0],
                    tp[1],
                    offset,
                    want,
                    extra={"topic": tp[0], "partition": tp[1], "offset": offset, "expected": want},
                )
                self._waiting[tp] = (want, offset)
                await self._seek(tp, want)
                continue
            admitted.append(event)
            self._next[tp] = max(offset + 1, self._next.get(tp, 0))
        return admitted
