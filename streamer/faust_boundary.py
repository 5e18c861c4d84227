"""Every touch of faust-streaming's (and, through it, aiokafka's) private API, behind named functions.

faust-streaming 0.15.3 needs three corrections for streamer's delivery guarantee, and the bulk state path
needs raw access to a table's RocksDB store (:class:`TableState`). All of it lives here, so that an upgrade
is checked in one place: :func:`check_faust` fails loudly when the installed version is not the pinned one
or a private name this module relies on has gone (``tests/unit/test_faust_boundary.py`` runs it).

The corrections:

1. **read_committed.** ``streamer dlq replay`` re-publishes in Kafka transactions; a replay killed mid-chunk
   leaves aborted records in the raw topics, which must never reach ``enriched``. Faust reads
   read_committed only in its exactly_once mode, so the worker's aiokafka consumer is switched here.
2. **Commit what was processed, not what was acked.** Faust acks (and would commit) messages its stream
   skips while flow control is stopped during a rebalance, and it builds the commit offset from a list of
   acked offsets plus "gaps" it fills in itself (``Consumer._new_offset``). After a restart that list held
   an offset twice (once from a gap, once from the re-read record); its run detection then stops at the
   repeat, so the committed offset advanced by one per commit while processing ran at full speed, and a
   second crash re-published everything since the first. For the raw topics the commit offset is instead
   the pipeline's own: the offset after the last record whose outputs the broker acknowledged and whose
   state was persisted (:meth:`StreamerApp.mark_processed`). Records reach the pipeline in offset order
   without holes (:class:`streamer.offset_guard.OffsetGapGuard`), so that offset is safe to commit.
3. **Raw records in batches.** Faust hands the agent one message at a time: its fetch loop starts two
   tasks and an ``asyncio.wait`` per message, then a channel queue and a stream step (67 us of CPU per
   message measured with an empty agent, more than the whole pipeline may spend). The fetch loop here hands
   each fetch of the raw topics to the pipeline agent as one list (:class:`RawBatches`); the agent still owns
   the raw topics' subscription, and a revocation waits for the batch in flight before Faust commits.
4. **Leave the group on a clean stop.** A worker has a static group membership (``group.instance.id``),
   so a restarted replica takes its partitions back at once instead of after the dead member's session
   timeout. aiokafka (like the Java client) never sends LeaveGroup for a static member; on SIGTERM the
   worker sends it here, so its partitions move to the other replicas without waiting either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest
from faust.stores import rocksdb as faust_rocksdb
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.futures import notify

from streamer.changelog_restore import ChangelogRestore
from streamer.errors import StreamerError
from streamer.settings import FETCH_BUFFER_BYTES, FETCH_MAX_WAIT_MS
from streamer.state.rocksdb import RocksBackend, RocksMemory, write_changes

__all__ = [
    "PINNED_FAUST",
    "FaustVersionError",
    "RawBatches",
    "RestoringTable",
    "StreamerApp",
    "TableState",
    "assigned_partitions",
    "check_faust",
    "committed_offset",
    "recovery_state",
    "seek",
    "transaction_failure",
]

log = logging.getLogger(__name__)

PINNED_FAUST = "0.15.3"

# (object, attribute) pairs this module reads, writes or overrides.
_RELIED_ON: tuple[tuple[Any, str], ...] = (
    (faust_rocksdb.Store, "_db_for_partition"),
    (faust_rocksdb.Store, "revoke_partitions"),
    (faust_rocksdb.Store, "offset_key"),
    (faust_consumer.Consumer, "_new_offset"),
    (faust_consumer.Consumer, "_add_gap"),
    (faust_consumer.Consumer, "_filter_tps_with_pending_acks"),
    (faust_consumer.Consumer, "on_partitions_revoked"),
    (faust_consumer.Consumer, "_drain_messages"),
    (faust_consumer.Consumer, "_wait_next_records"),
    (faust_consumer.Consumer, "wait_empty"),
    (faust_consumer.Consumer, "perform_seek"),
    (faust_consumer.Consumer, "highwaters"),
    (faust_consumer, "CONSUMER_FETCHING"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer"),
    (faust_aiokafka.AIOKafkaConsumerThread, "on_thread_stop"),
    (faust_aiokafka.AIOKafkaConsumerThread, "on_partitions_assigned"),
    (faust_aiokafka.Consumer, "_new_consumer_thread"),
    (faust.App, "_new_transport"),
    (faust.Table, "_new_store"),
    (faust_rocksdb.RocksDBOptions, "as_options"),
)
# Instance attributes Faust declares on its consumer class.
_CONSUMER_ATTRS = (
    "_committed_offset",
    "_unacked_messages",
    "_waiting_for_ack",
    "_read_offset",
    "_buffered_partitions",
)
# aiokafka instance attributes (set in its constructor; tests/unit/test_faust_boundary.py checks them).
AIOKAFKA_CONSUMER_ATTRS = (
    "_coordinator",
    "_isolation_level",
    "_group_instance_id",
    "_fetcher",
    "_fetch_max_wait_ms",
)
AIOKAFKA_FETCHER_ATTRS = ("_max_partition_fetch_bytes",)
AIOKAFKA_COORDINATOR_ATTRS = ("_send_req", "generation", "member_id", "group_id")
AIOKAFKA_PRODUCER_ATTRS = ("_txn_manager",)


class FaustVersionError(StreamerError):
    """The installed faust-streaming is not the one this module was checked against."""


def check_faust() -> None:
    """Raise :class:`FaustVersionError` unless the pinned Faust with every relied-on name is installed."""
    if faust.__version__ != PINNED_FAUST:
        raise FaustVersionError(
            f"streamer needs faust-streaming=={PINNED_FAUST} (its private API is patched in "
            f"streamer.faust_boundary), found {faust.__version__}"
        )
    missing = [f"{getattr(o, '__name__', o)}.{name}" for o, name in _RELIED_ON if not hasattr(o, name)]
    declared = faust_consumer.Consumer.__annotations__
    missing += [f"Consumer.{name}" for name in _CONSUMER_ATTRS if name not in declared]
    missing += [
        f"rocksdb.Store.{name}"
        for name in ("_dbs", "rocksdb_options")
        if name not in faust_rocksdb.Store.__annotations__
    ]
    if missing:
        raise FaustVersionError(f"faust-streaming {faust.__version__} lacks {', '.join(missing)}")


# -- a table's RocksDB, written in bulk -----------------------------------------------------------------


class TableState:
    """Raw bytes in and out of a Faust table's RocksDB partition DBs, bypassing its per-key API.

    Faust writes one changelog message per table write, through its own producer (8k-13k writes/s measured);
    the pipeline instead sends a batch's state changes to the changelog itself, in whole record batches, and
    then writes them here in one RocksDB write batch per partition together with the changelog offset they
    reached, which is where Faust's recovery resumes reading the changelog. Faust still owns the table:
    changelog topic, recovery on assignment, standby replicas.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._dbs: dict[int, RocksBackend] = {}

    @property
    def changelog_topic(self) -> str:
        name: str = self._table.changelog_topic.get_topic_name()
        return name

    def _store(self) -> Any:
        return self._table.data

    def backend(self, partition: int) -> RocksBackend:
        """The partition's current DB: a rebalance may have closed the one read before and reopened it."""
        store = self._store()
        db = store._db_for_partition(partition)  # noqa: SLF001
        backend = self._dbs.get(partition)
        if backend is None or not backend.reads(db):
            backend = self._dbs[partition] = RocksBackend(db, store.offset_key)
        return backend

    def estimate_keys(self) -> int:
        """RocksDB's estimate of the entries in the open partition DBs."""
        total = 0
        for db in list(self._store()._dbs.values()):  # noqa: SLF001
            total += int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
        return total

    def write(
        self, partition: int, changes: Iterable[tuple[bytes, bytes | None]], changelog_offset: int
    ) -> None:
        store = self._store()
        offset = (store.offset_key, str(changelog_offset).encode())
        write_changes(store._db_for_partition(partition), changes, [offset])  # noqa: SLF001


