"""The Faust layer: topics, the agent, the state table and the stale-feed timer, wired together.

Follow one message: ``raw.*`` bytes -> the offset guard (records in offset order, no holes) ->
:class:`BatchDelivery` (process, send every output and wait for the acks, persist the state changes to the
changelog and the table's RocksDB) -> the offsets are marked processed, and only those are ever committed.
Every use of Faust's private API is in :mod:`streamer.faust_boundary`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from streamer.delivery import BatchDelivery
from streamer.enrichment import STALE_CLOCKS, parse_window_specs
from streamer.errors import ConfigError
from streamer.faust_boundary import StreamerApp, TableState, committed_offset, seek
from streamer.kafka_security import aiokafka_options, faust_options
from streamer.metrics import PipelineMetrics
from streamer.offset_guard import OffsetGapGuard
from streamer.processor import InMessage, OutMessage, Processor
from streamer.sender import MAX_REQUEST_BYTES, BatchSender
from streamer.settings import Settings
from streamer.state.store import Change, StateStore
from streamer.topics import Kind

__all__ = ["ChangelogWriter", "create_app"]

log = logging.getLogger(__name__)

STATE_TABLE = "state"


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


class ChangelogWriter:
    """Persists a batch's state changes: to the table's changelog (acknowledged), then its RocksDB."""

    def __init__(self, sender: BatchSender, table: TableState) -> None:
        self._sender = sender
        self._table = table

    async def write(self, changes: dict[int, list[Change]]) -> None:
        topic = self._table.changelog_topic
        records = [
            OutMessage(topic, key, value, (), None, partition, outcome="state", partition=partition)
            for partition, entries in changes.items()
            for key, value in entries
        ]
        offsets = await self._sender.send_all(records)
        for partition, entries in changes.items():
            self._table.write(partition, entries, offsets[(topic, partition)])


def _check(settings: Settings) -> None:
    if settings.stale_clock not in STALE_CLOCKS:
        raise ConfigError(
            f"stale clock must be one of {', '.join(STALE_CLOCKS)}, got {settings.stale_clock!r}"
        )
    if settings.grace_ms < 0:
        raise ConfigError(f"grace must be >= 0 ms, got {settings.grace_ms}")


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the Faust app for ``settings``. No I/O happens until a worker starts it."""
    _check(settings)
    try:
        specs = parse_window_specs(settings.window_specs)
    except ValueError as exc:
        raise ConfigError(f"window specs {settings.window_specs!r}: {exc}") from None
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
    app.guard(topics.raw(kind) for kind in Kind)
    # Co-partitioned with the raw topics; written in bulk through TableState, never per key (see
    # streamer.state for the key layout). The App's ``rocksdb_options`` never reach the store; a Table's
    # ``options`` do, and the store pops its own keys out of the dict, so each table gets a fresh one.
    table = app.Table(
        STATE_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        options={
            "block_cache_size": settings.rocksdb_block_cache_bytes,
            "write_buffer_size": settings.rocksdb_write_buffer_bytes,
            "max_write_buffer_number": 2,
            "max_open_files": 256,
        },
    )
    table_state = TableState(table)
    store = StateStore(
        table_state.backend,
        series_capacity=settings.state_cache_series,
        pane_capacity=settings.state_cache_panes,
    )
    processor = Processor(
        topics=topics,
        policy=settings.policy,
        clock_ms=lambda: int(time.time() * 1000),
        store=store,
        window_specs=specs,
        grace_ms=settings.grace_ms,
        detectors_enabled=settings.detectors_enabled,
        stale_clock=settings.stale_clock,
    )
    sender = BatchSender(
        {"bootstrap_servers": settings.bootstrap, **aiokafka_options(settings.kafka_security)}, linger_ms=0
    )
    delivery = BatchDelivery(processor, sender, ChangelogWriter(sender, table_state))

    async def seek_to(tp: Any, offset: int) -> None:
        await seek(app, tp, offset)

    gap_guard = OffsetGapGuard(seek_to, lambda tp: committed_offset(app, tp))

    @app.timer(1.0)
    async def reseek_stuck_partitions() -> None:
        await gap_guard.reseek_stuck()

    def mark_processed(events: Sequence[Any]) -> None:
        next_offsets: dict[Any, int] = {}
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            next_offsets[tp] = max(offset + 1, next_offsets.get(tp, 0))
        for tp, offset in next_offsets.items():
            app.mark_processed(tp, offset)

    @app.agent(raw_topic, name="streamer.process")
    async def process(stream: Any) -> None:
        try:
            async for batch in stream.take_events(settings.batch_size, settings.batch_within_ms / 1000):
                events = await gap_guard.admit(list(batch))
                if not events:
                    continue
                started = time.perf_counter()
                result = await delivery.deliver([_in_message(event) for event in events])
                mark_processed(events)  # only now may these offsets be committed
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
        outputs = await delivery.tick()
        if outputs:
            metrics.observe_derived(outputs)

    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_keys()

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_keys()
        table_state.reset()
        gap_guard.reset()

    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)

    app.streamer_metrics = metrics  # type: ignore[attr-defined]
    app.streamer_processor = processor  # type: ignore[attr-defined]
    return app
