"""The worker reads only committed records: an aborted transaction (a `dlq replay` killed mid-chunk)
never reaches enriched."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamer.admin import create_topics
from streamer.feeds.simulate import generate
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.integration.kafka_io import kill, read_all, start_worker

pytestmark = pytest.mark.integration


async def test_records_of_an_aborted_transaction_are_not_processed(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": 2})
    await create_topics(settings)
    prices = [m for m, _ in generate(5, 200, 0.0, int(time.time() * 1000)) if m.kind is Kind.PRICES][:10]
    aborted, committed = prices[:5], prices[5:]
    raw = settings.topics.raw(Kind.PRICES)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic_prefix}tx")
    await producer.start()
    try:
        await producer.begin_transaction()
        for m in aborted:
            await producer.send_and_wait(raw, m.value, key=m.key)
        await producer.abort_transaction()
        await producer.begin_transaction()
        for m in committed:
            await producer.send_and_wait(raw, m.value, key=m.key)
        await producer.commit_transaction()
    finally:
        await producer.stop()
    worker = start_worker(bootstrap, topic_prefix, tmp_path / "w", "--partitions", "2")
    enriched_topics = [settings.topics.enriched(Kind.PRICES), settings.topics.dlq]
    try:
        await read_all(bootstrap, enriched_topics, at_least=len(committed), partitions=2, workers=[worker])
        await asyncio.sleep(3)  # time for the aborted records to show up, were they processed
        outputs = await read_all(bootstrap, enriched_topics, at_least=len(committed), partitions=2)
    finally:
        kill(worker)
    assert all(r.topic == settings.topics.enriched(Kind.PRICES) for r in outputs), "nothing is dead-lettered"
    published = sorted(orjson.loads(r.value)["interval_start"] + r.key.decode() for r in outputs)
    expected = sorted(orjson.loads(m.value or b"")["interval_start"] + m.key.decode() for m in committed)
    assert published == expected
