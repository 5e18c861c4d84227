"""The Faust layer: the one place that imports faust. Raw topics in; enriched and DLQ out.

Follow one message: ``raw.*`` bytes -> :meth:`Processor.process` (validation, revisions,
enrichment, dead-lettering) -> sent here with our own idempotent producer -> once the broker has
acknowledged every output of the batch, the batch's input events are acked, and only acked offsets
are ever committed by Faust. A crash at any point before that re-delivers the batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from streamer.enrichment import STALE_CLOCKS, parse_window_specs
from streamer.errors import ConfigError
from streamer.faust_boundary import StreamerApp, committed_offset, no_current_event, seek, set_current_event
from streamer.kafka_security import aiokafka_options, faust_options
from streamer.metrics import PipelineMetrics
from streamer.offset_guard import OffsetGapGuard
from streamer.processor import InMessage, Processor
from streamer.revisions import RevisionTracker
from streamer.sender import MAX_REQUEST_BYTES, BatchSender
from streamer.settings import Settings
from streamer.topics import Kind

__all__ = ["create_app"]

log = logging.getLogger(__name__)


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
        broker_commit_interval=settings.commit_interval_ms / 1000,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        consumer_group_instance_id=settings.group_instance_id,
        producer_linger_ms=settings.producer_linger_ms,
        producer_max_request_size=MAX_REQUEST_BYTES,
        consumer_max_fetch_size=MAX_REQUEST_BYTES,
        web_enabled=False,
        **faust_options(settings.kafka_security),
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
        with no_current_event():
            value = series_table.get(key)
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
    sender = BatchSender(
        {"bootstrap_servers": settings.bootstrap, **aiokafka_options(settings.kafka_security)},
        settings.producer_linger_ms,
    )

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
                set_current_event(stream, event_of_partition[partition])
                series_table[key] = state
        finally:
            set_current_event(stream, current)

    async def seek_to(tp: Any, offset: int) -> None:
        await seek(app, tp, offset)

    gap_guard = OffsetGapGuard(seek_to, lambda tp: committed_offset(app, tp))

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
                processed = time.perf_counter()
                await sender.send_all(result.outputs)
                sent = time.perf_counter()
                persist_state(stream, events)
                log.debug(
                    "batch of %d: processed in %.1f ms, %d outputs acked in %.1f ms, persisted in %.1f ms",
                    len(events),
                    (processed - started) * 1000,
                    len(result.outputs),
                    (sent - processed) * 1000,
                    (time.perf_counter() - sent) * 1000,
                )
                next_offsets: dict[Any, int] = {}
                for event in events:  # only now may these offsets be committed
                    tp, offset = event.message.tp, event.message.offset
                    next_offsets[tp] = max(offset + 1, next_offsets.get(tp, 0))
                for tp, offset in next_offsets.items():
                    app.mark_processed(tp, offset)
                done_s = time.time()
                metrics.batch_seconds.observe(time.perf_counter() - started)
                metrics.observe_outcomes([(out.source_topic, out.outcome) for out in result.primary])
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
