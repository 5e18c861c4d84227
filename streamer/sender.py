"""The worker's producer: a batch of outputs in, returned only once the broker acknowledged every one.

aiokafka's ``send()`` costs tens of microseconds per record (a coroutine, a future and an accumulator
lookup each); the worker writes about three records per input, so per-record sends were most of a batch's
time, and that time is the window in which a crash leaves outputs published but not yet marked processed.
Here records are appended straight into one record batch per topic-partition (aiokafka's C batch builder)
and each batch is handed over whole: one future per batch, not per record. The partitioner is Kafka's
default (murmur2 of the key), so a series keeps one partition in every topic, as it does in the raw topics.

The producer is idempotent with ``acks=all``; a failed batch is sent again (forever, with a pause) because
giving up would let the caller commit inputs whose outputs were never written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

__all__ = ["BatchSender", "Outgoing", "RecordBatcher", "last_offsets", "producer_options", "send_batches"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024 * 1024
_BATCH_BYTES = 512 * 1024  # under the 1 MiB message.max.bytes a topic gets by default
_RETRY_PAUSE_S = 1.0
_KEY_CACHE = 200_000  # key -> murmur2 entries


class Outgoing(Protocol):
    """What the sender needs of an output record."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def timestamp_ms(self) -> int | None: ...
    @property
    def source_partition(self) -> int: ...
    @property
    def partition(self) -> int | None: ...


@dataclass(slots=True)
class _Batch:
    topic: str
    partition: int
    builder: Any
    records: list[Any]  # what went into the batch, to send again if it fails


class RecordBatcher:
    """Builds whole record batches per topic-partition from output records (no I/O but metadata lookups)."""

    def __init__(self) -> None:
        self._partitions: dict[str, list[int]] = {}
        # murmur2 in pure Python is worth caching: per key, not per (topic, key), since a series writes the
        # same key to several output topics (one entry per series instead of three).
        self._hash_by_key: dict[bytes, int] = {}

    def forget(self) -> None:
        """After a failure: metadata may have changed."""
        self._partitions.clear()
        self._hash_by_key.clear()

    async def partitions_of(self, producer: AIOKafkaProducer, topic: str) -> list[int]:
        known = self._partitions.get(topic)
        if known is None:
            known = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        return known

    async def build(self, producer: AIOKafkaProducer, records: Sequence[Outgoing]) -> list[_Batch]:
        open_batches: dict[tuple[str, int], _Batch] = {}
        done: list[_Batch] = []
        for out in records:
            if out.partition is not None:
                partition = out.partition
            else:
                partitions = self._partitions.get(out.topic) or await self.partitions_of(producer, out.topic)
                if out.key is None:
                    partition = partitions[out.source_partition % len(partitions)]
                else:
                    hashed = self._hash_by_key.get(out.key)
                    if hashed is None:
                        if len(self._hash_by_key) >= _KEY_CACHE:
                            self._hash_by_key.clear()
                        hashed = self._hash_by_key[out.key] = murmur2(out.key) & 0x7FFFFFFF
                    partition = partitions[hashed % len(partitions)]  # as Kafka's default partitioner
            batch = open_batches.get((out.topic, partition))
            for _ in range(2):
                if batch is None:
                    batch = _Batch(out.topic, partition, producer.create_batch(), [])
                    open_batches[(out.topic, partition)] = batch
                appended = batch.builder.append(
                    timestamp=out.timestamp_ms, key=out.key, value=out.value, headers=list(out.headers)
                )
                if appended is not None:
                    batch.records.append(out)
                    break
                if not batch.records:
                    raise ValueError(f"a record for {out.topic} does not fit in an empty batch")
                done.append(batch)
                batch = None
        done.extend(open_batches.values())
        return done


