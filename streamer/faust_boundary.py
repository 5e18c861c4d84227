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
3. **Leave the group on a clean stop.** A worker has a static group membership (``group.instance.id``),
   so a restarted replica takes its partitions back at once instead of after the dead member's session
   timeout. aiokafka (like the Java client) never sends LeaveGroup for a static member; on SIGTERM the
   worker sends it here, so its partitions move to the other replicas without waiting either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest
from faust.stores import rocksdb as faust_rocksdb
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.futures import notify

from streamer.errors import StreamerError
from streamer.state.rocksdb import RocksBackend, write_changes

__all__ = [
    "PINNED_FAUST",
    "FaustVersionError",
    "StreamerApp",
    "TableState",
    "check_faust",
    "committed_offset",
    "seek",
]

log = logging.getLogger(__name__)

PINNED_FAUST = "0.15.3"

# (object, attribute) pairs this module reads, writes or overrides.
_RELIED_ON: tuple[tuple[Any, str], ...] = (
    (faust_rocksdb.Store, "_db_for_partition"),
    (faust_rocksdb.Store, "offset_key"),
    (faust_consumer.Consumer, "_new_offset"),
    (faust_consumer.Consumer, "_add_gap"),
    (faust_consumer.Consumer, "_filter_tps_with_pending_acks"),
    (faust_consumer.Consumer, "on_partitions_revoked"),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer"),
    (faust_aiokafka.AIOKafkaConsumerThread, "on_thread_stop"),
    (faust_aiokafka.Consumer, "_new_consumer_thread"),
    (faust.App, "_new_transport"),
)
# Instance attributes Faust declares on its consumer class.
_CONSUMER_ATTRS = ("_committed_offset", "_unacked_messages", "_waiting_for_ack")
# aiokafka instance attributes (set in its constructor; tests/unit/test_faust_boundary.py checks them).
AIOKAFKA_CONSUMER_ATTRS = ("_coordinator", "_isolation_level", "_group_instance_id")
AIOKAFKA_COORDINATOR_ATTRS = ("_send_req", "generation", "member_id", "group_id")


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
        db = self._dbs.get(partition)
        if db is None:
            store = self._store()
            db = self._dbs[partition] = RocksBackend(store._db_for_partition(partition), store.offset_key)
        return db

    def reset(self) -> None:
        """After a rebalance Faust closes and reopens partition DBs: look them up again."""
        self._dbs.clear()

    def write(
        self, partition: int, changes: Iterable[tuple[bytes, bytes | None]], changelog_offset: int
    ) -> None:
        store = self._store()
        offset = (store.offset_key, str(changelog_offset).encode())
        write_changes(store._db_for_partition(partition), changes, [offset])


# -- offsets -------------------------------------------------------------------------------------------


def committed_offset(app: faust.App, tp: Any) -> int | None:
    """The offset the group had committed for ``tp`` when it was assigned (or last committed since)."""
    consumer: Any = app.consumer
    committed = consumer._committed_offset.get(tp)
    return committed if isinstance(committed, int) and committed >= 0 else None


async def seek(app: faust.App, tp: Any, offset: int) -> None:
    await app.consumer.seek(tp, offset)


# -- the worker's consumer -----------------------------------------------------------------------------


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"
        return consumer

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        if consumer is not None and consumer._group_instance_id is not None:
            await _leave_group(consumer)
        await super().on_thread_stop()


async def _leave_group(consumer: AIOKafkaConsumer) -> None:
    """Send LeaveGroup for a static member, which aiokafka leaves to the session timeout."""
    coordinator = consumer._coordinator
    if coordinator is None or not coordinator.member_id:  # never joined: nothing to leave
        return
    try:
        await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))
    except KafkaError as exc:
        log.warning("leaving the group failed (%r); its partitions move after the session timeout", exc)
    else:
        log.info("left consumer group %s as %s", coordinator.group_id, consumer._group_instance_id)


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

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        await super().on_partitions_revoked(revoked)  # commits what was processed, then forgets
        app = self.app
        if isinstance(app, StreamerApp):
            app.forget_processed(revoked)


class _Transport(faust_aiokafka.Transport):
    Consumer = _ProcessedOffsetsConsumer


class StreamerApp(faust.App):
    """A Faust app whose consumer reads committed records and commits processed offsets only."""

    guarded_topics: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_faust()
        super().__init__(*args, **kwargs)
        self._processed: dict[Any, int] = {}

    def guard(self, topics: Iterable[str]) -> None:
        """Commit offsets of these topics only up to :meth:`mark_processed`."""
        self.guarded_topics = frozenset(topics)

    def mark_processed(self, tp: Any, next_offset: int) -> None:
        """Every record of ``tp`` before ``next_offset`` has been delivered: it may be committed."""
        if next_offset > self._processed.get(tp, -1):
            self._processed[tp] = next_offset

    def processed_offset(self, tp: Any) -> int | None:
        return self._processed.get(tp)

    def processed_tps(self) -> list[Any]:
        return list(self._processed)

    def forget_processed(self, tps: Iterable[Any]) -> None:
        for tp in tps:
            self._processed.pop(tp, None)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
