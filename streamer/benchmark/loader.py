"""Getting the workload into the raw topics: a backlog as fast as the broker takes it, or a paced feed.

Both go through :class:`streamer.sender.BatchSender` (whole record batches per partition, acks=all, Kafka's
default partitioner), so a series lands on the same partition as with any other producer.

The paced feed is the latency phase's input: every tick it sends the messages that are due, each stamped
with the wall-clock time of sending, both as its Kafka timestamp and in the ``bench.sent_ms`` header. Every
variant copies the input headers onto its outputs, so an output names the moment its input was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from streamer.feeds.base import RawMessage
from streamer.kafka_security import aiokafka_options
from streamer.sender import BatchSender
from streamer.settings import Settings

__all__ = ["SENT_HEADER", "OutRecord", "feed_paced", "load_backlog"]

SENT_HEADER = "bench.sent_ms"
_CHUNK = 50_000  # records handed to the sender at once
_TICK_S = 0.005
_IN_FLIGHT = 64  # paced sends not yet acknowledged


@dataclass(slots=True)
class OutRecord:
    """A record for :class:`BatchSender`; ``partition`` None: by key."""

    topic: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    headers: Sequence[tuple[str, bytes]] = ()
    source_partition: int = 0
    partition: int | None = None


@dataclass(slots=True)
class _Sends:
    sent: int = 0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def in_flight(self) -> list[asyncio.Task[Any]]:
        return [task for task in self.tasks if not task.done()]


def _sender(settings: Settings) -> BatchSender:
    options = {"bootstrap_servers": settings.bootstrap, **aiokafka_options(settings.kafka_security)}
    return BatchSender(options)


async def load_backlog(settings: Settings, messages: Iterable[RawMessage]) -> tuple[int, float]:
    """Send every message to its raw topic (``settings.topics``); return (count, seconds) once all are
    acknowledged."""
    topics = settings.topics
    sender = _sender(settings)
    started = time.monotonic()
    count = 0
    iterator = iter(messages)
    try:
        while chunk := list(islice(iterator, _CHUNK)):
            await sender.send_all(
                [OutRecord(topics.raw(m.kind), m.key, m.value, m.timestamp_ms) for m in chunk]
            )
            count += len(chunk)
    finally:
        await sender.stop()
    return count, time.monotonic() - started


async def feed_paced(settings: Settings, messages: Sequence[RawMessage], rate_per_s: float) -> float:
    """Send ``messages`` at ``rate_per_s``, each stamped with its send time; returns the seconds it took
    until every one was acknowledged."""
    if rate_per_s <= 0:
        raise ValueError("rate must be positive")
    topics = settings.topics
    sender = _sender(settings)
    await sender.warm(sorted({topics.raw(m.kind) for m in messages}))
    sends = _Sends()
    started = time.monotonic()
    try:
        while sends.sent < len(messages):
            due = min(len(messages), int((time.monotonic() - started) * rate_per_s) + 1)
            if due > sends.sent:
                now_ms = int(time.time() * 1000)
                stamp = [(SENT_HEADER, str(now_ms).encode())]
                records = [
                    OutRecord(topics.raw(m.kind), m.key, m.value, now_ms, stamp)
                    for m in messages[sends.sent : due]
                ]
                sends.sent = due
                sends.tasks.append(asyncio.create_task(sender.send_all(records)))
                while len(in_flight := sends.in_flight()) >= _IN_FLIGHT:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.sleep(_TICK_S)
        await asyncio.gather(*sends.tasks)
    finally:
        await sender.stop()
    return time.monotonic() - started
