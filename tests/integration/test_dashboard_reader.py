"""The dashboard's reader on the real broker: it starts each partition at its lookback, then follows live,
and finds output topics created after it started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest

from streamer.admin import create_topics
from streamer.settings import load_settings
from streamer.topics import Kind
from streamer.web.dashboard import Dashboard, DashboardOptions
from streamer.web.lookback import Lookback
from tests.integration.kafka_io import produce

pytestmark = pytest.mark.integration


def enriched(hour: int, lmp: float) -> bytes:
    return orjson.dumps(
        {
            "key": "PJM:WESTERN HUB", "market": "PJM", "node": "WESTERN HUB", "lmp": lmp,
            "interval_start": f"2024-07-01T{hour:02d}:00:00-04:00", "interval_minutes": 60,
            "late": False, "anomalies": [], "anomaly_score": 0.0, "origin": None,
        }
    )  # fmt: skip


async def until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_reads_the_lookback_then_follows_and_finds_new_topics(
    bootstrap: str, topic_prefix: str
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": 2})
    options = DashboardOptions(port=0, lookback=Lookback(records=3))
    async with Dashboard(bootstrap, settings.topics, options) as dashboard:
        dashboard.reader.discover_every_s = 0.5
        assert dashboard.status()["partitions"] == 0  # no output topic exists yet
        await create_topics(settings)
        topic = settings.topics.enriched(Kind.PRICES)
        await until(lambda: topic in dashboard.status()["topics"])
        await produce(bootstrap, [(topic, b"PJM:WESTERN HUB", enriched(h, float(h)), []) for h in range(3)])
        await until(lambda: dashboard.view.records["enriched"] == 3)
        record = dashboard.view.latest(Kind.PRICES, "PJM:WESTERN HUB")
        assert record is not None and record.value == 2.0

    # A new dashboard reads only the last 3 records of each partition, then what arrives after it started.
    await produce(bootstrap, [(topic, b"PJM:WESTERN HUB", enriched(h, float(h)), []) for h in range(3, 10)])
    async with Dashboard(bootstrap, settings.topics, options) as dashboard:
        await until(lambda: dashboard.status()["live"])
        assert dashboard.view.records["enriched"] == 3
        assert dashboard.view.latest(Kind.PRICES, "PJM:WESTERN HUB").value == 9.0  # type: ignore[union-attr]
        await produce(bootstrap, [(topic, b"PJM:WESTERN HUB", enriched(10, 10.0), [])])
        await until(lambda: dashboard.view.records["enriched"] == 4)
        assert dashboard.view.latest(Kind.PRICES, "PJM:WESTERN HUB").value == 10.0  # type: ignore[union-attr]
        assert dashboard.failed() is None
