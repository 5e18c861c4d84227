"""A worker that computes the bars of closed windows a few at a time (``--bars-per-batch``) publishes the bars
of computing them all at once, including those still to come when its input ends, and then commits all of
its input (the last record of a partition is held back only while that partition's bars are to come)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from streamer.admin import create_topics
from streamer.dlqtool.reader import committed_offsets
from streamer.enrichment import parse_window_specs
from streamer.feeds.simulate import generate, market_series
from streamer.processor import InMessage, Processor
from streamer.settings import load_settings
from streamer.state import MemoryBackend, StateStore
from streamer.topics import Kind
from tests.integration.kafka_io import Sent, kill, produce, read_all, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 2


def _core_bars(sent: list[Sent], settings_prefix: str) -> set[tuple[bytes, bytes]]:
    """The bars of the same records, per partition in offset order, every closed window's in its batch."""
    settings = load_settings({"topic_prefix": settings_prefix})
    backends: dict[int, MemoryBackend] = {}
    processor = Processor(
        topics=settings.topics,
        policy=settings.policy,
        clock_ms=lambda: int(time.time() * 1000),
        store=StateStore(lambda p: backends.setdefault(p, MemoryBackend())),
        window_specs=parse_window_specs(settings.window_specs),
        grace_ms=settings.grace_ms,
    )
    messages = [InMessage(s.topic, s.partition, s.offset, s.key, s.value, [], s.timestamp_ms) for s in sent]
    result = processor.process(sorted(messages, key=lambda m: (m.partition, m.offset)))
    return {(o.key or b"", o.value or b"") for o in result.derived if o.outcome == "bar"}


async def test_bars_spread_over_batches_all_arrive_and_the_input_is_committed(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": PARTITIONS})
    await create_topics(settings)
    series = market_series(80, 0)
    now_ms = int(time.time() * 1000)
    prices = [m for m, _ in generate(5, 80 * 16, 0.0, now_ms, series) if m.kind is Kind.PRICES]
    raw = settings.topics.raw(Kind.PRICES)
    sent = await produce(bootstrap, [(raw, m.key, m.value, ()) for m in prices])
    expected = _core_bars(sent, topic_prefix)
    assert len(expected) > 1000
    # A 5-minute boundary closes about 80 windows per partition: 5 per batch spreads them over many.
    worker = start_worker(
        bootstrap, topic_prefix, tmp_path / "w", "--partitions", str(PARTITIONS), "--bars-per-batch", "5"
    )
    try:
        bars = await read_all(
            bootstrap,
            [settings.topics.bars(Kind.PRICES)],
            at_least=len(expected),
            partitions=PARTITIONS,
            workers=[worker],
        )
        assert {(r.key, r.value) for r in bars} == expected
        ends = {p: max(s.offset for s in sent if s.partition == p) + 1 for p in range(PARTITIONS)}
        deadline = time.monotonic() + 30
        while (done := await committed_offsets(bootstrap, f"{topic_prefix}app", raw, tuple(ends))) != ends:
            assert time.monotonic() < deadline, f"committed {done}, input ends at {ends}"
            await asyncio.sleep(0.5)
    finally:
        kill(worker)
