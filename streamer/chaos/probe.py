"""What a chaos run observes on the broker: every output record as it arrives, and committed offsets."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streamer.chaos.audit import Ledger, OutputRecord

__all__ = ["OutputTail", "committed_offsets"]

log = logging.getLogger(__name__)


class OutputTail:
    """Reads output topics from the beginning for as long as a run goes on.

    Keeps every record (for the audit), the arrival time of each poll's records (to time a restart to its
    first output) and, per raw topic-partition, the highest input offset any primary output names (to
    compare with the group's committed offsets).
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        partitions: int,
        *,
        primary_topics: frozenset[str],
        dlq_topic: str,
    ) -> None:
        self._bootstrap = bootstrap
        self._tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self.ledger = Ledger(primary_topics, dlq_topic)
        self.read = 0
        self.processed_max: dict[tuple[str, int], int] = {}
        self.first_after: dict[tuple[str, int], list[float]] = {}  # raw tp -> arrival times of its outputs
        self._arrival_s: list[float] = []  # monotonic time of each poll that returned records
        self._arrival_n: list[int] = []  # records read so far at that time
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",  # what a consumer of exactly-once outputs reads
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        await consumer.start()
        consumer.assign(self._tps)
        await consumer.seek_to_beginning(*self._tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=100, max_records=20_000)
            except KafkaError as exc:  # a broker restart: keep going, aiokafka reconnects
                log.info("output tail: %r", exc)
                await asyncio.sleep(0.5)
                continue
            if not batch:
                continue
            now = time.monotonic()
            for records in batch.values():
                for rec in records:
                    self.read += 1
                    origin = self.ledger.add(OutputRecord(rec.topic, rec.value, tuple(rec.headers or ())))
                    if origin is not None:
                        tp = (origin.topic, origin.partition)
                        if origin.offset > self.processed_max.get(tp, -1):
                            self.processed_max[tp] = origin.offset
                        arrivals = self.first_after.setdefault(tp, [])
                        if not arrivals or arrivals[-1] != now:
                            arrivals.append(now)
            self._arrival_s.append(now)
            self._arrival_n.append(self.read)

    @property
    def primary_seen(self) -> set[Any]:
        return self.ledger.origins

    def partition_resumed_after(self, t: float) -> dict[tuple[str, int], float]:
        """Per raw partition, the first time after ``t`` that one of its primary outputs arrived."""
        out: dict[tuple[str, int], float] = {}
        for tp, arrivals in self.first_after.items():
            i = bisect.bisect_right(arrivals, t)
            if i < len(arrivals):
                out[tp] = arrivals[i]
        return out

    def first_output_after(self, t: float, after_count: int) -> float | None:
        """Monotonic time of the first poll after ``t`` that read beyond ``after_count`` records."""
        i = bisect.bisect_right(self._arrival_s, t)
        for j in range(i, len(self._arrival_s)):
            if self._arrival_n[j] > after_count:
                return self._arrival_s[j]
        return None

    async def end_total(self) -> int:
        """The output topics' end offsets summed: what has been written so far."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._tps)
        return int(sum(ends.values()))

    async def caught_up(self, timeout_s: float = 60.0) -> None:
        """Wait until the reader's position reached every partition's end as it is now (positions, not
        record counts: aborted transactions' records and transaction markers are never delivered)."""
        assert self._consumer is not None
        consumer = self._consumer
        ends = await consumer.end_offsets(self._tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in self._tps]
            if all(position >= ends[tp] for tp, position in zip(self._tps, positions, strict=True)):
                return
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, topics: set[str]
) -> dict[tuple[str, int], int]:
    """The group's committed offsets of ``topics``; empty while the broker cannot answer."""
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError as exc:
        log.info("committed offsets of %s: %r", group, exc)
        return {}
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if tp.topic in topics}
