"""The Kafka edge of the feeds: send raw messages to their raw topics, batched, optionally rate-limited."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamer.errors import BrokerError, TopicMissingError
from streamer.feeds.base import RawMessage
from streamer.feeds.rate import TokenBucket
from streamer.kafka_security import PLAINTEXT, KafkaSecurity, aiokafka_options, connection_failure
from streamer.topics import TopicNames

__all__ = ["ProduceSummary", "produce"]

logger = logging.getLogger(__name__)

_CHUNK = 2_000  # delivery futures awaited together
_MIN_SLEEP_S = 0.005  # below this, keep sending and let the bucket's debt add up
_MAX_BATCH_BYTES = 256 * 1024
_TOPIC_CHECKS = 5  # a topic created a moment ago may take a little while to appear in broker metadata
_TOPIC_CHECK_PAUSE_S = 0.4
_PROGRESS_EVERY_S = 0.5  # a slow, rate-limited feed still reports progress this often


@dataclass(slots=True)
class ProduceSummary:
    sent: Counter[str] = field(default_factory=Counter)  # per topic
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def as_dict(self) -> dict[str, Any]:
        rate = self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "sent": dict(sorted(self.sent.items())),
            "total": self.total,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_msg_s": round(rate, 1),
        }


def kafka_timestamp(event_ms: int | None) -> int | None:
    """The record's event time, but not later than now.

    Day-ahead prices are valid up to two days ahead, and Kafka 4 brokers refuse a record stamped more than
    ``log.message.timestamp.after.max.ms`` (1 h by default) ahead of their clock, which would fail the feed.
    """
    if event_ms is None:
        return None
    return min(event_ms, int(time.time() * 1000))


async def produce(
    messages: Iterable[RawMessage],
    bootstrap: str,
    topics: TopicNames,
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    security: KafkaSecurity = PLAINTEXT,
) -> ProduceSummary:
    """Send every message to ``topics.raw(kind)`` with its key and event-time timestamp; wait for all acks.

    A raw topic that does not exist is a :class:`TopicMissingError` (create it with ``streamer topics
    create``), not a silent auto-create with the broker's default partition count, nor a metadata timeout.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=10,
        acks="all",
        enable_idempotence=True,
        max_batch_size=_MAX_BATCH_BYTES,
        **aiokafka_options(security),
    )
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise await connection_failure(bootstrap, security, exc) from None
    loop = asyncio.get_running_loop()
    started_s = loop.time()
    bucket = TokenBucket(rate, started_s) if rate else None
    summary = ProduceSummary()
    pending: list[asyncio.Future[Any]] = []
    settled_s = started_s
    known_topics: set[str] = set()
    try:
        for message in messages:
            if bucket is not None:
                delay_s = bucket.take(loop.time())
                if delay_s >= _MIN_SLEEP_S:
                    await asyncio.sleep(delay_s)
            topic = topics.raw(message.kind)
            if topic not in known_topics:
                await _require_topic(producer, topic, known_topics)
            pending.append(
                await producer.send(
                    topic, message.value, key=message.key, timestamp_ms=kafka_timestamp(message.timestamp_ms)
                )
            )
            summary.sent[topic] += 1
            if len(pending) >= _CHUNK or loop.time() - settled_s >= _PROGRESS_EVERY_S:
                await _settle(pending, summary, progress)
                settled_s = loop.time()
        await producer.flush()
        await _settle(pending, summary, progress)
    except KafkaError as exc:
        raise BrokerError(f"sending to Kafka at {bootstrap} failed: {exc!r}") from exc
    finally:
        await producer.stop()
    summary.elapsed_s = loop.time() - started_s
    logger.info("sent %d messages in %.2fs", summary.total, summary.elapsed_s)
    return summary


async def _settle(
    pending: list[asyncio.Future[Any]], summary: ProduceSummary, progress: Callable[[int], None] | None
) -> None:
    await asyncio.gather(*pending)
    pending.clear()
    if progress is not None:
        progress(summary.total)


async def _require_topic(producer: AIOKafkaProducer, topic: str, known: set[str]) -> None:
    for attempt in range(_TOPIC_CHECKS):
        if attempt:
            await asyncio.sleep(_TOPIC_CHECK_PAUSE_S)
        metadata = await producer.client.fetch_all_metadata()
        known.update(metadata.topics())
        if topic in known:
            return
    raise TopicMissingError(topic)
