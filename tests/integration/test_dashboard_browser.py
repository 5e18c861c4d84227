"""The dashboard in a real browser: real AEMO SA1 January 2009 data through the real broker and a real
worker process, a real ``streamer dashboard`` process, and the page in headless Chromium.

The page must show the heatwave's price spike on the SA1 chart (bar highs at the ~10,000 AUD cap), mark
anomalies on it, switch windows when asked, and show a record produced after it loaded without a reload.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamer.admin import create_topics
from streamer.feeds import read_path
from streamer.feeds.produce import produce
from streamer.settings import load_settings
from streamer.topics import Kind
from tests.chromium import Chromium
from tests.integration.kafka_io import REPO, kill, start_worker
from tests.integration.kafka_io import produce as produce_records

pytestmark = pytest.mark.integration

SA1_JANUARY = REPO / "data" / "aemo_sa1" / "DATA200901_SA1.csv"
CAP_LEVEL = 9_000.0  # the January 2009 heatwave reached the 10,000 AUD/MWh cap (9,999.92)
PAGE_TIMEOUT_S = 240.0


def start_dashboard(bootstrap: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    """``streamer dashboard`` on a free port; the first line it prints is the page's URL."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer.cli",
            "dashboard",
            "--bootstrap",
            bootstrap,
            "--topic-prefix",
            prefix,
            "--web-port",
            "0",
            "--lookback",
            "100000",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        start_new_session=True,
    )


