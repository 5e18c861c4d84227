"""The Faust layer: topics, the agent, the state table and the stale-feed timer, wired together.

Follow one message: ``raw.*`` bytes -> the offset guard (records in offset order, no holes) ->
:class:`BatchDelivery` (process, send every output and wait for the acks, persist the state changes to the
changelog and the table's RocksDB) -> the offsets are marked processed, and only those are ever committed.
Every use of Faust's private API is in :mod:`streamer.faust_boundary`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from aiohttp import web
from prometheus_client import CollectorRegistry

from streamer.changelog_restore import ChangelogRestore
from streamer.delivery import BatchDelivery, ExactlyOnceDelivery
from streamer.enrichment import STALE_CLOCKS, parse_window_specs
from streamer.errors import ConfigError, PartitionsLost
from streamer.failure import stop_worker_on_failure
from streamer.faust_boundary import (
    StreamerApp,
    TableState,
    assigned_partitions,
    committed_offset,
    recovery_state,
    seek,
)
from streamer.health import Health
from streamer.kafka_security import aiokafka_options, faust_options
from streamer.loop_watch import LoopWatch
from streamer.metrics import PipelineMetrics
from streamer.native_memory import release_free_memory
from streamer.offset_guard import OffsetGapGuard
from streamer.processor import InMessage, processor_for
from streamer.sender import MAX_REQUEST_BYTES, BatchSender
from streamer.settings import Settings
from streamer.state.rocksdb import RocksMemory
from streamer.state.store import Change, StateStore
from streamer.topics import Kind
from streamer.transactions import PartitionTransactions
from streamer.web.probes import add_probe_routes, probe_app
from streamer.windows.tracker import count_open_windows

__all__ = ["ChangelogWriter", "create_app"]

log = logging.getLogger(__name__)

STATE_TABLE = "state"


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def _in_message(record: Any) -> InMessage:
    """An aiokafka ``ConsumerRecord`` as the processor takes it."""
    return InMessage(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        record.headers or (),
        record.timestamp,
    )


class ChangelogWriter:
    """Persists a batch's state changes: to the table's changelog (acknowledged), then its RocksDB."""

    def __init__(self, sender: BatchSender, table: TableState) -> None:
        self._sender = sender
        self._table = table

    async def write(self, changes: dict[int, list[Change]]) -> None:
        offsets = await self._sender.send_entries(self._table.changelog_topic, changes)
        for partition, entries in changes.items():
            self._table.write(partition, entries, offsets[partition])


def _check(settings: Settings) -> None:
    if settings.stale_clock not in STALE_CLOCKS:
        raise ConfigError(
            f"stale clock must be one of {', '.join(STALE_CLOCKS)}, got {settings.stale_clock!r}"
        )
    if settings.grace_ms < 0:
        raise ConfigError(f"grace must be >= 0 ms, got {settings.grace_ms}")
    try:
        parse_window_specs(settings.window_specs)
    except ValueError as exc:
        raise ConfigError(f"window specs {settings.window_specs!r}: {exc}") from None


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """Build the Faust app for ``settings``. No I/O happens until a worker starts it."""
    _check(settings)
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
        broker_max_poll_records=settings.batch_size,
        web_enabled=False,
        **faust_options(settings.kafka_security),
    )
    exactly_once = settings.processing_guarantee == "exactly_once"
    registry = registry if registry is not None else CollectorRegistry()
    metrics = PipelineMetrics.create(registry)
    health = Health(stall_after_s=settings.stall_timeout_ms / 1000)
    raw_topic = app.topic(
        *[topics.raw(kind) for kind in Kind],
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )
    app.guard(topics.raw(kind) for kind in Kind)
    app.fetch_buffer_bytes = settings.fetch_buffer_bytes
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    # Co-partitioned with the raw topics; written in bulk through TableState, never per key (see
    # streamer.state for the key layout). Its partition DBs share one cache and one memtable budget.
    table = app.restoring_table(
        STATE_TABLE,
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        extra_topic_configs={"segment.bytes": str(settings.changelog_segment_bytes)},
    )
    table.rocksdb_memory = RocksMemory(
        block_cache_bytes=settings.rocksdb_block_cache_bytes,
        write_buffers_bytes=settings.rocksdb_write_buffer_bytes,
    )
    table_state = TableState(table)
    client_options = {"bootstrap_servers": settings.bootstrap, **aiokafka_options(settings.kafka_security)}
    table.bulk_restore = ChangelogRestore(client_options, table_state.write)
    store = StateStore(
        table_state.backend,
        series_capacity=settings.state_cache_series,
        pane_capacity=settings.state_cache_panes,
    )
    # Exactly once commits a batch's offsets in its transactions, so they cannot be held back while bars are
    # still to come (see Processor.closing_inputs): every closed window's bars go in its batch.
    processor = processor_for(settings, store, lambda: int(time.time() * 1000), spread_bars=not exactly_once)
    sender = BatchSender(client_options)
    transactions = PartitionTransactions(
        client_options,
        id_prefix=f"{settings.app_id}-tx",
        group_id=settings.app_id,
    )
    held_back: dict[tuple[str, int], int] = {}  # next offsets not marked yet: bars still to come

    def mark_processed(messages: Sequence[InMessage], closing: set[tuple[str, int]]) -> None:
        """At least once: ``messages``' state is persisted, so their offsets may be committed (``closing``:
        the raw partitions with bars still to come, as of their batch)."""
        next_offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            tp = (msg.topic, msg.partition)
            if msg.offset >= next_offsets.get(tp, 0):
                next_offsets[tp] = msg.offset + 1
        for tp, offset in next_offsets.items():
            if tp in closing:
                held_back[tp] = offset
                offset -= 1  # the last record comes again after a crash: see Processor.closing_inputs
            app.mark_processed(*tp, offset)
        for tp in [tp for tp in held_back if tp not in closing]:
            app.mark_processed(*tp, held_back.pop(tp))

    def persist_failed(exc: BaseException) -> None:
        if not app.should_stop:
            stop_worker_on_failure(exc)

    delivery: BatchDelivery | ExactlyOnceDelivery
    if exactly_once:
        delivery = ExactlyOnceDelivery(processor, transactions, table_state)
        app.changelogs_are_transactional(
            [table_state.changelog_topic],
            client_options,
        )
    else:
        delivery = BatchDelivery(
            processor,
            sender,
            ChangelogWriter(sender, table_state),
            on_durable=mark_processed,
            max_unsettled=settings.batch_size,  # what a crash publishes again stays within one batch
            on_failure=persist_failed,
        )
    producing: BatchSender | PartitionTransactions = transactions if exactly_once else sender

    async def seek_to(tp: tuple[str, int], offset: int) -> None:
        await seek(app, tp, offset)

    gap_guard = OffsetGapGuard(seek_to, lambda tp: committed_offset(app, tp))

    @app.timer(1.0)
    async def reseek_stuck_partitions() -> None:
        await gap_guard.reseek_stuck()

    newest_processed_ms: dict[tuple[str, int], int] = {}

    async def deliver(records: list[Any]) -> None:
        assigned = app.consumer.assignment()
        fenced = transactions.fenced  # exactly once: taken over by another worker, awaiting the rebalance
        messages = await gap_guard.admit(
            [
                _in_message(r)
                for r in records
                if (r.topic, r.partition) in assigned and r.partition not in fenced  # none of a revoked one
            ]
        )
        if not messages:
            return
        started = time.perf_counter()
        # At least once, the offsets are marked once the batch's state is persisted (mark_processed); exactly
        # once, they were committed in the batch's transactions.
        result = await delivery.deliver(messages)
        metrics.batch_seconds.observe(time.perf_counter() - started)
        metrics.observe_batch(messages, result, time.time())
        for msg in messages:
            if msg.timestamp_ms is not None:
                newest_processed_ms[(msg.topic, msg.partition)] = msg.timestamp_ms
        health.progressed({(msg.topic, msg.partition) for msg in messages})

    async def finish_closing() -> None:
        """A batch without records, for bars of closed windows still to be computed."""
        result = await delivery.deliver([])
        metrics.observe_outputs(result.derived, time.time())

    raw_batches = app.batch_raw_topics(
        max_records=settings.batch_size,
        settle=delivery.settle if isinstance(delivery, BatchDelivery) else None,
    )

    @app.agent(raw_topic, name="streamer.process")
    async def process(stream: Any) -> None:
        """Owns the raw topics; their records arrive a fetch at a time through ``raw_batches``, not through
        ``stream`` (see :mod:`streamer.faust_boundary`)."""
        try:
            while True:
                records = await raw_batches.get()
                try:
                    await deliver(records)
                    while processor.closing_inputs() and not raw_batches.waiting():  # the rest of the bars
                        await finish_closing()
                finally:
                    raw_batches.done()
        except Exception as exc:  # Faust would carry on without this agent: stop the worker instead
            if not app.should_stop:  # (not an error of a worker already stopping)
                stop_worker_on_failure(exc)
            raise
        finally:
            await sender.stop()
            await transactions.stop()

    @app.timer(interval=settings.stale_tick_ms / 1000)
    async def stale_feed_timer() -> None:
        """Absence of events is only seen by a clock: tick the stale-feed detectors."""
        outputs = await delivery.tick()
        if outputs:
            metrics.observe_outputs(outputs, time.time())

    retries_seen = 0
    stuck_after_s = settings.session_timeout_ms / 1000  # fenced, yet not reassigned by the group by then
    raw_topics = frozenset(topics.raw(kind) for kind in Kind)

    @app.timer(interval=1.0)
    async def observe_partitions() -> None:
        """Lag, stalls, sends, recovery: what /metrics, /healthz and /readyz report."""
        nonlocal retries_seen
        held = {partition for _, partition in assigned_partitions(app, raw_topics)}
        stuck = transactions.fenced_since(stuck_after_s) & held
        if stuck and not app.should_stop:  # taken over, yet still ours: let the group reassign them
            stop_worker_on_failure(
                PartitionsLost(
                    f"partitions {sorted(stuck)} were taken over by another worker but are still assigned "
                    f"here after {stuck_after_s:.0f} s (the session timeout)"
                )
            )
        lag: dict[tuple[str, int], int] = {}
        lag_s: dict[tuple[str, int], float] = {}
        queued = raw_batches.oldest_timestamps()
        now_ms = time.time() * 1000
        for tp in assigned_partitions(app, raw_topics):
            highwater = app.highwaters.get(tp)
            position = app.processed_offset(tp)
            if position is None:
                position = committed_offset(app, tp)
            lag[tp] = 0 if highwater is None or position is None else max(0, highwater - position)
            oldest = queued.get(tp) if lag[tp] else None
            if oldest is None and lag[tp]:
                oldest = newest_processed_ms.get(tp)  # the next record is at most this old
            lag_s[tp] = 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)
        health.lag(lag)
        health.sends(producing.failing_since)
        done, remaining = recovery_state(app)
        health.recovered(done)
        metrics.set_partitions(lag, lag_s, health.stalled())
        metrics.recovery_remaining.set(remaining)
        metrics.bars_pending.set(processor.pending_bar_count())
        metrics.send_retries.inc(producing.retries - retries_seen)
        retries_seen = producing.retries

    loop_watch = LoopWatch(
        stall_s=settings.loop_stall_ms / 1000,
        observe_lag=metrics.loop_lag.observe,
        count_stall=metrics.loop_stalls.inc,
    )

    @app.task
    async def watch_loop() -> None:
        await loop_watch.run()

    @app.timer(interval=10.0)
    async def observe_state() -> None:
        snapshots = processor.open_window_snapshots()  # counted in a thread: 25 ms for 2,000 series
        metrics.open_windows.set(await asyncio.to_thread(lambda: sum(map(count_open_windows, snapshots))))
        metrics.state_keys.set(table_state.estimate_keys())
        release_free_memory()  # a batch that closed every series' windows freed a lot at once

    @app.task
    async def serve_http() -> None:
        """/metrics, /healthz and /readyz (and the dashboard with --dashboard) on the worker's web port."""
        if settings.serve_dashboard:
            from streamer.web.dashboard import Dashboard, DashboardOptions

            options = DashboardOptions(
                host=settings.web_host,
                port=settings.web_port,
                client_options=aiokafka_options(settings.kafka_security),
                extra_routes=lambda web_app: add_probe_routes(
                    web_app, registry, health.liveness, health.readiness
                ),
            )
            async with Dashboard(settings.bootstrap, topics, options) as dashboard:
                log.info("serving /metrics, /healthz, /readyz and the dashboard at %s", dashboard.url)
                await asyncio.Event().wait()
        runner = web.AppRunner(probe_app(registry, health.liveness, health.readiness), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.web_host, settings.web_port)
            try:
                await site.start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve on {settings.web_host}:{settings.web_port} ({exc.strerror}); "
                    "give each worker on a host its own --web-port"
                ) from None
            host, port = runner.addresses[0][:2]
            log.info("serving /metrics, /healthz and /readyz on http://%s:%d/", host, port)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_keys()
        held_back.clear()  # their last records stay uncommitted: whoever owns them next consumes them again

    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_keys()
        gap_guard.reset()
        metrics.rebalances.inc()
        assigned = assigned_partitions(app, raw_topics)
        log.info("assigned raw partitions: %s", ", ".join(f"{t}[{p}]" for t, p in assigned) or "none")
        health.assigned(assigned)
        owned = {partition for _, partition in assigned}
        if exactly_once:
            await transactions.claim(owned)
        else:
            await transactions.release(owned)

    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_assigned)

    app.streamer_metrics = metrics  # type: ignore[attr-defined]
    app.streamer_health = health  # type: ignore[attr-defined]
    app.streamer_processor = processor  # type: ignore[attr-defined]
    return app
