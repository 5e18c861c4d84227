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

from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.futures import notify

__all__ = ["StreamerApp"]


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