class _Entry:
    """A keyed record for an explicit partition (a changelog entry): what ``_Batch`` needs to resend it."""

    __slots__ = ("key", "partition", "topic", "value")

    def __init__(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        self.topic, self.partition, self.key, self.value = topic, partition, key, value


def build_entries(producer: AIOKafkaProducer, records: Sequence[_Entry]) -> list[_Batch]:
    """Record batches of keyed entries for explicit partitions (no headers, the producer's timestamp)."""
    open_batches: dict[tuple[str, int], _Batch] = {}
    done: list[_Batch] = []
    for entry in records:
        ident = (entry.topic, entry.partition)
        batch = open_batches.get(ident)
        if batch is None or batch.builder.append(timestamp=None, key=entry.key, value=entry.value) is None:
            if batch is not None:
                done.append(batch)
            batch = open_batches[ident] = _Batch(entry.topic, entry.partition, producer.create_batch(), [])
            if batch.builder.append(timestamp=None, key=entry.key, value=entry.value) is None:
                raise ValueError(f"an entry for {entry.topic} does not fit in an empty batch")
        batch.records.append(entry)
    done.extend(open_batches.values())
    return done


async def send_batches(producer: AIOKafkaProducer, batches: Sequence[_Batch]) -> list[Any]:
    """Hand every batch over; wait for the broker's answers (a RecordMetadata or the exception, per batch)."""
    futures = [await producer.send_batch(b.builder, b.topic, partition=b.partition) for b in batches]
    return list(await asyncio.gather(*futures, return_exceptions=True))


def last_offsets(batches: Sequence[_Batch], results: Sequence[Any]) -> dict[tuple[str, int], int]:
    """The offset of the last record written to each (topic, partition) by the batches that succeeded."""
    last: dict[tuple[str, int], int] = {}
    for batch, res in zip(batches, results, strict=True):
        if not isinstance(res, BaseException):
            offset = res.offset + len(batch.records) - 1
            tp = (batch.topic, batch.partition)
            if offset > last.get(tp, -1):
                last[tp] = offset
    return last


def producer_options(options: dict[str, Any]) -> dict[str, Any]:
    """What every producer of the worker shares: idempotent, acks=all, big requests, batches we build."""
    return {
        **options,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,  # the batches are built whole before they are handed over
        "max_request_size": MAX_REQUEST_BYTES,
        "max_batch_size": _BATCH_BYTES,
    }


class BatchSender:
    """Sends output records in whole batches; :meth:`send_all` returns once all are acknowledged."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self._producer: AIOKafkaProducer | None = None
        self._batcher = RecordBatcher()
        self.retries = 0  # batches sent again after a failure
        self.failing_since: float | None = None  # monotonic start of the current run of failures

    async def start(self) -> None:
        await self._started()

    async def warm(self, topics: Sequence[str]) -> None:
        """Start, and learn the partitions of ``topics`` now, so a first send does not wait for metadata."""
        producer = await self._started()
        for topic in topics:
            await self._batcher.partitions_of(producer, topic)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**producer_options(self._options))
            await producer.start()
            self._producer = producer
        return self._producer

    async def send_all(self, records: Sequence[Outgoing]) -> dict[tuple[str, int], int]:
        """Return once the broker acknowledged every record; resend failed batches until it has.

        Returns the offset of the last record written to each (topic, partition)."""
        pending = list(records)
        last: dict[tuple[str, int], int] = {}
        while pending:
            try:
                producer = await self._started()
                batches = await self._batcher.build(producer, pending)
                results = await send_batches(producer, batches)
            except KafkaError as exc:  # the broker is away: nothing was sent, try again
                await self._failed(f"the producer cannot send ({exc!r})")
                continue
            for tp, offset in last_offsets(batches, results).items():
                if offset > last.get(tp, -1):
                    last[tp] = offset
            failed = [b for b, res in zip(batches, results, strict=True) if isinstance(res, BaseException)]
            pending = [out for batch in failed for out in batch.records]
            if failed:
                first = next(res for res in results if isinstance(res, BaseException))
                self.retries += len(failed)
                await self._failed(f"{len(failed)} of {len(batches)} batches failed ({first!r})")
        self.failing_since = None
        return last

    async def send_entries(
        self, topic: str, changes: dict[int, list[tuple[bytes, bytes | None]]]
    ) -> dict[int, int]:
        """Write keyed entries to explicit partitions of ``topic`` (a changelog), as :meth:`send_all` does
        records but without building an output record per entry. Returns the last offset per partition."""
        pending = [_Entry(topic, p, key, value) for p, entries in changes.items() for key, value in entries]
        last: dict[int, int] = {}
        while pending:
            try:
                producer = await self._started()
                batches = build_entries(producer, pending)
                results = await send_batches(producer, batches)
            except KafkaError as exc:
                await self._failed(f"the producer cannot send ({exc!r})")
                continue
            for (_, partition), offset in last_offsets(batches, results).items():
                last[partition] = max(offset, last.get(partition, -1))
            failed = [b for b, res in zip(batches, results, strict=True) if isinstance(res, BaseException)]
            pending = [entry for batch in failed for entry in batch.records]
            if failed:
                self.retries += len(failed)
                await self._failed(f"{len(failed)} of {len(batches)} changelog batches failed")
        self.failing_since = None
        return last

    async def _failed(self, what: str) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        log.warning("%s; sending again in %.0f s", what, _RETRY_PAUSE_S)
        self._batcher.forget()
        await asyncio.sleep(_RETRY_PAUSE_S)

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
