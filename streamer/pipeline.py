"""The Faust layer: the one place that imports faust. Raw topics in; enriched and DLQ out.

Follow one message: ``raw.*`` bytes -> :meth:`Processor.process` (validation, revisions,
enrichment, dead-lettering) -> sent here with our own idempotent producer -> once the broker has
acknowledged every output of the batch, the batch's input events are acked, and only acked offsets
are ever committed by Faust. A crash at any point before that re-delivers the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust import streams as faust_streams
from prometheus_client import CollectorRegistry

from streamer.enrichment import STALE_CLOCKS, parse_window_specs
from streamer.errors import ConfigError
from streamer.metrics import PipelineMetrics
from streamer.processor import InMessage, OutMessage, Processor
from streamer.revisions import RevisionTracker
from streamer.settings import Settings
from streamer.topics import Kind
from streamer.worker_consumer import OffsetGapGuard, StreamerApp

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_MAX_REQUEST_BYTES = 8 * 1024 * 1024
_SEND_RETRY_S = 1.0


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def _in_message(event: Any) -> InMessage:
    message = event.message
    timestamp = message.timestamp
    return InMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=list(message.headers or ()),
        timestamp_ms=round(timestamp * 1000) if timestamp is not None else None,
    )


class OutputSender:
    """Our own producer: exact ms timestamps, raw headers, and delivery futures we can await."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=self._settings.producer_linger_ms,
                max_request_size=_MAX_REQUEST_BYTES,
                max_batch_size=256 * 1024,
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def send_all(self, outputs: Sequence[OutMessage]) -> None:
        """Return only once the broker acknowledged every output; retry failed sends forever.

        Giving up would ack (and later commit) inputs whose outputs were never written.
        """
        pending = list(outputs)
        while pending:
            producer = await self._started()
            futures = [
                await producer.send(
                    out.topic,
                    value=out.value,
                    key=out.key,
                    headers=list(out.headers),
                    timestamp_ms=out.timestamp_ms,
                )
                for out in pending
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [
                out for out, res in zip(pending, results, strict=True) if isinstance(res, BaseException)
            ]
            if failed:
                first = next(res for res in results if isinstance(res, BaseException))
                log.warning("%d of %d sends failed (%r); retrying", len(failed), len(pending), first)
                await asyncio.sleep(_SEND_RETRY_S)
            pending = failed

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the Faust app for ``settings``. No I/O happens until a worker starts it."""
    topics = settings.topics
    app = StreamerApp(
        settings.app_id,
        broker=_broker_urls(settings.bootstrap),
        store="rocksdb://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        producer_linger_ms=settings.producer_linger_ms,
        producer_max_request_size=_MAX_REQUEST_BYTES,
        consumer_max_fetch_size=_MAX_REQUEST_BYTES,
        web_enabled=False,
    )
    metrics = PipelineMetrics.create(registry if registry is not None else CollectorRegistry())
    raw_topic = app.topic(
        *[topics.raw(kind) for kind in Kind],
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    app.guard(frozenset(topics.raw(kind) for kind in Kind))
    # Co-partitioned with the raw topics: "kind/series key" -> revisions, open windows and detector state of
    # the series (one entry, so they are written together); "__partition__/kind/N" -> watermark and keys.
    # The App's ``rocksdb_options`` never reach the store (its OPTIONS files showed Faust's defaults: 64 MiB
    # write buffers x3, 18000 open files, 2 GiB cache per partition DB); a Table's ``options`` do. The store
    # pops its own keys out of the dict it is given, so each table gets a fresh one.
    series_table = app.Table(
        "series",
        default=None,
        key_type=str,
        value_type=bytes,
        partitions=settings.partitions,
        options={
            "block_cache_size": settings.rocksdb_block_cache_bytes,
            "write_buffer_size": settings.rocksdb_write_buffer_bytes,
            "max_write_buffer_number": 2,
            "max_open_files": 256,
        },
    )

    def load_series(key: str) -> bytes | None:
        """Read an entry whatever partition it is on.

        Faust's RocksDB store reads only the current event's partition DB when there is a current
        event, and the event current in this task may be of another partition than the key's: after a
        restart or rebalance such a key would read as missing and start from empty state. With no
        current event the store looks the key up in every partition DB. Only the context variable is
        cleared; ``stream.current_event``, which take_events relies on, is left alone.
        """
        token = faust_streams._current_event.set(None)
        try:
            value = series_table.get(key)
        finally:
            faust_streams._current_event.reset(token)
        return value if isinstance(value, bytes) else None

    try:
        specs = parse_window_specs(settings.window_specs)
    except ValueError as exc:
        raise ConfigError(f"window specs {settings.window_specs!r}: {exc}") from None
    if settings.stale_clock not in STALE_CLOCKS:
        raise ConfigError(
            f"stale clock must be one of {', '.join(STALE_CLOCKS)}, got {settings.stale_clock!r}"
        )
    if settings.grace_ms < 0:
        raise ConfigError(f"grace must be >= 0 ms, got {settings.grace_ms}")
    processor = Processor(
        topics=topics,
        policy=settings.policy,
        clock_ms=lambda: int(time.time() * 1000),
        revisions=RevisionTracker(),
        load_state=load_series,
        window_specs=specs,
        grace_ms=settings.grace_ms,
        detectors_enabled=settings.detectors_enabled,
        stale_clock=settings.stale_clock,
    )
    sender = OutputSender(settings)

    def persist_state(stream: Any, events: Sequence[Any]) -> None:
        """Write each changed entry once per batch.

        Faust tables find a key's RocksDB and changelog partition from the stream's current event,
        so it is set to an event of the partition the entry belongs to. Entries of partitions without
        an event in this batch (changed by the timer) wait for a batch that has one.
        """
        event_of_partition = {event.message.partition: event for event in events}
        # take_events' buffering step may be parked (waiting for this batch to be consumed) holding a
        # new message whose event it reads from ``stream.current_event`` when it resumes: restore it, or
        # that message is lost and an old event of this batch is processed twice.
        current = stream.current_event
        try:
            for key, partition, state in processor.take_dirty_state(event_of_partition.keys()):
                stream._set_current_event(event_of_partition[partition])
                series_table[key] = state
        finally:
            stream._set_current_event(current)

    gap_guard = OffsetGapGuard(app)

    @app.timer(1.0)
    async def reseek_stuck_partitions() -> None:
        await gap_guard.reseek_stuck()

    @app.agent(raw_topic, name="streamer.process")
    async def process(stream: Any) -> None:
        try:
            async for batch in stream.take_events(settings.batch_size, settings.batch_within_ms / 1000):
                events = await gap_guard.admit(list(batch))
                if not events:
                    continue
                started = time.perf_counter()
                result = processor.process([_in_message(event) for event in events])
                await sender.send_all(result.outputs)
                persist_state(stream, events)
                for event in events:  # only now may take_events' acks commit these offsets
                    app.mark_processed(event.message.topic, event.message.partition, event.message.offset)
                done_s = time.time()
                metrics.batch_seconds.observe(time.perf_counter() - started)
                metrics.observe_outcomes(
                    [
                        (event.message.topic, out.outcome)
                        for event, out in zip(events, result.primary, strict=True)
                    ]
                )
                metrics.observe_derived(result.derived)
                metrics.open_windows.set(processor.open_window_count())
                for event in events:
                    if event.message.timestamp:
                        metrics.end_to_end_seconds.observe(max(0.0, done_s - event.message.timestamp))
        finally:
            await sender.stop()

    @app.timer(interval=settings.stale_tick_ms / 1000)
    async def stale_feed_timer() -> None:
        """Absence of events is only seen by a clock: tick the stale-feed detectors."""
        outputs = processor.tick()
        if outputs:
            await sender.send_all(outputs)
            metrics.observe_derived(outputs)

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_keys()
        gap_guard.reset()

    app.on_partitions_assigned.connect(on_assigned)

    app.streamer_metrics = metrics  # type: ignore[attr-defined]
    app.streamer_processor = processor  # type: ignore[attr-defined]
    return app
