"""The worker divides its fetch budget over the raw partitions it is assigned, and still reads them all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamer.admin import create_topics
from streamer.feeds.simulate import generate
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.integration.kafka_io import kill, produce, read_all, start_worker

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


async def test_a_worker_fetches_its_budget_divided_over_its_raw_partitions(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": 2})
    await create_topics(settings)
    prices = [m for m, _ in generate(50, 200, 0.0, int(time.time() * 1000)) if m.kind is Kind.PRICES]
    raw = settings.topics.raw(Kind.PRICES)
    await produce(bootstrap, [(raw, m.key, m.value, ()) for m in prices])
    worker = start_worker(
        bootstrap,
        topic_prefix,
        tmp_path / "w",
        "--partitions",
        "2",
        "--fetch-buffer-bytes",
        str(12 * MIB),
        "--loglevel",
        "info",
    )
    enriched = settings.topics.enriched(Kind.PRICES)
    try:
        outputs = await read_all(bootstrap, [enriched], at_least=len(prices), partitions=2, workers=[worker])
    finally:
        kill(worker)
    assert len({(r.key, r.value) for r in outputs}) == len(prices)
    log = (tmp_path / "w.log").read_text(errors="replace")
    # 3 raw topics x 2 partitions share 12 MiB
    assert f"fetching up to {2 * MIB} bytes per input partition (6 assigned)" in log, log[-3000:]
