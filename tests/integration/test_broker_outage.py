"""A worker started while its broker is down waits for it, with clear log lines and backoff, and then works;
a broker lost for a while under a running worker loses nothing and the worker does not exit.

The broker here is this test's own: it is stopped on purpose.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streamer.admin import create_topics
from streamer.broker import LocalBroker
from streamer.broker.local import free_port
from streamer.feeds.simulate import generate, market_series
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.integration.kafka_io import kill, produce, read_all, start_worker

pytestmark = pytest.mark.integration

PARTITIONS = 2
PREFIX = "outage."


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    node = LocalBroker(tmp_path_factory.mktemp("outage-kafka") / "node-1", port=free_port(), heap_mb=512)
    node.start(timeout_s=180)
    try:
        yield node
    finally:
        node.stop()


def _log_lines_with(path: Path, text: str) -> list[str]:
    return [line for line in path.read_text(errors="replace").splitlines() if text in line]


async def _messages(bootstrap: str, wave: int, count: int) -> int:
    """Send about ``count`` valid prices of 50 nodes, each wave four hours after the last."""
    names = load_settings({"bootstrap": bootstrap, "topic_prefix": PREFIX}).topics
    start_ms = int(time.time() * 1000) - 86_400_000 + wave * 4 * 3_600_000
    generated = [
        m for m, _ in generate(wave, count, 0.0, start_ms, market_series(50, 0)) if m.kind is Kind.PRICES
    ]
    await produce(bootstrap, [(names.raw(m.kind), m.key, m.value, []) for m in generated])
    return len(generated)


async def test_a_worker_waits_for_a_broker_that_is_down_and_survives_losing_it(
    broker: LocalBroker, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": PREFIX, "partitions": PARTITIONS})
    await create_topics(settings)
    await asyncio.to_thread(broker.stop)

    data_dir = tmp_path / "w"
    log_path = tmp_path / "w.log"
    worker = start_worker(bootstrap, PREFIX, data_dir, "--partitions", str(PARTITIONS))
    try:
        deadline = time.monotonic() + 60
        while len(_log_lines_with(log_path, "retrying in")) < 3:
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.5)
        waits = [line.rsplit("retrying in ", 1)[1] for line in _log_lines_with(log_path, "retrying in")]
        assert waits[:3] == ["1 s", "2 s", "4 s"], waits  # backoff, not a retry storm
        assert all(
            f"cannot reach Kafka at {bootstrap}" in line for line in _log_lines_with(log_path, "attempt")
        )

        await asyncio.to_thread(broker.start, 180)
        sent = await _messages(bootstrap, 1, 2_000)
        enriched = [settings.topics.enriched(Kind.PRICES)]
        first = await read_all(bootstrap, enriched, at_least=sent, partitions=PARTITIONS, workers=[worker])
        assert len(first) == sent
        assert _log_lines_with(log_path, "answers after")

        # Lost for a while: stopped for longer than the session timeout, while the worker runs.
        await asyncio.to_thread(broker.stop)
        lines_before = len(log_path.read_text(errors="replace").splitlines())
        await asyncio.sleep(15)
        assert worker.poll() is None, "the worker exited while the broker was down"
        outage_lines = log_path.read_text(errors="replace").splitlines()[lines_before:]
        # The client's retries (every 100 ms) are collapsed: about one line per kind of failure per 10 s.
        assert 0 < len(outage_lines) <= 60, outage_lines[-20:]
        await asyncio.to_thread(broker.start, 180)
        sent += await _messages(bootstrap, 2, 2_000)
        both = await read_all(
            bootstrap, enriched, at_least=sent, partitions=PARTITIONS, workers=[worker], timeout_s=180
        )
        origins = {
            (o["topic"], o["partition"], o["offset"]) for o in (orjson.loads(r.value)["origin"] for r in both)
        }
        assert len(origins) == sent, "an input is missing from enriched"
        assert worker.poll() is None
    finally:
        kill(worker)
