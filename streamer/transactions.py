"""Exactly-once delivery's Kafka side: one transactional producer per table partition.

A batch's outputs, its state changes (changelog records) and the raw offsets it consumed are committed in
one Kafka transaction per partition, so a crash leaves either all of them or none (read_committed readers
never see an aborted output, and the restarted worker resumes from the committed offsets with the committed
state). The transactional id is ``<app>-<partition>``: whichever worker owns a partition uses the same id, so
the new owner's producer fences the old one and aborts its open transaction, even when the old one is a
zombie that has not noticed it lost the partition. faust-streaming's own exactly-once mode is not used; it
has open duplicate and fencing bugs.

A worker whose producer was fenced has lost that partition: it must not retry (a new producer with the same
id would fence the other worker in turn). The partition stays fenced here until a rebalance hands it back
(:meth:`PartitionTransactions.claim`). Two workers can both hold a partition only while one of them acts on an
older assignment, which its next heartbeat (every 3 s) corrects. When the group coordinator's broker is
down that correction waits for a new coordinator, so the pipeline allows a session timeout: a partition still
fenced and assigned after it means the correction did not come, and the worker stops so that the group
reassigns it (:meth:`PartitionTransactions.fenced_since`). 15 s was too short on a slow machine with a
broker node killed just after a fence: both workers of a chaos run stopped themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import IllegalOperation, KafkaError, ProducerFenced

from streamer.faust_boundary import transaction_failure
from streamer.sender import Outgoing, RecordBatcher, last_offsets, producer_options, send_batches

__all__ = ["PartitionTransactions"]

log = logging.getLogger(__name__)

_RETRY_PAUSE_S = 1.0
_STOP_TIMEOUT_S = 10.0


class PartitionTransactions:
    """Commits records and consumed offsets of one table partition at a time, transactionally."""

    def __init__(self, options: dict[str, Any], id_prefix: str, group_id: str) -> None:
        self._options = options
        self._prefix = id_prefix
        self._group = group_id
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._batcher = RecordBatcher()
        self.retries = 0  # transactions aborted and tried again
        self.failing_since: float | None = None
        self._fenced_at: dict[int, float] = {}  # partition -> when another worker's producer fenced ours
        self._owned: set[int] = set()  # the partitions of the latest assignment (:meth:`claim`)
        self._starting: dict[int, asyncio.Lock] = {}

    async def _producer(self, partition: int) -> AIOKafkaProducer:
        """The partition's producer, started once: two starts of one transactional id in this process would
        fence each other (a batch's commit ran into :meth:`claim` starting the same partition's producer,
        and the worker took its own partition for lost)."""
        async with self._starting.setdefault(partition, asyncio.Lock()):
            producer = self._producers.get(partition)
            if producer is None:
                producer = AIOKafkaProducer(
                    **producer_options(self._options), transactional_id=f"{self._prefix}-{partition}"
                )
                try:
                    await producer.start()  # init_transactions: fences the previous owner, aborts its txn
                except BaseException:
                    with contextlib.suppress(KafkaError):
                        await producer.stop()
                    raise
                self._producers[partition] = producer
            return producer

    @property
    def fenced(self) -> set[int]:
        """Partitions another worker took over, with no rebalance since."""
        return set(self._fenced_at)

    def fenced_since(self, seconds: float) -> set[int]:
        """Partitions fenced at least ``seconds`` ago, with no rebalance since."""
        now = time.monotonic()
        return {partition for partition, at in self._fenced_at.items() if now - at >= seconds}

    async def commit(
        self, partition: int, records: Sequence[Outgoing], offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """Write ``records`` and commit ``offsets`` (next offset per raw topic-partition) in one transaction;
        retried until it commits. Returns the last offset written per (topic, partition)."""
        while True:
            if partition in self.fenced or partition not in self._owned:
                raise ProducerFenced()  # not ours now: a producer started here would fence the owner's
            producer = None
            try:
                producer = await self._producer(partition)
                await producer.begin_transaction()
                batches = await self._batcher.build(producer, records)
                results = await send_batches(producer, batches)
                failure = next((r for r in results if isinstance(r, BaseException)), None)
                if failure is not None:
                    raise failure
                if offsets:
                    await producer.send_offsets_to_transaction(
                        {TopicPartition(topic, p): offset for (topic, p), offset in offsets.items()},
                        self._group,
                    )
                await producer.commit_transaction()
            except ProducerFenced:
                await self._lost(partition)
                raise
            except KafkaError as exc:
                await self._failed(partition, producer, exc)
                continue
            except IllegalOperation as exc:  # the transaction failed underneath; its cause says how
                cause = None if producer is None else transaction_failure(producer)
                if cause is None:
                    raise
                if isinstance(cause, ProducerFenced):
                    await self._lost(partition)
                    raise cause from exc
                await self._failed(partition, producer, cause, abort=False)  # (a new producer aborts it)
                continue
            self.failing_since = None
            return last_offsets(batches, results)

    async def _lost(self, partition: int) -> None:
        """Another worker's producer took ``partition`` over: drop ours, and keep away until claimed."""
        log.warning(
            "partition %d was taken over by another worker (fenced); the new owner processes its batch",
            partition,
        )
        self._fenced_at[partition] = time.monotonic()
        self._batcher.forget()
        producer = self._producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(producer.stop(), _STOP_TIMEOUT_S)

    async def _failed(
        self, partition: int, producer: AIOKafkaProducer | None, exc: BaseException, *, abort: bool = True
    ) -> None:
        self.retries += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        log.warning(
            "transaction of partition %d failed (%r); trying again in %.0f s", partition, exc, _RETRY_PAUSE_S
        )
        if producer is not None:
            if abort:
                with contextlib.suppress(KafkaError):
                    await producer.abort_transaction()
            # A producer whose transaction state is broken cannot begin another one: start afresh.
            self._producers.pop(partition, None)
            with contextlib.suppress(KafkaError):
                await producer.stop()
        self._batcher.forget()
        await asyncio.sleep(_RETRY_PAUSE_S)

    async def claim(self, partitions: set[int]) -> None:
        """Take over ``partitions`` now: a producer's start fences the previous owner's and aborts its open
        transaction, whose outputs would otherwise hold read_committed readers back until it timed out."""
        self._owned = set(partitions)
        self._fenced_at.clear()  # a new assignment: what it gives us is ours
        await self.release(partitions)
        for partition in sorted(partitions):
            try:
                await self._producer(partition)
            except KafkaError as exc:  # the first commit will try again
                log.warning("cannot take over the transactions of partition %d yet (%r)", partition, exc)

    async def release(self, keep: set[int]) -> None:
        """Stop the producers of partitions this worker no longer owns."""
        for partition in [p for p in self._producers if p not in keep]:
            producer = self._producers.pop(partition)
            with contextlib.suppress(KafkaError):
                await producer.stop()

    async def stop(self) -> None:
        await self.release(set())
