"""The history sink's Kafka side: a consumer group reading output topics (``read_committed``) into rolls.

Order per topic partition: records are buffered until the roll is due (``roll_bytes`` of values, or
``roll_age_ms`` since its first record); the roll's files are written and renamed durably; only then is
the offset after the roll committed to the group. The committed offset is for monitoring (the group's lag
is the sink's backlog); where a partition resumes is decided by the files (:meth:`RollWriter.resume`),
so a kill between a rename and its commit re-reads records that are then skipped, not written twice.

A record whose ``streamer.schema_version`` header names a major version other than the one this sink
types its columns from stops the sink with an error (exit 1): it is never written with a wrong type.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord

from streamer.dlqtool.reader import topic_partitions
from streamer.errors import BrokerError, StreamerError
from streamer.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options, connection_failure
from streamer.schemas.version import SCHEMA_MAJOR, SCHEMA_VERSION_HEADER
from streamer.sink.storage import Storage
from streamer.sink.writer import Pending, RollWriter

__all__ = ["SinkOptions", "SinkReport", "run_sink"]

log = logging.getLogger(__name__)

_MAJOR = str(SCHEMA_MAJOR).encode()


@dataclass(frozen=True, slots=True)
class SinkOptions:
    bootstrap: str
    contracts: Mapping[str, str]  # Kafka topic -> contract topic (enriched.prices, ...)
    out: str
    group_id: str
    roll_bytes: int = 64 * 1024 * 1024
    roll_age_ms: int = 60_000
    exit_at_end: bool = False  # stop once the end offsets seen at start are written
    max_poll_records: int = 5000
    security: KafkaSecurity = PLAINTEXT


@dataclass(slots=True)
class SinkReport:
    rows: int = 0
    files: int = 0
    file_bytes: int = 0
    rolls: int = 0
    skipped: int = 0  # records read again after a restart that the files already hold
    started_s: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict[str, Any]:
        elapsed_s = max(time.monotonic() - self.started_s, 1e-9)
        return {
            "rows": self.rows,
            "files": self.files,
            "file_bytes": self.file_bytes,
            "rolls": self.rolls,
            "skipped": self.skipped,
            "elapsed_s": round(elapsed_s, 3),
            "rows_per_s": round(self.rows / elapsed_s, 1),
        }


class _Sink:
    def __init__(self, options: SinkOptions, stop: asyncio.Event) -> None:
        self.options = options
        self.stop = stop
        self.writer = RollWriter(Storage.from_uri(options.out), options.contracts)
        self.report = SinkReport()
        self.pending: dict[TopicPartition, Pending] = {}  # the open roll of each partition
        self.full: dict[TopicPartition, list[Pending]] = {}  # rolls that reached roll_bytes, to write
        # The offset after the last record taken in (written or buffered); records before it are skipped:
        # after a restart or a rebalance, the files hold them already, or a seek re-reads them.
        self.next_offset: dict[TopicPartition, int] = {}
        # Offsets the files hold that the group may not have committed: a kill between a roll's rename and
        # its commit leaves the group behind the files, and with nothing new to read no roll would ever
        # commit them; the loop commits these outside the rebalance listener.
        self.catch_up: dict[TopicPartition, int] = {}
        self.consumer: AIOKafkaConsumer | None = None
        # Writing a roll and reading progress back on a rebalance never overlap: a scan in the middle of a
        # roll's renames would take it for an interrupted one.
        self.lock = asyncio.Lock()

    # -- rebalancing -----------------------------------------------------------------------------------
    async def assigned(self, partitions: set[TopicPartition]) -> None:
        async with self.lock:
            await self._assigned(partitions)

    async def _assigned(self, partitions: set[TopicPartition]) -> None:
        consumer = self.consumer
        assert consumer is not None
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, numbers in by_topic.items():
            resume = await asyncio.to_thread(self.writer.resume, topic, numbers)
            for number, offset in resume.items():
                tp = TopicPartition(topic, number)
                # Anything buffered and not written is read again from the files' end.
                self.pending.pop(tp, None)
                self.full.pop(tp, None)
                if offset is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset)
                # From now on records of the partition are taken in: aiokafka may fetch and hand out
                # records of a new assignment before this listener is done, and those were dropped.
                self.next_offset[tp] = offset or 0
                if offset is not None:
                    self.catch_up[tp] = offset
                log.info("%s[%d]: the files hold everything before offset %s", topic, number, offset)

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        await self.flush([tp for tp in partitions if tp in self.pending or tp in self.full], force=True)
        for tp in partitions:
            self.next_offset.pop(tp, None)
            self.catch_up.pop(tp, None)

    # -- records ---------------------------------------------------------------------------------------
    def add(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        start = self.next_offset.get(tp)
        if start is None:  # fetched before a rebalance took the partition away
            return
        if record.offset < start:
            self.report.skipped += 1  # read again: a file holds it already, or it is buffered
            return
        version = None
        for name, value in record.headers:
            if name == SCHEMA_VERSION_HEADER:
                version = value
        if version is not None and version != _MAJOR:
            raise StreamerError(
                f"{tp.topic}[{tp.partition}]@{record.offset} has schema version "
                f"{version.decode(errors='replace')}; this sink writes version {SCHEMA_MAJOR}"
            )
        value = record.value or b""
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise StreamerError(f"{tp.topic}[{tp.partition}]@{record.offset} is not JSON: {exc}") from None
        pending = self.pending.get(tp)
        if pending is None:
            pending = self.pending[tp] = Pending(tp.topic, tp.partition, _now_ms())
        pending.add(parsed, record.offset, record.timestamp, len(value))
        self.next_offset[tp] = record.offset + 1
        if pending.value_bytes >= self.options.roll_bytes:
            self.full.setdefault(tp, []).append(self.pending.pop(tp))

    def due(self, now_ms: int) -> list[TopicPartition]:
        """Partitions with a full roll, or an open one older than ``roll_age_ms``."""
        aged = [tp for tp, p in self.pending.items() if now_ms - p.started_ms >= self.options.roll_age_ms]
        return list(dict.fromkeys([*self.full, *aged]))

    async def flush(self, partitions: list[TopicPartition], *, force: bool = False) -> None:
        """Write the full rolls of ``partitions`` and their open ones that are due (all with ``force``), in
        offset order, then commit the offsets after them."""
        async with self.lock:
            await self._flush(partitions, force)

    async def _flush(self, partitions: list[TopicPartition], force: bool) -> None:
        commits = self.catch_up
        self.catch_up = {}
        now_ms = _now_ms()
        for tp in partitions:
            rolls = self.full.pop(tp, [])
            open_roll = self.pending.get(tp)
            if open_roll is not None and (force or now_ms - open_roll.started_ms >= self.options.roll_age_ms):
                rolls.append(self.pending.pop(tp))
            for pending in rolls:
                written = await asyncio.to_thread(self.writer.write, pending)
                commits[tp] = pending.last_offset + 1
                self.report.rows += written.rows
                self.report.files += written.roll.files
                self.report.file_bytes += written.file_bytes
                self.report.rolls += 1
        if commits and self.consumer is not None:
            try:
                await self.consumer.commit(commits)
            except (CommitFailedError, IllegalStateError) as exc:
                # A rebalance is under way; the files hold the progress, the next commit catches up.
                log.warning("committing %s failed: %s", commits, exc)

    # -- the loop --------------------------------------------------------------------------------------
    async def run(self) -> SinkReport:
        options = self.options
        topics = list(options.contracts)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=options.bootstrap,
            group_id=options.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
            **aiokafka_options(options.security),
        )
        self.consumer = consumer
        ends: dict[TopicPartition, int] = {}
        try:
            await consumer.start()
        except KafkaConnectionError as exc:
            await consumer.stop()
            raise await connection_failure(options.bootstrap, options.security, exc) from None
        try:
            if options.exit_at_end:
                tps = [
                    TopicPartition(topic, p)
                    for topic in topics
                    for p in await topic_partitions(options.bootstrap, topic, options.security)
                ]
                ends = await consumer.end_offsets(tps)
            consumer.subscribe(topics, listener=_Listener(self))
            while not self.stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=options.max_poll_records)
                for tp, records in batch.items():
                    for record in records:
                        self.add(tp, record)
                due = self.due(_now_ms())
                if due or self.catch_up:
                    await self.flush(due)
                if ends and await self._reached(ends):
                    break
            await self.flush(list(dict.fromkeys([*self.full, *self.pending])), force=True)
        except KafkaError as exc:
            raise BrokerError(f"the sink's consumer failed: {exc}") from None
        finally:
            await consumer.stop()
        return self.report

    async def _reached(self, ends: Mapping[TopicPartition, int]) -> bool:
        consumer = self.consumer
        assert consumer is not None
        if not consumer.assignment() >= set(ends) or not set(self.next_offset) >= set(ends):
            return False  # not (yet) ours, or the files not yet read back for it
        for tp, end in ends.items():
            if max(await consumer.position(tp), self.next_offset[tp]) < end:
                return False
        return True


class _Listener(ConsumerRebalanceListener):
    def __init__(self, sink: _Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.sink.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.sink.assigned(set(assigned))


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


async def run_sink(options: SinkOptions, on_signal: Callable[[], None] | None = None) -> SinkReport:
    """Run the sink until SIGINT/SIGTERM (or, with ``exit_at_end``, the end offsets seen at start are
    written); it writes what it holds before it returns."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await _Sink(options, stop).run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if on_signal is not None and stop.is_set():
            on_signal()
