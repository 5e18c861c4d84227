"""Read a DLQ topic from given offsets up to the end offsets snapshotted at the start.

Reading never joins a consumer group and never commits, so ``stats``, ``show`` and a dry run
change nothing on the broker. A replay's progress is the committed offsets of its group, read
here with the admin client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamer.admin import admin_client
from streamer.dlqtool.record import DlqRecord
from streamer.errors import BrokerError, TopicMissingError
from streamer.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options, connection_failure

__all__ = ["DlqReader", "committed_offsets", "topic_partitions"]

log = logging.getLogger(__name__)

_MAX_FETCH_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class DlqReader:
    """``async with DlqReader(...) as reader: async for batch in reader.batches(starts): ...``"""

    bootstrap: str
    topic: str
    security: KafkaSecurity = PLAINTEXT
    _consumer: AIOKafkaConsumer | None = None
    partitions: tuple[int, ...] = ()

    async def __aenter__(self) -> DlqReader:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=_MAX_FETCH_BYTES,
            fetch_max_bytes=2 * _MAX_FETCH_BYTES,
            **aiokafka_options(self.security),
        )
        try:
            await consumer.start()
        except KafkaConnectionError as exc:
            await consumer.stop()
            raise await connection_failure(self.bootstrap, self.security, exc) from None
        self._consumer = consumer
        try:
            self.partitions = await topic_partitions(self.bootstrap, self.topic, self.security)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("DlqReader used outside 'async with'")
        return self._consumer

    async def end_offsets(self) -> dict[int, int]:
        consumer = self._started()
        ends = await consumer.end_offsets([TopicPartition(self.topic, p) for p in self.partitions])
        return {tp.partition: offset for tp, offset in ends.items()}

    async def batches(
        self,
        start: Callable[[int], int] | Mapping[int, int],
        ends: Mapping[int, int] | None = None,
        *,
        timeout_ms: int = 1000,
    ) -> AsyncIterator[list[DlqRecord]]:
        """Batches of records from ``start`` (partition -> first offset) up to ``ends`` (exclusive;
        default: the end offsets now). Stops when every partition reached its end."""
        consumer = self._started()
        ends = dict(ends) if ends is not None else await self.end_offsets()
        first = start if callable(start) else (lambda p: start.get(p, 0))
        active: list[TopicPartition] = []
        for partition in self.partitions:
            tp = TopicPartition(self.topic, partition)
            begin = first(partition)
            if begin < ends.get(partition, 0):
                active.append(tp)
        consumer.assign(active)
        for tp in active:
            consumer.seek(tp, first(tp.partition))
        while active:
            fetched = await consumer.getmany(*active, timeout_ms=timeout_ms)
            batch = [
                DlqRecord.of(r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
                for tp, records in fetched.items()
                for r in records
                if r.offset < ends[tp.partition]
            ]
            done = [tp for tp in active if await consumer.position(tp) >= ends[tp.partition]]
            if done:
                active = [tp for tp in active if tp not in done]
                consumer.pause(*done)
            if batch:
                yield batch


async def topic_partitions(
    bootstrap: str, topic: str, security: KafkaSecurity = PLAINTEXT
) -> tuple[int, ...]:
    """The partition numbers of ``topic``; TopicMissingError when it does not exist."""
    async with admin_client(bootstrap, security) as admin:
        try:
            # Listing first: a metadata request naming a missing topic may auto-create it on brokers
            # with auto.create.topics.enable=true.
            if topic not in await admin.list_topics():
                raise TopicMissingError(topic)
            described = await admin.describe_topics([topic])
        except KafkaError as exc:
            raise BrokerError(f"describing topic {topic!r} failed: {exc}") from None
    found = [t for t in described if t["topic"] == topic and t["error_code"] == 0]
    if not found:
        raise TopicMissingError(topic)
    return tuple(sorted(p["partition"] for p in found[0]["partitions"]))


async def committed_offsets(
    bootstrap: str,
    group_id: str,
    topic: str,
    partitions: tuple[int, ...],
    timeout_s: float = 60.0,
    *,
    security: KafkaSecurity = PLAINTEXT,
) -> dict[int, int]:
    """The group's committed offset per partition (0 where it has none).

    Retries retriable errors: on a fresh broker the group coordinator (``__consumer_offsets``) is
    created on first use and is unavailable for a few seconds."""
    tps = [TopicPartition(topic, p) for p in partitions]
    deadline = time.monotonic() + timeout_s
    async with admin_client(bootstrap, security) as admin:
        while True:
            try:
                found = await admin.list_consumer_group_offsets(group_id, partitions=tps)
                break
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline:
                    raise BrokerError(f"reading the offsets of group {group_id!r} failed: {exc}") from None
                log.info("reading the offsets of group %s: %s; retrying", group_id, exc)
                await asyncio.sleep(0.5)
    return {p: max(0, found[tp].offset) if tp in found else 0 for tp, p in zip(tps, partitions, strict=True)}