class _SharedMemoryOptions(faust_rocksdb.RocksDBOptions):
    """Faust's per-DB options, replaced by ones that share one :class:`RocksMemory` across partition DBs."""

    def __init__(self, memory: RocksMemory) -> None:
        super().__init__(use_rocksdict=True)
        self.memory = memory

    def as_options(self) -> Any:
        return self.memory.options()


class _ClosingStore(faust_rocksdb.Store):
    """Faust's RocksDB store, closing the DB of a revoked partition itself.

    Faust only drops its own reference (its ``close()`` call is commented out) and leaves the rest to the
    garbage collector. Any reference still alive then keeps the DB's file lock, and when the partition is
    assigned to this process again the reopen fails with "lock hold by current process": a chaos run's
    worker crashed that way a few seconds after a restart, in a burst of rebalances. Anything that still
    holds the closed DB gets ``DbClosedError`` instead of a stale view; :class:`TableState` looks the DB
    up again."""

    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                db = self._dbs.pop(tp.partition, None)
                if db is not None:
                    log.info("closing the state DB of revoked partition %d", tp.partition)
                    db.close()
        super().revoke_partitions(table, tps)  # (nothing left to drop; Faust's garbage collection)


class RestoringTable(faust.Table):
    """A table whose newly assigned active partitions catch up from the changelog in bulk
    (:mod:`streamer.changelog_restore`) once their DBs are open, before Faust's recovery reads the persisted
    offsets. Standby partitions are left to Faust, which follows them continuously anyway.

    With ``rocksdb_memory`` set, its partition DBs (active and standby) share that cache and memtable budget
    instead of each getting its own."""

    bulk_restore: ChangelogRestore | None = None
    rocksdb_memory: RocksMemory | None = None

    def _new_store(self) -> Any:
        store: Any = super()._new_store()
        if type(store) is faust_rocksdb.Store:
            store.__class__ = _ClosingStore  # (Faust builds its store from a URL scheme, not a class)
        if self.rocksdb_memory is not None:
            store.rocksdb_options = _SharedMemoryOptions(self.rocksdb_memory)
        return store

    async def on_rebalance(
        self, assigned: set[Any], revoked: set[Any], newly_assigned: set[Any], generation_id: int = 0
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        restore, app = self.bulk_restore, self.app
        if restore is None:
            return
        topic = self.changelog_topic.get_topic_name()
        standbys = app.assignor.assigned_standbys()
        mine = [tp for tp in newly_assigned if tp.topic == topic and tp not in standbys]
        if not mine:
            return
        store = self.data
        persisted = {tp.partition: store.persisted_offset(tp) for tp in mine}
        try:
            await restore.run(
                topic,
                persisted,
                lambda: not app.should_stop and app.consumer_generation_id == generation_id,
            )
        except (KafkaError, OSError) as exc:
            log.warning("bulk restore of %s stopped (%r); Faust's recovery reads the rest", topic, exc)


# -- offsets -------------------------------------------------------------------------------------------


def recovery_state(app: faust.App) -> tuple[bool, int]:
    """(whether the tables' changelog recovery has finished, changelog records still to restore)."""
    tables: Any = app.tables
    recovery = tables.recovery
    return recovery.completed.is_set() and not recovery.in_recovery, int(recovery.active_remaining_total())


def assigned_partitions(app: faust.App, topics: frozenset[str]) -> list[tuple[str, int]]:
    """The assigned partitions of ``topics``."""
    return sorted((tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in topics)


def committed_offset(app: faust.App, tp: tuple[str, int]) -> int | None:
    """The offset the group had committed for ``tp`` when it was assigned (or last committed since)."""
    consumer: Any = app.consumer
    committed = consumer._committed_offset.get(tp)  # noqa: SLF001
    return committed if isinstance(committed, int) and committed >= 0 else None


async def seek(app: faust.App, tp: tuple[str, int], offset: int) -> None:
    await app.consumer.seek(TP(*tp), offset)


# -- the worker's consumer -----------------------------------------------------------------------------


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"  # noqa: SLF001
        app = self.app
        if isinstance(app, StreamerApp):  # Faust fixes it at 1500 ms (see StreamerApp.fetch_max_wait_ms)
            consumer._fetch_max_wait_ms = app.fetch_max_wait_ms  # noqa: SLF001
        return consumer

    async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0) -> None:
        app = self.app
        if isinstance(app, StreamerApp) and self._consumer is not None:
            inputs = sum(1 for tp in assigned if tp.topic in app.guarded_topics)
            per_partition = partition_fetch_bytes(app.fetch_buffer_bytes, inputs)
            self._consumer._fetcher._max_partition_fetch_bytes = per_partition  # noqa: SLF001
            log.info("fetching up to %d bytes per input partition (%d assigned)", per_partition, inputs)
        await super().on_partitions_assigned(assigned, generation_id)

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        if consumer is not None and consumer._group_instance_id is not None:  # noqa: SLF001
            await _leave_group(consumer)
        await super().on_thread_stop()


MIN_PARTITION_FETCH_BYTES = 1024 * 1024
MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024


def partition_fetch_bytes(budget: int, partitions: int) -> int:
    """Per-partition fetch size that keeps the fetched, unprocessed input records of ``partitions`` within
    ``budget`` bytes.

    aiokafka holds up to one fetch per assigned partition until the worker has used it, so the worker's fetch
    memory is the per-partition size times the partitions it owns. Clamped to 1-8 MiB: below 1 MiB the worker
    waits on the broker (the fetcher refetches a partition only once its buffer is empty), and 8 MiB is as
    much as one fetch needs to keep a worker busy.
    """
    if partitions <= 0:
        return MAX_PARTITION_FETCH_BYTES
    return max(MIN_PARTITION_FETCH_BYTES, min(MAX_PARTITION_FETCH_BYTES, budget // partitions))


async def _leave_group(consumer: AIOKafkaConsumer) -> None:
    """Send LeaveGroup for a static member, which aiokafka leaves to the session timeout."""
    coordinator = consumer._coordinator  # noqa: SLF001
    if coordinator is None or not coordinator.member_id:  # never joined: nothing to leave
        return
    try:
        await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))  # noqa: SLF001
    except KafkaError as exc:
        log.warning("leaving the group failed (%r); its partitions move after the session timeout", exc)
    else:
        log.info("left consumer group %s as %s", coordinator.group_id, consumer._group_instance_id)  # noqa: SLF001


class RawBatches:
    """Fetched raw records, from the consumer's fetch loop to the pipeline agent.

    Bounded (the fetch loop waits when the agent is behind). :meth:`get` hands over every queued fetch at
    once, up to ``max_records``: under a steady feed each fetch holds a few milliseconds of records, and
    taking them one at a time kept a standing queue of fetches that the agent never caught up with (at half
    load records waited 35-45 ms in it before any work, and every slower batch added to that for good).
    :meth:`quiesce` drops what is queued and waits for the batch in flight, and for the state of delivered
    batches to be persisted (``settle``): a rebalance must not commit, or move a partition, while its records
    are being delivered or its state written, and records queued before it are fetched again from the
    committed offsets after it.
    """

    def __init__(
        self,
        maxsize: int = 2,
        max_records: int | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._maxsize = maxsize
        self._max_records = max_records
        self._settle = settle
        self._items: deque[tuple[int, list[Any]]] = deque()
        self._changed = asyncio.Condition()
        self._generation = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def put(self, records: list[Any]) -> None:
        async with self._changed:
            generation = self._generation
            await self._changed.wait_for(lambda: len(self._items) < self._maxsize)
            self._items.append((generation, records))
            self._changed.notify_all()

    async def get(self) -> list[Any]:
        """The queued fetches of the current generation, in order, as one batch of at most ``max_records``
        (or one whole fetch); the caller then owns it until :meth:`done`."""
        async with self._changed:
            while True:
                await self._changed.wait_for(lambda: bool(self._items))
                generation, records = self._items.popleft()
                if generation != self._generation:
                    self._changed.notify_all()
                    continue
                items, limit = self._items, self._max_records
                while (
                    items
                    and items[0][0] == generation
                    and (limit is None or len(records) + len(items[0][1]) <= limit)
                ):
                    records = records + items.popleft()[1]
                self._changed.notify_all()
                self._idle.clear()
                return records

    def done(self) -> None:
        self._idle.set()

    def waiting(self) -> bool:
        """Whether a batch of the current generation is queued."""
        return any(generation == self._generation for generation, _ in self._items)

    async def quiesce(self) -> None:
        async with self._changed:
            self._generation += 1
            self._items.clear()
            self._changed.notify_all()
        await self._idle.wait()
        if self._settle is not None:  # and for the state of the batches delivered to be persisted
            await self._settle()

    def oldest_timestamps(self) -> dict[tuple[str, int], int]:
        """Per topic-partition, the Kafka timestamp (ms) of the oldest record fetched and still queued."""
        oldest: dict[tuple[str, int], int] = {}
        for _generation, records in self._items:
            for record in records:
                tp = (record.topic, record.partition)
                if tp not in oldest or record.timestamp < oldest[tp]:
                    oldest[tp] = record.timestamp
        return oldest


class _ProcessedOffsetsConsumer(faust_aiokafka.Consumer):
    """Commits guarded topics at the pipeline's processed offsets; everything else as Faust does."""

    def _guarded(self, topic: str) -> bool:
        app = self.app
        return isinstance(app, StreamerApp) and topic in app.guarded_topics

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        if not self._guarded(message.topic):
            return bool(super().ack(message))
        # Bookkeeping only: that Faust is done with the message says nothing about its outputs.
        if not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
        return False

    def _new_offset(self, tp: Any) -> int | None:
        if not self._guarded(tp.topic):
            offset: int | None = super()._new_offset(tp)
            return offset
        app = self.app
        assert isinstance(app, StreamerApp)
        processed = app.processed_offset(tp)
        committed = self._committed_offset[tp]
        if processed is None or (committed is not None and processed <= committed):
            return None
        return processed

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[Any]:
        app = self.app
        own = app.processed_tps() if isinstance(app, StreamerApp) else ()
        wanted = set(super()._filter_tps_with_pending_acks(topics))
        wanted.update(tp for tp in own if topics is None or tp in topics or tp.topic in topics)
        return iter(wanted)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        if not self._guarded(tp.topic):  # a guarded partition never commits an offset it did not process
            await super()._add_gap(tp, offset_from, offset_to)

    async def wait_empty(self) -> None:
        """Revocation and shutdown: let the pipeline finish its batch before Faust commits."""
        app = self.app
        if isinstance(app, StreamerApp) and app.raw_batches is not None:
            await app.raw_batches.quiesce()
        await super().wait_empty()

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, except that each fetch of the guarded topics goes to the pipeline as one list
        of aiokafka records, instead of message by message through Faust's conductor and streams."""
        app = self.app
        if not isinstance(app, StreamerApp) or app.raw_batches is None:
            await super()._drain_messages(fetcher)
            return
        batches, guarded = app.raw_batches, app.guarded_topics
        # Faust's event-path check logs "Stream has not started processing" for a partition whose stream
        # never took a record while its highwater is ahead (any backlog after 5 minutes): the guarded
        # topics' records bypass the streams, so their hand-over is recorded here instead.
        inbound = app.monitor.stream_inbound_time
        set_read_offset = self._read_offset.__setitem__
        stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set  # noqa: SLF001
        try:
            while not (stopped() or fetcher_stopped()):
                self.diag.set_flag(faust_consumer.CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)
                if records is None or self.should_stop:
                    continue
                if not self.flow_active:  # a rebalance: these come again from the committed offsets
                    await self.perform_seek()
                    continue
                batch: list[Any] = []
                for tp, fetched in records.items():
                    if not fetched or not (active is None or tp in active or tp in self._buffered_partitions):
                        continue
                    app.track_highwater(tp, self.highwater(tp))
                    if tp.topic in guarded:
                        batch.extend(fetched)
                        inbound[tp] = time.monotonic()
                    else:
                        for record in fetched:
                            message = self._to_message(tp, record)
                            await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    set_read_offset(tp, fetched[-1].offset)
                if batch:
                    await batches.put(batch)
                self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def highwaters(self, *partitions: Any) -> Any:
        """Faust's changelog recovery waits until it has read the record just before each partition's end
        offset. A transactional changelog (exactly-once mode) ends in a commit marker that is never
        delivered, and recovery would wait forever: report the end as just after the last data record."""
        ends = await super().highwaters(*partitions)
        app = self.app
        if not isinstance(app, StreamerApp) or app.transactional_changelogs is None:
            return ends
        probe = [tp for tp in partitions if tp.topic in app.transactional_changelogs]
        if not probe:
            return ends
        return {**ends, **(await _ends_after_last_record(app.client_options, probe, ends))}

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        await super().on_partitions_revoked(revoked)  # commits what was processed, then forgets
        app = self.app
        if isinstance(app, StreamerApp):
            app.forget_processed(revoked)


async def _ends_after_last_record(
    options: dict[str, Any], partitions: list[Any], ends: Mapping[Any, int | None]
) -> dict[Any, int]:
    """Per partition, the offset after its last committed data record (read_committed), or its start."""
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    out: dict[Any, int] = {}
    try:
        tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp, faust_tp in zip(tps, partitions, strict=True):
            end = ends.get(faust_tp)
            if end is None:
                continue
            window = 64
            last = -1
            while last < 0:
                first = max(starts[tp], end - window)
                consumer.seek(tp, first)
                while await consumer.position(tp) < end:
                    fetched = await consumer.getmany(tp, timeout_ms=1000)
                    if not fetched:  # nothing more below the last stable offset
                        break
                    last = max([last, *(r.offset for r in fetched.get(tp, []))])
                if first <= starts[tp]:
                    break
                window *= 16
            out[faust_tp] = last + 1 if last >= 0 else starts[tp]
    finally:
        await consumer.stop()
    return out


class _Transport(faust_aiokafka.Transport):
    Consumer = _ProcessedOffsetsConsumer


class StreamerApp(faust.App):
    """A Faust app whose consumer reads committed records and commits processed offsets only."""

    guarded_topics: frozenset[str] = frozenset()
    # Fetched and not yet processed records of the guarded topics, in bytes (see partition_fetch_bytes).
    fetch_buffer_bytes: int = FETCH_BUFFER_BYTES
    # How long the broker may hold a fetch that finds no new records. aiokafka keeps one fetch per broker
    # in flight and leaves out the partitions it still has records of, so a fetch of only idle partitions
    # (gas, a partition read to its end) holds back the next fetch of the busy ones until it returns.
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_faust()
        super().__init__(*args, **kwargs)
        self._processed: dict[Any, int] = {}
        self.raw_batches: RawBatches | None = None
        self.highwaters: dict[Any, int] = {}
        self.transactional_changelogs: frozenset[str] | None = None
        self.client_options: dict[str, Any] = {}

    def changelogs_are_transactional(self, topics: Iterable[str], client_options: dict[str, Any]) -> None:
        """Exactly-once mode writes the changelogs in transactions: let recovery find their true end."""
        self.transactional_changelogs = frozenset(topics)
        self.client_options = client_options

    def restoring_table(self, name: str, **kwargs: Any) -> RestoringTable:
        """As ``App.Table``, of the class that restores in bulk (give it a ``bulk_restore``)."""
        table = RestoringTable(self, name=name, beacon=self.tables.beacon, **kwargs)
        self.tables.add(table)
        return table

    def batch_raw_topics(
        self,
        maxsize: int = 2,
        max_records: int | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> RawBatches:
        """Deliver the guarded topics' records to the pipeline in batches of at most ``max_records`` (or one
        fetch) each (see the module docstring); ``settle`` returns once what was delivered is persisted."""
        self.raw_batches = RawBatches(maxsize, max_records, settle)
        return self.raw_batches

    def track_highwater(self, tp: Any, offset: int | None) -> None:
        if offset is not None:
            self.highwaters[tp] = offset

    def guard(self, topics: Iterable[str]) -> None:
        """Commit offsets of these topics only up to :meth:`mark_processed`."""
        self.guarded_topics = frozenset(topics)

    def mark_processed(self, topic: str, partition: int, next_offset: int) -> None:
        """Every record of the partition before ``next_offset`` has been delivered: it may be committed."""
        tp = TP(topic, partition)
        if next_offset > self._processed.get(tp, -1):
            self._processed[tp] = next_offset

    def processed_offset(self, tp: Any) -> int | None:
        return self._processed.get(tp)

    def processed_tps(self) -> list[Any]:
        return list(self._processed)

    def forget_processed(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self._processed.pop(tp, None)
            self.highwaters.pop(tp, None)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


# -- aiokafka's transactions ---------------------------------------------------------------------------


def transaction_failure(producer: Any) -> BaseException | None:
    """Why ``producer``'s open transaction failed, or None if it has not.

    When the producer's background sender fails (a fence it learns of while adding a partition to the
    transaction, say), aiokafka moves the transaction to an error state and the next send raises only
    ``IllegalOperation("Can't send messages while not in transaction")``; the cause is kept on the
    transaction's end future, read here."""
    waiter = producer._txn_manager.wait_for_transaction_end()  # noqa: SLF001
    if waiter is None or not waiter.done() or waiter.cancelled():
        return None
    failure: BaseException | None = waiter.exception()
    return failure