async def read_url(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
    url = line.decode().strip()
    assert url.startswith("http://127.0.0.1:"), f"first line {line!r}, exit code {proc.poll()}"
    return url


def live_price(node: str, lmp: float) -> bytes:
    return orjson.dumps(
        {
            "market": "AEMO",
            "node": node,
            "interval_start": "2009-02-01T00:00:00+10:00",
            "interval_minutes": 30,
            "lmp": lmp,
            "currency": "AUD",
            "version": 1,
            "source": "browser-test",
        }
    )


JS_MAX_HIGH = "Math.max(-Infinity, ...streamerDashboard.candles.data().map((b) => b.high))"


async def test_dashboard_shows_the_sa1_spike_and_live_updates_in_chromium(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": 2})
    await create_topics(settings)
    dashboard = start_dashboard(bootstrap, topic_prefix, tmp_path / "dashboard.log")
    worker = start_worker(bootstrap, topic_prefix, tmp_path / "worker", "--partitions", "2")
    try:
        url = await read_url(dashboard)
        sent = await produce(read_path(SA1_JANUARY, "aemo"), bootstrap, settings.topics)
        assert sum(sent.sent.values()) > 2_900  # 1,488 half-hours, price and demand each

        async with Chromium(tmp_path / "chromium-profile") as browser:
            page = await browser.open(f"{url}#kind=prices&key=AEMO%3ASA1&window=5m&range=all")
            await page.evaluate("window.__loadedOnce = true")

            # The spike: 5-minute candles of SA1 reach the cap level.
            high = await page.wait_for(
                f"{JS_MAX_HIGH} >= {CAP_LEVEL} && {JS_MAX_HIGH}",
                PAGE_TIMEOUT_S,
                "the SA1 5-minute chart to reach the cap level",
            )
            assert CAP_LEVEL <= high <= 10_000.0
            # Anomaly markers on the chart, and SA1 anomalies in the feed.
            markers = await page.wait_for(
                "streamerDashboard.markers.markers().length", PAGE_TIMEOUT_S, "anomaly markers on the chart"
            )
            assert markers > 0
            feed_items = await page.evaluate(
                "[...document.querySelectorAll('#anomaly-feed li')].map((li) => li.dataset.key)"
            )
            assert feed_items and set(feed_items) == {"AEMO:SA1"}

            # Interactive: the window selector switches the chart to hourly bars.
            await page.evaluate(
                "(() => { const s = document.getElementById('window'); s.value = '1h';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            hourly = await page.wait_for(
                "streamerDashboard.state.window === '1h' && streamerDashboard.plotted().length > 0 &&"
                " streamerDashboard.plotted().every((b) => b.end_ms - b.start_ms === 3600000) &&"
                f" {JS_MAX_HIGH}",
                60,
                "hourly bars after choosing the 1h window",
            )
            assert hourly >= CAP_LEVEL

            # A record produced now reaches the open page through the event stream, without a reload.
            await page.evaluate(
                "(() => { const f = document.getElementById('filter'); f.value = 'LIVE1';"
                " f.dispatchEvent(new Event('input')); })()"
            )
            assert await page.evaluate("document.querySelectorAll('#grid-rows .grid-row').length") == 0
            await produce_records(
                bootstrap,
                [(settings.topics.raw(Kind.PRICES), b"AEMO:LIVE1", live_price("LIVE1", 4321.0), [])],
            )
            row = await page.wait_for(
                "document.querySelector('#grid-rows [data-key=\"AEMO:LIVE1\"]')?.textContent",
                PAGE_TIMEOUT_S,
                "the new record's row in the latest-price table",
            )
            assert "4,321.00" in row and "2009-02-01 00:00:00+10:00" in row
            assert await page.evaluate("window.__loadedOnce === true")  # the same document: no reload

            shot = await page.screenshot(tmp_path / "dashboard.png")
            print(f"dashboard screenshot: {shot}")
            assert shot.stat().st_size > 10_000
            assert page.errors == []
            await page.close()
    finally:
        kill(worker)
        if dashboard.poll() is None:
            os.killpg(dashboard.pid, signal.SIGTERM)
    assert dashboard.wait(timeout=60) == 0, (tmp_path / "dashboard.log").read_text()


def enriched_price(node: int) -> bytes:
    return orjson.dumps(
        {
            "key": f"GRID:N{node:05d}",
            "market": "GRID",
            "node": f"N{node:05d}",
            "interval_start": "2024-07-01T14:05:00-04:00",
            "interval_minutes": 5,
            "lmp": float(node % 997) + 0.25,
            "late": False,
            "anomalies": [],
            "anomaly_score": 0.0,
            "origin": {"topic": "raw.prices", "partition": 0, "offset": node},
        }
    )


async def test_latest_table_sorts_filters_and_renders_only_visible_rows_of_thousands(
    bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    nodes = 5_000
    settings = load_settings({"bootstrap": bootstrap, "topic_prefix": topic_prefix, "partitions": 2})
    await create_topics(settings)
    topic = settings.topics.enriched(Kind.PRICES)
    await produce_records(
        bootstrap, [(topic, f"GRID:N{n:05d}".encode(), enriched_price(n), []) for n in range(nodes)]
    )
    dashboard = start_dashboard(bootstrap, topic_prefix, tmp_path / "dashboard.log")
    try:
        url = await read_url(dashboard)
        async with Chromium(tmp_path / "chromium-profile") as browser:
            page = await browser.open(url)
            await page.wait_for(
                f"document.getElementById('row-count').textContent === '{nodes:,} series'",
                PAGE_TIMEOUT_S,
                "every node in the table",
            )
            rendered = await page.evaluate("document.querySelectorAll('#grid-rows .grid-row').length")
            assert 0 < rendered < 100  # only the rows in view are in the document
            first = await page.evaluate("document.querySelector('#grid-rows .grid-row').dataset.key")
            assert first == "GRID:N00000"

            # Sort by value, highest first (two clicks on the header), and scroll to the end.
            await page.evaluate("document.querySelector('#grid-head [data-sort=value]').click()")
            await page.evaluate("document.querySelector('#grid-head [data-sort=value]').click()")
            top = await page.evaluate("document.querySelector('#grid-rows .grid-row').dataset.key")
            assert float(orjson.loads(enriched_price(int(top[-5:])))["lmp"]) == 996.25
            await page.evaluate(
                "(() => { const g = document.getElementById('grid'); g.scrollTop = g.scrollHeight; })()"
            )
            bottom = await page.wait_for(
                "[...document.querySelectorAll('#grid-rows .grid-row')].slice(-1)"
                ".map((r) => r.children[3].textContent)[0] === '0.25' &&"
                " document.querySelectorAll('#grid-rows .grid-row').length",
                30,
                "the lowest value in the last row after scrolling to the end",
            )
            assert 0 < bottom < 100

            # Filter by key.
            await page.evaluate(
                "(() => { const f = document.getElementById('filter'); f.value = 'N0499';"
                " f.dispatchEvent(new Event('input')); })()"
            )
            keys = await page.evaluate(
                "[...document.querySelectorAll('#grid-rows .grid-row')].map((r) => r.dataset.key)"
            )
            assert sorted(keys) == [f"GRID:N0499{d}" for d in range(10)]
            assert page.errors == []
            await page.close()
    finally:
        if dashboard.poll() is None:
            os.killpg(dashboard.pid, signal.SIGTERM)
    assert dashboard.wait(timeout=60) == 0
