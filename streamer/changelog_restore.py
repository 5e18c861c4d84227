"""Bulk catch-up of a worker's state from the table changelog, before Faust's own recovery runs.

Faust's recovery applies changelog records one event at a time through its stream machinery (about 13.5k
records/s measured with ``streamer bench restore``); a worker on an empty data dir then needs minutes for a
million keys. This reader fetches the newly assigned partitions of the changelog with a plain aiokafka
consumer (no group, read_committed, large fetches) and writes each fetch to the partition's RocksDB in one
write batch together with the changelog offset it reached. Faust's recovery then starts from that offset,
finds little or nothing left and completes as usual, so it remains the safety net: whatever this reader did
not get to (a rebalance cut it short, records arrived meanwhile) Faust reads itself.

The write callback is the table's bulk writer (:class:`streamer.faust_boundary.TableState`), so the offset
stored is the one Faust's recovery reads back: the offset of the last record applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.state.store import Change

__all__ = ["ChangelogRestore", "RestoreReport"]

log = logging.getLogger(__name__)

_FETCH_RECORDS = 50_000
_FETCH_BYTES = 64 * 1024 * 1024
_PARTITION_FETCH_BYTES = 16 * 1024 * 1024

Write = Callable[[int, list[Change], int], None]


@dataclass(frozen=True, slots=True)
class RestoreReport:
    records: int
    seconds: float
    complete: bool  # every partition reached the end it had when the restore began


def _start(first: int, last_applied: int | None) -> int:
    return max(first, last_applied + 1 if last_applied is not None else 0)


class ChangelogRestore:
    """Reads changelog partitions from their persisted offsets to their ends into the local store."""

    def __init__(self, client_options: Mapping[str, Any], write: Write) -> None:
        self._options = dict(client_options)
        self._write = write

    async def run(
        self,
        topic: str,
        persisted: Mapping[int, int | None],
        keep_going: Callable[[], bool] = lambda: True,
    ) -> RestoreReport:
        """Catch up ``persisted`` (partition -> last applied offset, None for an empty store). Stops early,
        with ``complete`` False, once ``keep_going`` says so (another rebalance began)."""
        started = time.monotonic()
        consumer = AIOKafkaConsumer(
            **self._options,
            enable_auto_commit=False,
            isolation_level="read_committed",  # exactly-once changelogs hold aborted transactions
            fetch_max_bytes=_FETCH_BYTES,
            max_partition_fetch_bytes=_PARTITION_FETCH_BYTES,
        )
        await consumer.start()
        records = 0
        try:
            tps = [TopicPartition(topic, p) for p in sorted(persisted)]
            consumer.assign(tps)
            firsts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            starts = {tp: _start(firsts[tp], persisted[tp.partition]) for tp in tps}
            remaining = {tp for tp in tps if starts[tp] < ends[tp]}
            for tp in remaining:
                consumer.seek(tp, starts[tp])
            for tp in sorted(remaining):
                log.info(
                    "bulk restore of %s[%d]: offsets %d to %d", topic, tp.partition, starts[tp], ends[tp]
                )
            while remaining and keep_going():
                fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=_FETCH_RECORDS)
                for tp, batch in fetched.items():
                    if batch:
                        self._write(tp.partition, [(r.key, r.value) for r in batch], batch[-1].offset)
                        records += len(batch)
                for tp in list(remaining):
                    # read_committed skips aborted records and commit markers: the position says where it is
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            report = RestoreReport(records, time.monotonic() - started, not remaining)
        finally:
            await consumer.stop()
        if records:
            log.info(
                "restored %d changelog records of %s in %.1f s (%s)",
                report.records,
                topic,
                report.seconds,
                "complete" if report.complete else "cut short; Faust's recovery reads the rest",
            )
        return report
