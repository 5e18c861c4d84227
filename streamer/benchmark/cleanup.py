"""A measurement's topics go when it is done: counted, then deleted.

Otherwise the broker goes on compacting a finished measurement's changelogs on the cores the next one is
measured on, and a run against a shared cluster (``--bootstrap``) leaves hundreds of megabytes behind
(a soak alone writes 605k raw messages and 1.5M changelog records).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streamer.admin import admin_client
from streamer.benchmark.watch import unstarted_reader
from streamer.errors import StreamerError
from streamer.settings import Settings
from streamer.topics import Kind

__all__ = ["records_in", "retire_topics"]

log = logging.getLogger(__name__)


async def retire_topics(settings: Settings) -> int | None:
    """Count the records of the topics whose names hold the measurement's ``topic_prefix`` (its own, and
    the frameworks' changelogs, which name its group) outside its raw inputs, then delete them all. The
    prefix names the run (``bench-<run id>.<measurement>.``), so no other topic holds it. A failure is
    logged, not raised: what was measured stands."""
    prefix = settings.topic_prefix
    raw = {settings.topics.raw(kind) for kind in Kind}
    try:
        async with admin_client(settings.bootstrap, settings.kafka_security) as admin:
            mine = sorted(t for t in await admin.list_topics() if prefix in t)
            described = await admin.describe_topics(mine) if mine else []
            tps = [
                TopicPartition(d["topic"], p["partition"])
                for d in described
                if d.get("error_code", 0) == 0 and d["topic"] not in raw
                for p in d["partitions"]
            ]
            written = await records_in(settings, tps)
            if mine:
                await admin.delete_topics(mine, timeout_ms=30000)
    except (StreamerError, KafkaError) as exc:
        log.warning("bench: could not count or delete the topics of %s: %s", prefix, exc)
        return None
    return written


async def records_in(settings: Settings, tps: Sequence[TopicPartition]) -> int:
    """Offsets written to ``tps`` (records, and transaction markers where there are any)."""
    if not tps:
        return 0
    consumer = unstarted_reader(settings)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(tps))
        starts = await consumer.beginning_offsets(list(tps))
    finally:
        await consumer.stop()
    return sum(ends[tp] - starts[tp] for tp in tps)
