"""Per-series state survives a restart on every partition, not only the partition of the event that
happens to be current when a key is first read."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from streamer.admin import create_topics
from streamer.dlq import read_dead_letter
from streamer.feeds.simulate import generate
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.integration.kafka_io import kill, produce, read_all, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 4


async def test_repeats_after_a_restart_are_recognised_on_every_partition(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": PARTITIONS})
    await create_topics(settings)
    names = settings.topics
    messages = [m for m, _ in generate(3, 1200, 0.0, int(time.time() * 1000))]
    records = [(names.raw(m.kind), m.key, m.value, []) for m in messages]
    first_sent = await produce(bootstrap, records)
    assert len({(s.topic, s.partition) for s in first_sent}) > PARTITIONS  # series spread over partitions
    outputs = [names.enriched(k) for k in Kind] + [names.dlq]
    data_dir = tmp_path / "w"
    worker = start_worker(bootstrap, topic_prefix, data_dir, "--partitions", str(PARTITIONS))
    try:
        await read_all(bootstrap, outputs, at_least=len(records), workers=[worker])
        await asyncio.sleep(3)  # the last batch's state is written after its outputs
    finally:
        kill(worker)
    # The source sends the same messages again; a restarted worker must know them all.
    repeats = await produce(bootstrap, records)
    worker = start_worker(bootstrap, topic_prefix, data_dir, "--partitions", str(PARTITIONS))
    try:
        everything = await read_all(
            bootstrap, outputs, at_least=2 * len(records), workers=[worker], timeout_s=180
        )
    finally:
        kill(worker)
    repeat_origins = {(s.topic, s.partition, s.offset) for s in repeats}
    verdicts: Counter[str] = Counter()
    for record in everything:
        if record.topic == names.dlq:
            letter = read_dead_letter(record.headers)
            assert letter.origin is not None
            if (letter.origin.topic, letter.origin.partition, letter.origin.offset) in repeat_origins:
                verdicts[letter.reason] += 1
        else:
            import orjson

            origin = orjson.loads(record.value)["origin"]
            if (origin["topic"], origin["partition"], origin["offset"]) in repeat_origins:
                verdicts["enriched"] += 1
    assert verdicts == {"duplicate": len(records)}, verdicts
