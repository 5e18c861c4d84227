"""The Faust consumer the worker runs on: two corrections to faust-streaming 0.15.3's defaults.

1. **read_committed.** ``streamer dlq replay`` re-publishes in Kafka transactions; a replay killed
   mid-chunk leaves aborted records in the raw topics, which must never reach ``enriched``. Faust
   reads read_committed only in its exactly_once mode (open upstream duplicate/fencing bugs), so the
   worker's aiokafka consumer is switched here; aiokafka hands the level to its fetcher on start.
2. **Commit only what was processed.** While a rebalance is under way Faust suspends flow control,
   and every message its stream pulls meanwhile is *skipped and acked* (``Stream._py_aiter``: "ack
   the filtered out message, otherwise the lag would increase"). The commit at the end of the
   revocation then moves past messages nobody processed: after a SIGKILL and restart (whose second
   rebalance comes when the dead member's session expires) whole runs of offsets were lost. Here a
   raw-topic message counts as acked for commits only once the pipeline has delivered its outputs
   (:meth:`StreamerApp.mark_processed`); a skipped one is released without being committed, so it is
   fetched again from the committed offset.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.futures import notify

__all__ = ["OffsetGapGuard", "StreamerApp"]

log = logging.getLogger(__name__)


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"
        return consumer


class _ProcessedOnlyConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        app = self.app
        skipped = (
            isinstance(app, StreamerApp)
            and message.topic in app.guarded_topics
            and not app.take_processed(message.topic, message.partition, message.offset)
        )
        if skipped:
            # Skipped by Faust, not processed by us: release it, never commit it.
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            return False
        return bool(super().ack(message))


class _StreamerTransport(faust_aiokafka.Transport):
    Consumer = _ProcessedOnlyConsumer


class StreamerApp(faust.App):
    """A Faust app whose consumer reads committed records and commits processed offsets only."""

    guarded_topics: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: set[tuple[str, int, int]] = set()

    def guard(self, topics: frozenset[str]) -> None:
        """Commit offsets of these topics only after :meth:`mark_processed`."""
        self.guarded_topics = topics

    def mark_processed(self, topic: str, partition: int, offset: int) -> None:
        self._processed.add((topic, partition, offset))

    def take_processed(self, topic: str, partition: int, offset: int) -> bool:
        key = (topic, partition, offset)
        if key in self._processed:
            self._processed.discard(key)
            return True
        return False

    def _new_transport(self) -> Any:
        return _StreamerTransport(self.conf.broker_consumer, self)


class OffsetGapGuard:
    """Hands the pipeline each raw partition's records in offset order, without holes.

    Faust's fetch loop records the offset of every message it passes on, also of the ones its stream
    then skips during a rebalance (old generation, flow stopped). After the recovery seek back to the
    committed offset, the re-fetched copies are below that read offset and are dropped ("DROPPED
    MESSAGE ROFF"): the skipped run would never be processed by this worker. The guard notices the
    hole (a record beyond the next expected offset), holds that partition's records back and seeks to
    the expected offset, so the run is fetched again. A hole that comes back after the seek with the
    same first offset after the seek is a real one (a transaction marker under read_committed) and
    is accepted.
    """

    RESEEK_AFTER_S = 2.0

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._next: dict[Any, int] = {}
        # tp -> (expected offset, first offset after the hole, times that first offset was seen)
        self._waiting: dict[Any, tuple[int, int, int]] = {}
        self._sought_at: dict[Any, float] = {}

    async def _seek(self, tp: Any, offset: int) -> None:
        self._sought_at[tp] = time.monotonic()
        await self._app.consumer.seek(tp, offset)

    async def reseek_stuck(self) -> None:
        """Seek again for partitions still waiting: records of a fetch that was under way during the
        seek can move Faust's read offset past the re-fetched run once more."""
        now = time.monotonic()
        for tp, (expected, _first_after, _seen) in list(self._waiting.items()):
            if now - self._sought_at.get(tp, 0.0) >= self.RESEEK_AFTER_S:
                log.warning("%s: still waiting for offset %d; seeking again", tp, expected)
                await self._seek(tp, expected)

    def reset(self) -> None:
        """After a (re)assignment the committed offsets are the reference again."""
        self._next.clear()
        self._waiting.clear()
        self._sought_at.clear()

    def _expected(self, tp: Any) -> int | None:
        expected: int | None = self._next.get(tp)
        if expected is None:
            committed = getattr(self._app.consumer, "_committed_offset", {}).get(tp)
            expected = committed if isinstance(committed, int) and committed >= 0 else None
        return expected

    async def admit(self, events: list[Any]) -> list[Any]:
        admitted: list[Any] = []
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            waiting = self._waiting.get(tp)
            if waiting is not None:
                expected, first_after, seen = waiting
                if offset == first_after and seen >= 1:
                    # Fetched again from the expected offset, the first record is the same one: the
                    # hole is real (offsets of transaction markers are never delivered).
                    log.info("%s: offsets %d..%d hold no records; going on", tp, expected, first_after - 1)
                    del self._waiting[tp]
                    self._next[tp] = first_after
                elif offset != expected:
                    continue  # a stale record from before the seek: it will come again
                else:
                    del self._waiting[tp]
            want = self._expected(tp)
            if want is not None and offset > want:
                log.warning(
                    "%s: got offset %d, expected %d; seeking back to re-read the hole", tp, offset, want
                )
                self._waiting[tp] = (want, offset, 1)
                await self._seek(tp, want)
                continue
            admitted.append(event)
            self._next[tp] = max(offset + 1, self._next.get(tp, 0))
        return admitted
