"""Replay DLQ records to their origin topic (or ``--to``): resumable, idempotent, audited.

Guarantees and how they are kept:

- **Resumable, nothing twice.** Progress is the committed offsets of a consumer group derived from
  the DLQ topic, the filters and the target (:func:`~streamer.dlqtool.filters.replay_group_id`).
  A run starts at those offsets and stops at the DLQ end offsets snapshotted when it starts, so it
  always terminates; dead letters that arrive later are for the next run.
- **Atomic re-publish + commit.** Each chunk of records is re-published in one Kafka transaction
  (idempotent transactional producer, ``transactional.id`` = the group id) that also carries the
  chunk's offsets (``send_offsets_to_transaction``). Either the records and the progress are both
  committed, or neither is. A run killed with SIGKILL leaves an open transaction; the next run with
  the same group fences it (same transactional id) so it is aborted, then resumes from the last
  committed chunk. Consumers that read the targets with ``isolation.level=read_committed`` see
  every replayed record exactly once. A ``read_uncommitted`` consumer also sees the aborted
  records of the killed run (the pipeline's revision tracker then dead-letters the committed copy
  as ``duplicate``).
- **Everything read is processed.** Filtered-out records, records stopped by the loop guard and
  records the transform skips are committed too, and reported.
- **Dry run** reads the group's offsets and the DLQ, and writes nothing: no producer, no commit,
  no audit record.
- **Audit.** A real run ends with one JSON record in ``dlq.audit`` (also after a failure, when the
  broker can still be written to).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamer.admin import existing_topics
from streamer.dlqtool.audit import AuditEntry, who
from streamer.dlqtool.filters import Filters
from streamer.dlqtool.plan import Decision, Outcome, ReplayCounts, Republish, Transform, decide
from streamer.dlqtool.reader import DlqReader, committed_offsets
from streamer.dlqtool.record import DlqRecord
from streamer.errors import BrokerError, StreamerError, TopicMissingError
from streamer.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options, connection_failure
from streamer.schemas.version import VERSION_HEADER

__all__ = ["ReplayReport", "ReplayRequest", "run_replay"]

log = logging.getLogger(__name__)

_CHUNK_RECORDS = 500
_CHUNK_SECONDS_AT_RATE = 10  # keep a rate-limited transaction well under the 60 s timeout
_MAX_REQUEST_BYTES = 8 * 1024 * 1024
_PREVIEW_ROWS = 1000

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    bootstrap: str
    dlq_topic: str
    audit_topic: str
    group_id: str
    filters: Filters = field(default_factory=Filters)
    to_topic: str | None = None
    max_replays: int = 3
    transform: Transform | None = None
    transform_spec: str | None = None
    rate_per_s: float | None = None
    max_replayed: int | None = None
    limit: int | None = None
    dry_run: bool = False
    security: KafkaSecurity = PLAINTEXT

    def options(self) -> dict[str, Any]:
        return {
            "max_replays": self.max_replays,
            "transform": self.transform_spec,
            "rate_per_s": self.rate_per_s,
            "max": self.max_replayed,
            "limit": self.limit,
            "dry_run": self.dry_run,
        }


@dataclass(slots=True)
class ReplayReport:
    replay_id: str
    group_id: str
    dry_run: bool
    target: str | None
    counts: ReplayCounts = field(default_factory=ReplayCounts)
    preview: list[dict[str, Any]] = field(default_factory=list)
    targets: set[str] = field(default_factory=set)
    missing_targets: set[str] = field(default_factory=set)
    pending: int = 0  # records in the snapshot not yet processed by this group (before the run)
    stopped_early: bool = False
    started_ms: int = 0
    finished_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "replay_id": self.replay_id,
            "group_id": self.group_id,
            "dry_run": self.dry_run,
            "target": self.target or "origin topic",
            "target_topics": sorted(self.targets),
            "missing_target_topics": sorted(self.missing_targets),
            "pending_before": self.pending,
            "stopped_early": self.stopped_early,
            "counts": self.counts.to_dict(),
            "would_replay" if self.dry_run else "replayed_sample": self.preview,
        }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _preview_row(record: DlqRecord, republish: Republish) -> dict[str, Any]:
    row = record.to_dict()
    return {
        "partition": record.partition,
        "offset": record.offset,
        "reason": record.letter.reason,
        "origin": row["origin"],
        "to": republish.topic,
        "key": row["key"],
        "replay_count": record.letter.replay_count,
        "transformed": republish.value != record.value,
    }


class _Pacer:
    """At most ``rate_per_s`` sends per second over the run."""

    def __init__(self, rate_per_s: float | None) -> None:
        self._interval_s = 1.0 / rate_per_s if rate_per_s else 0.0
        self._next_s = time.monotonic()

    async def wait(self) -> None:
        if not self._interval_s:
            return
        delay_s = self._next_s - time.monotonic()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        self._next_s = max(self._next_s, time.monotonic() - self._interval_s) + self._interval_s


class _Run:
    """One replay run (dry or real): walks the snapshot, decides, publishes chunk by chunk."""

    def __init__(self, request: ReplayRequest, progress: Progress | None) -> None:
        self.request = request
        self.progress = progress
        self.report = ReplayReport(
            replay_id=str(uuid.uuid4()),
            group_id=request.group_id,
            dry_run=request.dry_run,
            target=request.to_topic,
        )
        self.producer: AIOKafkaProducer | None = None
        self.in_transaction = False
        self.existing: set[str] = set()
        self.pacer = _Pacer(request.rate_per_s)
        self.matched = 0  # records past the filters, for --limit
        self.to_replay = 0  # records decided for replay, for --max (counts are added per chunk)

    def _decide(self, record: DlqRecord) -> Decision:
        r = self.request
        try:
            return decide(
                record,
                r.filters,
                max_replays=r.max_replays,
                replay_id=self.report.replay_id,
                to_topic=r.to_topic,
                transform=r.transform,
            )
        except Exception as exc:  # user code: stop, with the position, before anything of the chunk
            raise StreamerError(
                f"--transform {r.transform_spec} failed on "
                f"{r.dlq_topic}[{record.partition}]@{record.offset}: {type(exc).__name__}: {exc}"
            ) from exc

    def _at_limit(self) -> bool:
        r = self.request
        if r.max_replayed is not None and self.to_replay >= r.max_replayed:
            return True
        return r.limit is not None and self.matched >= r.limit

    async def run(self) -> ReplayReport:
        r = self.request
        self.report.started_ms = _now_ms()
        self.existing = await existing_topics(r.bootstrap, r.security)
        if r.dlq_topic not in self.existing:
            raise TopicMissingError(r.dlq_topic)
        if r.to_topic is not None and r.to_topic not in self.existing:
            raise TopicMissingError(r.to_topic)
        if not r.dry_run and r.audit_topic not in self.existing:
            raise TopicMissingError(r.audit_topic)
        if not r.dry_run:
            await self._start_producer()
        try:
            await self._walk()
        except BaseException as exc:
            if self.producer is not None:
                await self._finish(status=f"failed: {type(exc).__name__}: {exc}")
            raise
        if self.producer is not None:
            await self._finish(
                status="stopped at --max/--limit" if self.report.stopped_early else "completed"
            )
        self.report.finished_ms = _now_ms()
        return self.report

    async def _start_producer(self) -> None:
        r = self.request
        producer = AIOKafkaProducer(
            bootstrap_servers=r.bootstrap,
            transactional_id=r.group_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=10,
            max_request_size=_MAX_REQUEST_BYTES,
            **aiokafka_options(r.security),
        )
        try:
            await producer.start()
            # Fence a killed earlier run with the same transactional id: its open transaction is
            # aborted before we read the group's committed offsets.
            await producer.begin_transaction()
            await producer.abort_transaction()
        except KafkaConnectionError as exc:
            await producer.stop()
            raise await connection_failure(r.bootstrap, r.security, exc) from None
        self.producer = producer

    async def _walk(self) -> None:
        r = self.request
        async with DlqReader(r.bootstrap, r.dlq_topic, r.security) as reader:
            committed = await committed_offsets(
                r.bootstrap, r.group_id, r.dlq_topic, reader.partitions, security=r.security
            )
            starts = {p: max(committed[p], r.filters.start_offset(p)) for p in reader.partitions}
            starts = {p: o for p, o in starts.items() if r.filters.wants_partition(p)}
            ends = await reader.end_offsets()
            self.report.pending = sum(max(0, ends[p] - o) for p, o in starts.items())
            done = 0
            async for batch in reader.batches(lambda p: starts.get(p, ends.get(p, 0)), ends):
                for chunk in self._chunks(batch):
                    processed = await self._chunk(chunk)
                    done += processed
                    if self.progress is not None:
                        self.progress(done, self.report.pending)
                    if processed < len(chunk):
                        self.report.stopped_early = True
                        return
                if self._at_limit():
                    self.report.stopped_early = done < self.report.pending
                    return

    def _chunks(self, batch: list[DlqRecord]) -> list[list[DlqRecord]]:
        size = _CHUNK_RECORDS
        if self.request.rate_per_s:
            size = max(1, min(size, int(self.request.rate_per_s * _CHUNK_SECONDS_AT_RATE)))
        return [batch[i : i + size] for i in range(0, len(batch), size)]

    async def _chunk(self, chunk: list[DlqRecord]) -> int:
        """Decide and (for a real run) publish + commit a chunk atomically. Returns how many
        records of the chunk were processed (fewer when a limit was reached)."""
        decided: list[tuple[DlqRecord, Decision]] = []
        for record in chunk:
            if self._at_limit():
                break
            decision = self._decide(record)
            if decision.outcome is not Outcome.FILTERED_OUT:
                self.matched += 1
            decided.append((record, decision))
            if decision.republish is not None:
                self.to_replay += 1
                self.report.targets.add(decision.republish.topic)
                if decision.republish.topic not in self.existing:
                    if not self.request.dry_run:
                        raise TopicMissingError(decision.republish.topic)
                    self.report.missing_targets.add(decision.republish.topic)
        if not decided:
            return 0
        if self.producer is not None:
            await self._publish(decided)
        for record, decision in decided:
            self.report.counts.add(record, decision)
            if decision.republish is not None and len(self.report.preview) < _PREVIEW_ROWS:
                self.report.preview.append(_preview_row(record, decision.republish))
        return len(decided)

    async def _publish(self, decided: list[tuple[DlqRecord, Decision]]) -> None:
        producer = self.producer
        assert producer is not None
        offsets: dict[TopicPartition, int] = {}
        for record, _ in decided:
            tp = TopicPartition(self.request.dlq_topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        try:
            await producer.begin_transaction()
            self.in_transaction = True
            futures = []
            for _, decision in decided:
                out = decision.republish
                if out is None:
                    continue
                await self.pacer.wait()
                futures.append(
                    await producer.send(
                        out.topic,
                        value=out.value,
                        key=out.key,
                        headers=out.headers,
                        timestamp_ms=out.timestamp_ms,
                    )
                )
            await asyncio.gather(*futures)
            await producer.send_offsets_to_transaction(offsets, self.request.group_id)
            await producer.commit_transaction()
            self.in_transaction = False
        except KafkaError as exc:
            await self._abort_quietly()
            raise BrokerError(
                f"replay transaction failed, nothing of this chunk was committed: {exc}"
            ) from exc

    async def _abort_quietly(self) -> None:
        producer = self.producer
        if producer is None:
            return
        self.in_transaction = False
        try:
            await producer.abort_transaction()
        except KafkaError as exc:
            log.warning("aborting the replay transaction failed: %s", exc)

    async def _finish(self, status: str) -> None:
        """Write the audit record in its own transaction and stop the producer."""
        producer, self.producer = self.producer, None
        assert producer is not None
        r = self.request
        self.report.finished_ms = _now_ms()
        user, host = who()
        entry = AuditEntry(
            replay_id=self.report.replay_id,
            user=user,
            host=host,
            started_ms=self.report.started_ms,
            finished_ms=self.report.finished_ms,
            dlq_topic=r.dlq_topic,
            group_id=r.group_id,
            filters=r.filters.identity(),
            target=r.to_topic,
            options=r.options(),
            counts=self.report.counts.to_dict(),
            status=status,
        )
        try:
            if self.in_transaction:
                self.in_transaction = False
                await producer.abort_transaction()
            await producer.begin_transaction()
            # Keyed by group: the runs of one replay stay in order on one partition.
            await producer.send(
                r.audit_topic, value=entry.to_bytes(), key=r.group_id.encode(), headers=[VERSION_HEADER]
            )
            await producer.commit_transaction()
        except KafkaError as exc:
            log.error("writing the audit record to %s failed: %s", r.audit_topic, exc)
        finally:
            await producer.stop()


async def run_replay(request: ReplayRequest, progress: Progress | None = None) -> ReplayReport:
    """Replay (or with ``dry_run`` only preview) the records ``request`` selects."""
    return await _Run(request, progress).run()
